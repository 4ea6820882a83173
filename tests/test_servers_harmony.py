"""harmony-reference server: real HTTP against a real in-process (and one subprocess) server."""

from __future__ import annotations

import httpx
import pytest

from harness.servers.launch import start

DATE = "2025-06-01"
POLICY = "Label spam. Answer {\"violation\": 1} for spam, else {\"violation\": 0}."
BODY = {"messages": [{"role": "system", "content": POLICY},
                     {"role": "user", "content": "FREE $$$ click https://x.co/win"}],
        "reasoning_effort": "low", "return_token_ids": True, "max_tokens": 8}
SCRIPTED = ("<|channel|>analysis<|message|>It advertises free money.<|end|>"
            "<|start|>assistant<|channel|>final<|message|>{\"violation\": 1}<|return|>")
TOOL_CALL = ("<|channel|>analysis<|message|>Need the weather.<|end|>"
             "<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json"
             "<|message|>{\"city\": \"Paris\"}<|call|>")
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                                           "parameters": {"type": "object",
                                                          "properties": {"city": {"type": "string"}}}}}]


@pytest.fixture(scope="module")
def model_server(assets):
    with start("harmony-reference", date=DATE) as server:
        yield server


@pytest.fixture(scope="module")
def scripted_server(assets):
    with start("harmony-reference", date=DATE, completion=SCRIPTED) as server:
        yield server


def _hand_built_prompt(encoding, date: str) -> list[int]:
    """vLLM's mapping for system+user, written out with openai-harmony directly (independent of the renderer)."""
    from openai_harmony import Conversation, DeveloperContent, Message, ReasoningEffort, Role, SystemContent

    system = SystemContent.new().with_conversation_start_date(date).with_reasoning_effort(ReasoningEffort.LOW)
    conversation = Conversation.from_messages([
        Message.from_role_and_content(Role.SYSTEM, system),
        Message.from_role_and_content(Role.DEVELOPER, DeveloperContent.new().with_instructions(POLICY)),
        Message.from_role_and_content(Role.USER, BODY["messages"][1]["content"]),
    ])
    return list(encoding.render_conversation_for_completion(conversation, Role.ASSISTANT))


@pytest.mark.slow
def test_chat_returns_prompt_ids_of_the_vllm_render_and_parsable_output(model_server, assets, encoding):
    from openai import OpenAI

    from harness.render import get_renderer
    from harness.render.parser import parse_tokens
    from harness.request import ChatRequest
    from harness.servers._http import secret_fingerprint

    client = OpenAI(base_url=model_server.base_url, api_key="sk-test-secret", max_retries=0)
    response = client.chat.completions.create(model="tiny-gpt-oss", messages=BODY["messages"],
                                              reasoning_effort="low", max_tokens=8,
                                              extra_body={"return_token_ids": True})
    extra = response.model_extra
    expected = get_renderer("vllm", assets).render(ChatRequest.from_body(BODY), date=DATE)
    assert extra["prompt_token_ids"] == expected == _hand_built_prompt(encoding, DATE)
    choice = response.choices[0]
    token_ids = choice.model_extra["token_ids"]
    assert 1 <= len(token_ids) <= 8
    assert response.usage.completion_tokens == len(token_ids)
    assert response.usage.prompt_tokens == len(expected)
    assert choice.finish_reason in ("stop", "length")
    assert choice.finish_reason == ("stop" if token_ids[-1] in (200002, 200012, 199999) else "length")
    parse_tokens(token_ids, completion=True)  # random weights: any ids, the parser must take them
    # Greedy by default: the same request gives the same completion.
    again = httpx.post(f"{model_server.base_url}/chat/completions", json=BODY, timeout=120).json()
    assert again["choices"][0]["token_ids"] == token_ids
    seen = model_server.requests_seen()
    assert [r["path"] for r in seen] == ["/v1/chat/completions"] * 2
    assert seen[0]["body"]["reasoning_effort"] == "low"
    assert seen[0]["headers"]["authorization"] == "Bearer " + secret_fingerprint("sk-test-secret")
    assert "sk-test-secret" not in repr(seen)


def test_reasoning_content_split_and_render_endpoint(scripted_server, encoding):
    url = scripted_server.base_url
    body = httpx.post(f"{url}/chat/completions", json={**BODY, "max_tokens": 64}, timeout=30).json()
    choice = body["choices"][0]
    assert choice["message"]["reasoning"] == "It advertises free money."
    assert choice["message"]["content"] == '{"violation": 1}'
    assert choice["finish_reason"] == "stop"
    assert choice["token_ids"] == list(encoding.encode(SCRIPTED, allowed_special="all"))
    rendered = httpx.post(f"{url}/chat/completions/render", json=BODY, timeout=30).json()
    assert rendered == {"token_ids": body["prompt_token_ids"]}
    # Without return_token_ids the id fields stay null, as in vLLM.
    plain = httpx.post(f"{url}/chat/completions", json={**BODY, "return_token_ids": False}, timeout=30).json()
    assert plain["prompt_token_ids"] is None and plain["choices"][0]["token_ids"] is None


def test_length_finish_truncates_to_max_tokens(scripted_server):
    body = httpx.post(f"{scripted_server.base_url}/chat/completions", json={**BODY, "max_tokens": 3}).json()
    assert body["choices"][0]["finish_reason"] == "length"
    assert len(body["choices"][0]["token_ids"]) == 3 == body["usage"]["completion_tokens"]


def test_tool_call_becomes_tool_calls(assets):
    with start("harmony-reference", date=DATE, completion=TOOL_CALL) as server:
        request = {"messages": [{"role": "user", "content": "Weather in Paris?"}], "tools": TOOLS}
        body = httpx.post(f"{server.base_url}/chat/completions", json=request, timeout=30).json()
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    (call,) = choice["message"]["tool_calls"]
    assert call["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    assert call["type"] == "function" and call["id"]
    assert choice["message"]["reasoning"] == "Need the weather."
    assert choice["message"]["content"] is None


def test_date_comes_from_vllm_system_start_date(assets, monkeypatch, encoding):
    monkeypatch.setenv("VLLM_SYSTEM_START_DATE", "2031-02-03")
    with start("harmony-reference", completion=SCRIPTED) as server:
        ids = httpx.post(f"{server.base_url}/chat/completions/render", json=BODY).json()["token_ids"]
    assert "Current date: 2031-02-03" in encoding.decode(ids)


@pytest.mark.parametrize("raw, status, fragment", [
    (b"{not json", 400, "not valid JSON"),
    (b'{"messages": []}', 400, "no messages"),
    (b'{"messages": [{"role": "robot", "content": "x"}]}', 400, "unknown role"),
    (b'{"messages": [{"role": "user", "content": "x"}], "reasoning_effort": "max"}', 400, "reasoning_effort"),
    (b'{"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}', 400, "max_tokens"),
    (b'{"messages": [{"role": "user", "content": "x"}], "stream": true}', 400, "streaming"),
    (b'{"messages": [{"role": "user", "content": "x"}], "model": "gpt-4o"}', 404, "does not exist"),
])
def test_bad_requests_get_openai_style_errors(scripted_server, raw, status, fragment):
    for path in ("/chat/completions", "/chat/completions/render"):
        if path.endswith("render") and fragment in ("max_tokens", "streaming"):
            continue  # render does not look at sampling fields
        response = httpx.post(scripted_server.base_url + path, content=raw,
                              headers={"content-type": "application/json"})
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert fragment in error["message"]
        assert error["code"] == status and error["type"]


def test_models_endpoint_lists_the_served_model(scripted_server):
    data = httpx.get(f"{scripted_server.base_url}/models").json()["data"]
    assert [m["id"] for m in data] == ["tiny-gpt-oss"]


@pytest.mark.slow
def test_subprocess_server_records_requests_over_http(assets):
    with start("harmony-reference", subprocess=True, date=DATE, completion=SCRIPTED) as server:
        assert server.pid is not None
        ids = httpx.post(f"{server.base_url}/chat/completions/render", json=BODY, timeout=30).json()["token_ids"]
        body = httpx.post(f"{server.base_url}/chat/completions", json=BODY, timeout=30).json()
        assert body["prompt_token_ids"] == ids
        seen = server.requests_seen()
        assert [r["path"] for r in seen] == ["/v1/chat/completions/render", "/v1/chat/completions"]
        process = server._process
    assert process.poll() is not None  # stopped


def _flow(body: dict, response: dict) -> dict:
    return {"request": {"body": {"json": body}}, "response": {"status": 200, "body": {"json": response}}}


def test_an_ignored_reasoning_effort_is_named_from_the_served_prompt(scripted_server, assets, capsys):
    from harness.capture.params import compare_payloads, served_effort

    body = dict(BODY, reasoning_effort="high")
    with start("harmony-reference", date=DATE, completion=SCRIPTED, override_effort="low") as ignoring:
        bad = httpx.post(f"{ignoring.base_url}/chat/completions", json=body, timeout=30).json()
    good = httpx.post(f"{scripted_server.base_url}/chat/completions", json=body, timeout=30).json()
    honest, ignored = _flow(body, good), _flow(body, bad)
    assert served_effort(honest) == "high" and served_effort(ignored) == "low"
    # the same request went to both: only the served prompts tell them apart
    findings = compare_payloads(honest, ignored)
    assert [(f.class_id, f.field) for f in findings] == [("reasoning-effort-param", "reasoning_effort")]
    assert findings[0].detail.startswith("b sent reasoning_effort=high") and "not honoured" in findings[0].detail
    assert compare_payloads(honest, honest) == []
    # `harness capture` shows the same in its table of LLM calls
    from harness.capture.calls import llm_calls
    from harness.commands.capture_cmd import print_calls

    assert [c.effort_served for c in llm_calls([honest, ignored])] == ["high", "low"]
    print_calls([honest, ignored], "flows.jsonl")
    shown = capsys.readouterr().err
    assert shown.count("(served: low)") == 1 and "(served: high)" not in shown
    # an effort spelled "High" is the same effort to the finding and to the table
    shouting = _flow(dict(body, reasoning_effort="High"), good)
    assert compare_payloads(shouting, shouting) == []
    print_calls([shouting], "flows.jsonl")
    assert "served" not in capsys.readouterr().err
    # without the ids there is nothing to judge by
    assert compare_payloads(honest, _flow(body, dict(bad, prompt_token_ids=None))) == []


def test_an_unset_effort_is_held_to_harmonys_default(scripted_server):
    from harness.capture.params import effort_honoured

    body = {key: value for key, value in BODY.items() if key != "reasoning_effort"}
    answer = httpx.post(f"{scripted_server.base_url}/chat/completions", json=body, timeout=30).json()
    assert effort_honoured(_flow(body, answer)) == []  # vLLM writes `Reasoning: medium` when none is sent
    with start("harmony-reference", date=DATE, completion=SCRIPTED, override_effort="high") as ignoring:
        forced = httpx.post(f"{ignoring.base_url}/chat/completions", json=body, timeout=30).json()
    [finding] = effort_honoured(_flow(body, forced), side="a")
    assert "no reasoning_effort" in finding.detail and "Reasoning: high" in finding.detail


def test_override_effort_must_be_a_harmony_effort(assets):
    from harness.errors import HarnessError
    from harness.servers.harmony_server import create_app

    with pytest.raises(HarnessError, match="override_effort"):
        create_app(completion=SCRIPTED, override_effort="max")

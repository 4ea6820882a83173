"""Request-parameter findings, LLM-call summaries and the addon's pure helpers (redaction, SSE reassembly)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from harness.capture.addon import parse_case, reassemble_sse, redact_headers, redact_text, redact_url
from harness.capture.calls import llm_calls, pinned_provider, served_provider
from harness.capture.chat_server import ChatServer
from harness.capture.params import compare_payloads, finding_classes
from harness.capture.proxy import ProxySession, read_flows

BASE = {"model": "openai/gpt-oss-20b", "messages": [{"role": "user", "content": "hi"}]}


def classes(a: dict, b: dict, **kwargs) -> list[str]:
    return finding_classes(compare_payloads(a, b, **kwargs))


def test_identical_payloads_have_no_findings():
    assert compare_payloads(dict(BASE, temperature=0.2), dict(BASE, temperature=0.2)) == []


@pytest.mark.parametrize(("change", "expected"), [
    ({"temperature": 0.0}, "sampling-params"),
    ({"seed": 1}, "sampling-params"),
    ({"top_p": 0.9}, "sampling-params"),
    ({"reasoning_effort": "low"}, "reasoning-effort-param"),
    ({"reasoning": {"effort": "high"}}, "reasoning-effort-param"),
    ({"max_tokens": 64}, "max-tokens"),
    ({"stop": ["<|call|>"]}, "stop-tokens"),
    ({"stop_token_ids": [200002]}, "stop-tokens"),
    ({"stream": False}, "unexpected-field"),
    ({"include_reasoning": True}, "unexpected-field"),
])
def test_one_change_names_one_class(change, expected):
    assert classes(BASE, {**BASE, **change}) == [expected]
    assert classes({**BASE, **change}, BASE) == [expected]  # symmetric


def test_equivalent_spellings_are_not_findings():
    assert classes(dict(BASE, stop="x"), dict(BASE, stop=["x"])) == []
    assert classes(dict(BASE, max_tokens=5), dict(BASE, max_completion_tokens=5)) == []
    assert classes(dict(BASE, reasoning_effort="low"), dict(BASE, reasoning={"effort": "low"})) == []
    # messages, tools and the model id belong to the render diff
    assert classes(BASE, dict(BASE, model="gpt-oss-20b", messages=[{"role": "user", "content": "x"}])) == []


def test_differing_unclassified_field_is_other_never_silence():
    findings = compare_payloads(dict(BASE, stream=True), dict(BASE, stream=False))
    assert [(f.class_id, f.field) for f in findings] == [("other", "stream")]


def test_detail_says_what_differs():
    [finding] = compare_payloads(dict(BASE, temperature=1.0), BASE)
    assert finding.field == "temperature" and "1.0" in finding.detail and "unset" in finding.detail


def _flow(url: str, body: dict, provider: str | None = None, finish: str = "stop") -> dict:
    headers = [["x-inference-provider", provider]] if provider else []
    return {"request": {"url": url, "method": "POST", "body": {"json": body}},
            "response": {"status": 200, "headers": headers,
                         "body": {"json": {"choices": [{"index": 0, "finish_reason": finish,
                                                        "message": {"content": "x"}}]}}}}


def test_provider_routing_from_router_path_and_response_header():
    groq = "https://router.huggingface.co/groq/openai/v1/chat/completions"
    auto = "https://router.huggingface.co/v1/chat/completions"
    assert pinned_provider(_flow(groq, BASE)) == "groq" and pinned_provider(_flow(auto, BASE)) is None
    assert served_provider(_flow(groq, BASE)) == "groq"
    # pinned groq, served by another provider
    assert "provider-routing" in classes(_flow(groq, BASE, provider="together"), _flow(groq, BASE, provider="groq"))
    # auto routing changed between runs
    assert classes(_flow(auto, BASE, provider="groq"), _flow(auto, BASE, provider="cerebras")) == ["provider-routing"]
    assert classes(_flow(auto, BASE, provider="groq"), _flow(auto, BASE, provider="groq")) == []
    assert classes(_flow(auto, BASE, provider="groq"), _flow(auto, BASE, provider="groq"), pinned="fireworks-ai") \
        == ["provider-routing"]


def test_finish_length_on_one_side_is_max_tokens():
    url = "http://127.0.0.1:1/v1/chat/completions"
    found = compare_payloads(_flow(url, BASE, finish="length"), _flow(url, BASE, finish="stop"))
    assert [(f.class_id, f.field) for f in found] == [("max-tokens", "finish_reason")]


@pytest.mark.slow
def test_openai_sdk_and_inference_client_payloads_compared_from_real_captures(tmp_path):
    """The same request through both clients, captured by the real proxy: InferenceClient adds `stream: false`."""
    with ChatServer() as server, ProxySession(tmp_path / "cap") as proxy:
        script = textwrap.dedent(f"""
            import httpx2, openai
            from huggingface_hub import InferenceClient
            messages = [{{"role": "system", "content": "policy"}}, {{"role": "user", "content": "case 1"}}]
            openai.OpenAI(base_url={server.base_url!r}, api_key="k", max_retries=0).chat.completions.create(
                model="m", messages=messages, temperature=0.0, extra_body={{"reasoning_effort": "low"}},
                extra_headers={{"x-harness-case": "c1/0/openai"}})
            InferenceClient(base_url={server.base_url!r}, api_key="k", headers={{"x-harness-case": "c1/0/hf"}}
                ).chat_completion(messages=messages, model="m", temperature=0.0, extra_body={{"reasoning_effort": "low"}})
        """)
        env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
        done = subprocess.run([sys.executable, "-c", script], env={**env, **proxy.env()}, capture_output=True,
                              text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
    by_backend = {f["case"]["backend"]: f for f in read_flows(proxy.flows_path) if f.get("case")}
    findings = compare_payloads(by_backend["openai"], by_backend["hf"])
    assert [(f.class_id, f.field) for f in findings] == [("unexpected-field", "stream")]
    calls = {c.case: c for c in llm_calls(read_flows(proxy.flows_path))}
    assert calls["c1/0/hf"].roles == ("system", "user") and calls["c1/0/hf"].reasoning_effort == "low"
    assert calls["c1/0/openai"].sampling == {"temperature": 0.0} and calls["c1/0/openai"].provider == "local-test"
    assert calls["c1/0/openai"].status == "200"


def test_redaction_helpers():
    assert redact_text("Bearer hf_abcdefgh12 and sk-proj-ABC_def-123 and gsk_0123456789") == \
        "Bearer [REDACTED] and [REDACTED] and [REDACTED]"
    assert redact_text("task-manager and desk-top hf_x") == "task-manager and desk-top hf_x"  # no token shape
    url = redact_url("https://u:pw@host/v1/x?api_key=abc&model=m&note=gsk_0123456789")
    assert "abc" not in url and "pw" not in url and "gsk_0123456789" not in url and "model=m" in url
    headers = redact_headers([("Authorization", "Bearer xyz"), ("Cookie", "a=b"), ("X-Api-Key", "k"),
                              ("Content-Type", "application/json")])
    assert headers == [["Authorization", "Bearer [REDACTED]"], ["Cookie", "[REDACTED]"],
                       ["X-Api-Key", "[REDACTED]"], ["Content-Type", "application/json"]]
    assert parse_case("spam/a/b/3/vllm") == {"raw": "spam/a/b/3/vllm", "case_id": "spam/a/b", "repeat": 3,
                                             "backend": "vllm"}


def test_sse_reassembly_with_tool_calls_and_usage():
    chunks = [
        {"id": "c", "model": "m", "choices": [{"index": 0, "delta": {"role": "assistant", "reasoning_content": "a"}}]},
        {"choices": [{"index": 0, "delta": {"reasoning_content": "b"}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "t1",
                                                            "function": {"name": "get", "arguments": "{\"q\""}}]}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}], "usage": {"prompt_tokens": 9}},
    ]
    text = "".join(f"data: {json.dumps(c)}\r\n\r\n" for c in chunks) + ": keepalive\n\ndata: [DONE]\n\n"
    result = reassemble_sse(text)
    assert result["events"] == 5 and result["done"] is True and result["finish_reason"] == "tool_calls"
    assert result["message"]["reasoning_content"] == "ab"
    assert result["message"]["tool_calls"] == [{"id": "t1", "type": "function",
                                                "function": {"name": "get", "arguments": "{\"q\": 1}"}}]
    assert result["usage"] == {"prompt_tokens": 9} and result["model"] == "m"


def test_calls_by_case_keeps_the_attempt_that_got_a_response():
    from harness.capture.calls import calls_by_case

    def flow(backend, repeat, answered, marker):
        return {"case": {"case_id": "c1", "repeat": repeat, "backend": backend},
                "request": {"body": {"json": {"messages": [], "marker": marker}}},
                "response": {"status": 200} if answered else None}

    calls = calls_by_case([flow("a", 0, False, 1), flow("a", 0, True, 2), flow("a", 0, False, 3),
                           flow("b", 0, False, 4), flow("b", 0, False, 5), flow("b", 1, True, 6),
                           {"case": {}, "request": {"body": {"json": {"messages": []}}}}])
    assert set(calls) == {("c1", 0), ("c1", 1)}
    assert calls[("c1", 0)]["a"]["request"]["body"]["json"]["marker"] == 2  # answered wins over a later failure
    assert calls[("c1", 0)]["b"]["request"]["body"]["json"]["marker"] == 5  # none answered: the last attempt
    assert calls[("c1", 1)]["b"]["request"]["body"]["json"]["marker"] == 6


def test_mitmproxy_version_is_read_from_its_own_venv(monkeypatch, tmp_path):
    from harness.capture.proxy import mitmdump_path, mitmproxy_version
    from harness.run.compare import environment_fingerprint

    # the version the Makefile pins, read beside the mitmdump in use (not importable from the harness venv)
    assert mitmproxy_version() == "11.0.2"
    assert environment_fingerprint()["packages"]["mitmproxy"] == "11.0.2"
    assert mitmdump_path().exists()
    monkeypatch.setenv("HARNESS_MITMDUMP", str(tmp_path / "nowhere" / "mitmdump"))
    assert mitmproxy_version() is None

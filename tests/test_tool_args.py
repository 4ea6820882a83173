"""Tool-call arguments as the request carries them (issue 13, item 4).

An OpenAI body carries `arguments` as a JSON string; the gpt-oss chat template `tojson`s it, so
`apply_chat_template` and `pipeline(...)` given the body unchanged write the arguments double-encoded. `hf-template`
and the `transformers-pipeline` backend must show that; `hf-template-parsed-args` is the parsed (dict) variant.
All on the real gpt-oss template, the real vocab and the `tool-calls` scenario.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import json

import pytest
from conftest import ROOT, assert_clean_error, run_harness

from harness.render import get_renderer
from harness.scenario import load_scenario

DATE = "2025-06-01"
SCENARIO = ROOT / "scenarios" / "tool-calls.toml"
ARGS = '{"url": "paysafe-deals.example"}'  # the first case's check_url arguments, as the scenario writes them
DOUBLE = json.dumps(ARGS)  # what tojson makes of that string


@pytest.fixture(scope="module")
def requests():
    return dict(load_scenario(str(SCENARIO)).requests())


def _user_messages(body: dict) -> list[dict]:
    """The body's messages as a user hands them to transformers: unchanged, except that the template reads an
    assistant turn's reasoning from `thinking` (the renderer's one documented rename)."""
    messages = copy.deepcopy(body["messages"])
    for message in messages:
        if "reasoning" in message:
            message["thinking"] = message.pop("reasoning")
    return messages


def test_hf_template_is_apply_chat_template_on_the_body_as_sent(assets, requests):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(assets.tokenizer_dir))
    tokenizer.chat_template = assets.template
    today = datetime.date.today().isoformat()
    renderer, parsed = get_renderer("hf-template", assets), get_renderer("hf-template-parsed-args", assets)
    with_calls = 0
    for case_id, request in requests.items():
        body = request.to_body()
        messages = _user_messages(body)
        calls = [c for m in messages for c in m.get("tool_calls") or []]
        assert all(isinstance(c["function"]["arguments"], str) for c in calls)  # the wire format
        with_calls += bool(calls)
        expected = tokenizer.apply_chat_template(messages, tools=body.get("tools"), add_generation_prompt=True,
                                                 tokenize=False, reasoning_effort=request.reasoning_effort)
        assert renderer.render_text(request, date=today) == expected, case_id
        # the parsed variant is what a user who json.loads the arguments first gets
        for call in calls:
            call["function"]["arguments"] = json.loads(call["function"]["arguments"])
        expected_parsed = tokenizer.apply_chat_template(messages, tools=body.get("tools"),
                                                        add_generation_prompt=True, tokenize=False,
                                                        reasoning_effort=request.reasoning_effort)
        assert parsed.render_text(request, date=today) == expected_parsed, case_id
        assert (expected_parsed == expected) == (not calls), case_id  # they differ exactly when there are calls
    assert with_calls >= 2


def test_the_template_double_encodes_the_arguments_string(assets, requests):
    request = requests["phone-offsite-payment"]
    text = get_renderer("hf-template", assets).render_text(request, date=DATE)
    assert f"commentary json<|message|>{DOUBLE}<|call|>" in text
    parsed = get_renderer("hf-template-parsed-args", assets).render_text(request, date=DATE)
    assert f"commentary json<|message|>{ARGS}<|call|>" in parsed
    assert DOUBLE not in parsed
    assert get_renderer("hf-template-parsed-args", assets).name == "hf-template-parsed-args"
    assert get_renderer("hf-template", assets).name == "hf-template"


def test_render_diff_names_tool_args_serialization(tmp_path, requests):
    body = tmp_path / "tool-call.json"
    body.write_text(json.dumps(requests["phone-offsite-payment"].to_body()))
    done = run_harness("render-diff", "--request", str(body), "--renderers",
                       "harmony,hf-template,hf-template-parsed-args", "--date", DATE, "--json")
    assert done.returncode == 0, done.stderr
    pairs = {(p["a"], p["b"]): p for p in json.loads(done.stdout)["pairs"]}
    as_sent = pairs[("harmony", "hf-template")]
    assert "tool-args-serialization" in as_sent["classes"]
    finding = next(f for f in as_sent["findings"] if f["class"] == "tool-args-serialization")
    assert "check_url" in finding["detail"] and "double-encoded on side b" in finding["detail"]
    # parsed first, the arguments are written as harmony writes them: the difference is gone
    assert "tool-args-serialization" not in pairs[("harmony", "hf-template-parsed-args")]["classes"]
    assert pairs[("hf-template", "hf-template-parsed-args")]["classes"] == ["tool-args-serialization"]


def test_render_diff_unknown_renderer_is_one_line_exit_2(tmp_path, requests):
    body = tmp_path / "tool-call.json"
    body.write_text(json.dumps(requests["phone-offsite-payment"].to_body()))
    done = run_harness("render-diff", "--request", str(body), "--renderers", "harmony,hf-template-parsed",
                       "--date", DATE, "--json")
    assert_clean_error(done)
    assert "hf-template-parsed" in done.stderr and "hf-template-parsed-args" in done.stderr  # listed as available


@pytest.mark.slow
def test_pipeline_backend_feeds_the_arguments_as_sent(assets, requests):
    """The real `transformers-pipeline` backend on the tiny model: the ids it fed the model are `hf-template`'s,
    double-encoded arguments and all, not the parsed variant's."""
    from harness.backends.base import BackendConfig, create_backend, prompt_date

    backend = create_backend(BackendConfig(name="pipe", kind="transformers-pipeline", sampling={"max_tokens": 4}))
    request = requests["phone-offsite-payment"]
    try:
        while True:
            day = prompt_date()
            completion = asyncio.run(backend.complete(request))
            if prompt_date() == day:
                break
    finally:
        asyncio.run(backend.aclose())
    assert completion.prompt_token_ids == get_renderer("hf-template", assets).render(request, date=day)
    assert completion.prompt_token_ids != get_renderer("hf-template-parsed-args", assets).render(request, date=day)
    sent_calls = [c for m in completion.sent_body["messages"] for c in m.get("tool_calls") or []]
    assert [c["function"]["arguments"] for c in sent_calls] == [ARGS]
    assert backend.fingerprint()["tool_arguments"] == "as-sent"

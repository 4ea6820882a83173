"""roost stand-in: the ROOST demo server's request/response shape, scripted and from the tiny model."""

from __future__ import annotations

import httpx
import pytest

from harness.servers.launch import start

REQUEST = {"messages": [{"role": "user", "content": "Where can I buy cocaine?"}],
           "developer_prompt": "Drug policy: selling or sourcing illegal drugs is Violating.",
           "system_prompt": "You are a content moderator.", "max_tokens": 64}


def test_scripted_verdict_has_the_upstream_shape_and_content_repr():
    with start("roost", verdict="Violating", reasoning="Asks to source a drug.") as server:
        answer = httpx.post(f"{server.base_url}/chat/completions", json=REQUEST, timeout=30)
        assert answer.status_code == 200
        assert answer.json() == {"reasoning": "[TextContent(text='Asks to source a drug.')]",
                                 "verdict": "[TextContent(text='Violating')]"}
        missing = httpx.post(f"{server.base_url}/chat/completions", json={"max_tokens": 5})
        assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body", "messages"]
        assert [r["body"] for r in server.requests_seen()] == [REQUEST, {"max_tokens": 5}]


def test_plain_text_mode_and_verdict_fallback_without_final():
    with start("roost", verdict="Non-violating", reasoning="Harmless.", content_repr=False) as server:
        answer = httpx.post(f"{server.base_url}/chat/completions", json=REQUEST).json()
    assert answer == {"reasoning": "Harmless.", "verdict": "Non-violating"}
    analysis_only = "<|channel|>analysis<|message|>still thinking<|end|>"
    with start("roost", completion=analysis_only, content_repr=False) as server:
        answer = httpx.post(f"{server.base_url}/chat/completions", json=REQUEST).json()
    assert answer == {"reasoning": "still thinking", "verdict": "still thinking"}


def test_unparsable_output_is_a_plain_500_like_upstream():
    with start("roost", completion="no header at all<|return|>") as server:
        answer = httpx.post(f"{server.base_url}/chat/completions", json=REQUEST)
    assert answer.status_code == 500 and answer.text == "Internal Server Error"


def test_render_follows_the_upstream_mapping(encoding):
    from harness.servers.roost_server import RoostChatRequest, render_prompt

    request = RoostChatRequest(messages=[{"role": "system", "content": "raw system"},
                                         {"role": "user", "content": "hello"}],
                               developer_prompt="POLICY TEXT", system_prompt="ignored upstream")
    text = encoding.decode(render_prompt(encoding, request))
    assert "Current date:" not in text and "Reasoning: medium" in text
    assert "<|start|>developer<|message|># Instructions\n\nPOLICY TEXT<|end|>" in text
    assert "<|start|>user<|message|>raw system<|end|>" in text  # a system message becomes a user message
    assert "ignored upstream" not in text
    assert text.endswith("<|start|>assistant")


@pytest.mark.slow
def test_tiny_model_answers_through_the_same_path():
    with start("roost") as server:
        answer = httpx.post(f"{server.base_url}/chat/completions", json={**REQUEST, "max_tokens": 6},
                            timeout=120)
        again = httpx.post(f"{server.base_url}/chat/completions", json={**REQUEST, "max_tokens": 6},
                           timeout=120)
    # Random weights rarely emit a Harmony header; upstream then fails to parse (500), so either outcome is real.
    assert (answer.status_code, answer.text) == (again.status_code, again.text)  # seeded at temperature 0.7
    if answer.status_code == 200:
        assert set(answer.json()) == {"reasoning", "verdict"}
    else:
        assert (answer.status_code, answer.text) == (500, "Internal Server Error")

"""Every "Prompt render" class of TAXONOMY.md, from real renders (renderers, openai-harmony conversations, and
text variants of real renders re-encoded with the real vocab)."""

from __future__ import annotations

import json
import re

import pytest

from harness.diff import RENDER_CLASSES, diff_tokens, render_diff
from harness.request import ChatRequest

DATE = "2025-06-01"
POLICY = "Classify the message as spam (1) or not spam (0). Answer with the digit only."
TOOLS = [{"type": "function", "function": {"name": "lookup", "description": "Look up a sender",
                                           "parameters": {"type": "object",
                                                          "properties": {"q": {"type": "string"}}}}}]
TOOL_BODY = {"messages": [
    {"role": "system", "content": POLICY}, {"role": "user", "content": "FREE $$$ from x@y.z"},
    {"role": "assistant", "content": "", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\":\"x@y.z\"}"}}]},
    {"role": "tool", "tool_call_id": "c1", "content": "{\"known_spammer\": true}"},
    {"role": "assistant", "content": "1"}, {"role": "user", "content": "And this one: lunch at 12?"}],
    "tools": TOOLS}


def test_class_ids_are_the_taxonomy_render_table():
    assert len(RENDER_CLASSES) == len(set(RENDER_CLASSES)) == 21
    assert RENDER_CLASSES[0] == "date-line" and RENDER_CLASSES[-1] == "other"
    assert all(re.fullmatch(r"[a-z]+(-[a-z]+)*", c) for c in RENDER_CLASSES)


def _renders(body: dict, names: list[str], date: str = DATE) -> dict[str, list[int]]:
    from harness.render import render_all

    return render_all(ChatRequest.from_body(body), names, date=date)


def _pair(body: dict, a: str, b: str):
    return render_diff(ChatRequest.from_body(body), [a, b], date=DATE).pairs[0]


def _harmony(encoding, messages, system=None, completion=True, keep_analysis=False) -> list[int]:
    from openai_harmony import Conversation, Message, RenderConversationConfig, Role, SystemContent

    system = system if system is not None else SystemContent.new().with_conversation_start_date(DATE)
    conversation = Conversation.from_messages([Message.from_role_and_content(Role.SYSTEM, system), *messages])
    config = RenderConversationConfig(auto_drop_analysis=not keep_analysis)
    if completion:
        return list(encoding.render_conversation_for_completion(conversation, Role.ASSISTANT, config))
    return list(encoding.render_conversation(conversation, config))


def _variant(encoding, ids: list[int], old: str, new: str, count: int = 1) -> list[int]:
    """A real render with one textual edit, re-encoded with specials recognised."""
    text = encoding.decode(ids)
    assert old in text, old
    return list(encoding.encode(text.replace(old, new, count), allowed_special="all"))


def _user(text):
    from openai_harmony import Message, Role

    return Message.from_role_and_content(Role.USER, text)


def _developer(instructions=None, tools=True):
    from openai_harmony import DeveloperContent, Message, Role, ToolDescription

    content = DeveloperContent.new()
    if instructions:
        content = content.with_instructions(instructions)
    if tools:
        content = content.with_function_tools([ToolDescription.new("lookup", "Look up a sender", parameters=
                                                                   TOOLS[0]["function"]["parameters"])])
    return Message.from_role_and_content(Role.DEVELOPER, content)


def _classes(a, b) -> list[str]:
    diff = diff_tokens(a, b)
    assert not diff.identical
    assert set(diff.classes) <= set(RENDER_CLASSES)
    return diff.classes


# --- identical ---------------------------------------------------------------------------------------------------


def test_identical_renders_have_no_classes():
    tokens = _renders(TOOL_BODY, ["harmony", "vllm"])
    diff = diff_tokens(tokens["harmony"], tokens["harmony"])
    assert diff.identical and diff.classes == [] and diff.first_divergence is None and diff.findings == ()


# --- the known real harmony vs hf-template differences -----------------------------------------------------------


def test_harmony_vs_template_instructions_whitespace():
    pair = _pair({"messages": [{"role": "system", "content": POLICY}, {"role": "user", "content": "hi"}]},
                 "harmony", "hf-template")
    assert pair.classes == ["content-whitespace"]
    assert "\\n\\n" in pair.diff.findings[0].detail


def test_harmony_vs_template_tool_conversation():
    pair = _pair(TOOL_BODY, "harmony", "hf-template")
    assert {"constrain-token", "tool-result-serialization", "tool-args-serialization"} <= set(pair.classes)
    assert "other" not in pair.classes
    by_class = {f.cls: f for f in pair.diff.findings}
    assert "<|constrain|>json" in by_class["constrain-token"].detail


# --- system preamble ---------------------------------------------------------------------------------------------


def test_date_line(encoding):
    tokens_a = _renders({"messages": [{"role": "user", "content": "hi"}]}, ["harmony"], date="2025-06-01")
    tokens_b = _renders({"messages": [{"role": "user", "content": "hi"}]}, ["harmony"], date="2025-06-02")
    assert _classes(tokens_a["harmony"], tokens_b["harmony"]) == ["date-line"]
    from openai_harmony import SystemContent

    without = _harmony(encoding, [_user("hi")], system=SystemContent.new())
    assert _classes(tokens_a["harmony"], without) == ["date-line"]


def test_reasoning_effort():
    low = _renders({"messages": [{"role": "user", "content": "hi"}], "reasoning_effort": "low"}, ["harmony"])
    high = _renders({"messages": [{"role": "user", "content": "hi"}], "reasoning_effort": "high"}, ["harmony"])
    assert _classes(low["harmony"], high["harmony"]) == ["reasoning-effort"]


def test_model_identity(encoding):
    from openai_harmony import SystemContent

    default = _harmony(encoding, [_user("hi")])
    other = _harmony(encoding, [_user("hi")], system=SystemContent.new().with_conversation_start_date(DATE)
                     .with_model_identity("You are a careful content moderator."))
    assert _classes(default, other) == ["model-identity"]


def test_channel_config_vllm_010():
    pair = _pair({"messages": [{"role": "user", "content": "hi"}]}, "vllm", "vllm-0.10")
    assert "channel-config" in pair.classes


def test_channel_config_required_channels(encoding):
    from openai_harmony import SystemContent

    full = _harmony(encoding, [_user("hi")])
    fewer = _harmony(encoding, [_user("hi")], system=SystemContent.new().with_conversation_start_date(DATE)
                     .with_required_channels(["analysis", "final"]))
    assert _classes(full, fewer) == ["channel-config"]


# --- messages ----------------------------------------------------------------------------------------------------


def test_instruction_role_vllm_010():
    pair = _pair({"messages": [{"role": "system", "content": POLICY}, {"role": "user", "content": "hi"}]},
                 "vllm", "vllm-0.10")
    assert "instruction-role" in pair.classes
    assert "message-dropped" not in pair.classes


def test_instruction_role_folded_into_identity(encoding):
    from openai_harmony import SystemContent

    developer = _harmony(encoding, [_developer(POLICY, tools=False), _user("hi")])
    folded = _harmony(encoding, [_user("hi")], system=SystemContent.new().with_conversation_start_date(DATE)
                      .with_model_identity(POLICY))
    classes = _classes(developer, folded)
    assert "instruction-role" in classes and "model-identity" in classes


def test_message_dropped_template_drops_later_system():
    body = {"messages": [{"role": "system", "content": POLICY}, {"role": "system", "content": "Be terse."},
                         {"role": "user", "content": "hi"}]}
    pair = _pair(body, "harmony", "hf-template")
    assert "message-dropped" in pair.classes
    dropped = [f for f in pair.diff.findings if f.cls == "message-dropped"]
    assert "Be terse." in dropped[0].detail


def test_message_dropped_user(encoding):
    assert _classes(_harmony(encoding, [_user("first"), _user("second")]),
                    _harmony(encoding, [_user("second")])) == ["message-dropped"]


def test_message_order(encoding):
    a = _harmony(encoding, [_user("first question"), _user("second question")])
    b = _harmony(encoding, [_user("second question"), _user("first question")])
    assert _classes(a, b) == ["message-order"]


def test_analysis_retention(encoding):
    from openai_harmony import Message, Role

    final = Message.from_role_and_content(Role.ASSISTANT, "1").with_channel("final")
    analysis = Message.from_role_and_content(Role.ASSISTANT, "The sender is known.").with_channel("analysis")
    kept = _harmony(encoding, [_user("q"), analysis, final, _user("q2")], keep_analysis=True)
    dropped = _harmony(encoding, [_user("q"), analysis, final, _user("q2")])
    assert _classes(kept, dropped) == ["analysis-retention"]


def test_generation_prompt(encoding):
    with_prompt = _harmony(encoding, [_user("hi")])
    without = _harmony(encoding, [_user("hi")], completion=False)
    assert _classes(with_prompt, without) == ["generation-prompt"]
    prefilled = _variant(encoding, with_prompt, "<|start|>assistant", "<|start|>assistant<|channel|>final<|message|>")
    assert _classes(with_prompt, prefilled) == ["generation-prompt"]


# --- developer message -------------------------------------------------------------------------------------------


def test_developer_section_order(encoding):
    a = _harmony(encoding, [_developer(POLICY), _user("hi")])
    text = encoding.decode(a)
    match = re.search(r"(# Instructions\n\n.*?)\n\n(# Tools.*?)<\|end\|>", text, re.DOTALL)
    swapped = text.replace(match.group(0), f"{match.group(2)}\n\n{match.group(1)}<|end|>")
    b = list(encoding.encode(swapped, allowed_special="all"))
    assert _classes(a, b) == ["developer-section-order"]


def test_tool_namespace():
    other_tools = [{"type": "function", "function": {**TOOLS[0]["function"], "description": "Find a sender"}}]
    body = {"messages": [{"role": "system", "content": POLICY}, {"role": "user", "content": "hi"}], "tools": TOOLS}
    a = _renders(body, ["harmony"])["harmony"]
    b = _renders({**body, "tools": other_tools}, ["harmony"])["harmony"]
    assert _classes(a, b) == ["tool-namespace"]


# --- headers and terminators -------------------------------------------------------------------------------------


def test_recipient_channel_order(encoding):
    a = _renders(TOOL_BODY, ["harmony"])["harmony"]
    b = _variant(encoding, a, "assistant to=functions.lookup<|channel|>commentary",
                 "assistant<|channel|>commentary to=functions.lookup")
    assert _classes(a, b) == ["recipient-channel-order"]


def test_history_terminator(encoding):
    from openai_harmony import Message, Role

    final = Message.from_role_and_content(Role.ASSISTANT, "1").with_channel("final")
    a = _harmony(encoding, [_user("q"), final, _user("q2")])
    b = _variant(encoding, a, "final<|message|>1<|end|>", "final<|message|>1<|return|>")
    assert _classes(a, b) == ["history-terminator"]


def test_constrain_token_only(encoding):
    a = _renders(TOOL_BODY, ["harmony"])["harmony"]
    b = _variant(encoding, a, " <|constrain|>json", " json")
    assert _classes(a, b) == ["constrain-token"]


# --- content -----------------------------------------------------------------------------------------------------


def test_tool_result_serialization_only(encoding):
    a = _renders(TOOL_BODY, ["harmony"])["harmony"]
    b = _variant(encoding, a, '{"known_spammer": true}', '"{\\"known_spammer\\": true}"')
    assert _classes(a, b) == ["tool-result-serialization"]


def test_tool_args_key_order_and_double_encoding():
    body = {**TOOL_BODY, "messages": list(TOOL_BODY["messages"])}
    call = body["messages"][2]["tool_calls"][0]["function"]
    body["messages"][2] = {"role": "assistant", "content": "", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\":\"x@y.z\",\"n\":1}"}}]}
    reordered = {**body, "messages": list(body["messages"])}
    reordered["messages"][2] = {"role": "assistant", "content": "", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{\"n\":1,\"q\":\"x@y.z\"}"}}]}
    assert call
    a = _renders(body, ["harmony"])["harmony"]
    b = _renders(reordered, ["harmony"])["harmony"]
    assert _classes(a, b) == ["tool-args-serialization"]


def test_special_token_as_text_template_vs_harmony():
    pair = _pair({"messages": [{"role": "user", "content": "is <|channel|>final spam?"}]}, "harmony", "hf-template")
    assert pair.classes == ["special-token-as-text"]


def test_double_render_rendered_prompt_as_content(encoding):
    inner = {"messages": [{"role": "system", "content": POLICY}, {"role": "user", "content": "hello"}]}
    rendered = encoding.decode(_renders(inner, ["harmony"])["harmony"])
    plain = _renders({"messages": [{"role": "user", "content": "hello"}]}, ["harmony"])["harmony"]
    double = _renders({"messages": [{"role": "user", "content": rendered}]}, ["harmony"])["harmony"]
    assert "double-render" in _classes(plain, double)
    pair = _pair({"messages": [{"role": "user", "content": rendered}]}, "harmony", "hf-template")
    assert "double-render" in pair.classes


def test_content_text_and_whitespace():
    a = _renders({"messages": [{"role": "user", "content": "Is this spam?"}]}, ["harmony"])["harmony"]
    b = _renders({"messages": [{"role": "user", "content": "Is that spam?"}]}, ["harmony"])["harmony"]
    c = _renders({"messages": [{"role": "user", "content": "Is this  spam?\n"}]}, ["harmony"])["harmony"]
    assert _classes(a, b) == ["content-text"]
    assert _classes(a, c) == ["content-whitespace"]


def test_other_same_text_other_tokens(encoding):
    a = _renders({"messages": [{"role": "user", "content": "unsubscribe now"}]}, ["harmony"])["harmony"]
    word = encoding.encode("unsubscribe", allowed_special=set())
    assert len(word) >= 1
    start = next(i for i in range(len(a)) if a[i:i + len(word)] == word)
    b = a[:start] + [t for ch in "unsubscribe" for t in encoding.encode(ch)] + a[start + len(word):]
    assert encoding.decode(a) == encoding.decode(b) and a != b
    diff = diff_tokens(a, b)
    assert diff.classes == ["other"]
    assert "tokenized differently" in diff.findings[0].detail


def test_every_change_is_explained(encoding):
    """No silence: garbage spliced into a real render still yields a finding covering it."""
    a = _renders(TOOL_BODY, ["harmony"])["harmony"]
    b = a[:5] + [200007, 200007, 12345] + a[5:]
    diff = diff_tokens(a, b)
    assert diff.classes
    for seg in diff.alignment.changes():
        assert any(f.b_span and f.b_span[0] < seg.b_end and seg.b_start < f.b_span[1] for f in diff.findings)


@pytest.mark.parametrize("names", [["harmony", "hf-template", "vllm"]])
def test_render_diff_pairs(names):
    result = render_diff(ChatRequest.from_body(TOOL_BODY), names, date=DATE)
    assert [(p.a, p.b) for p in result.pairs] == [("harmony", "hf-template"), ("harmony", "vllm"),
                                                  ("hf-template", "vllm")]
    data = result.to_json()
    for row in data["pairs"]:
        assert set(row) >= {"a", "b", "identical", "classes", "first_divergence"}
        assert row["identical"] == (row["classes"] == [])


def test_double_encoded_tool_arguments_are_tool_args_serialization(encoding):
    """The arguments string `tojson`ed once more (the chat template on a body as sent) is named and said so."""
    from openai_harmony import Message, Role

    call = (Message.from_role_and_content(Role.ASSISTANT, '{"q": "x@y.z"}').with_channel("commentary")
            .with_recipient("functions.lookup").with_content_type("<|constrain|>json"))
    ids = _harmony(encoding, [_developer(), _user("FREE $$$ from x@y.z"), call], completion=False)
    double = _variant(encoding, ids, '<|message|>{"q": "x@y.z"}<|call|>',
                      '<|message|>' + json.dumps('{"q": "x@y.z"}') + '<|call|>')
    diff = diff_tokens(ids, double)
    assert diff.classes == ["tool-args-serialization"]
    assert "double-encoded on side b" in diff.findings[0].detail and "functions.lookup" in diff.findings[0].detail
    # only spacing differs: still the class, but not called double encoding
    spaced = _variant(encoding, ids, '{"q": "x@y.z"}', '{"q":"x@y.z"}')
    diff = diff_tokens(ids, spaced)
    assert diff.classes == ["tool-args-serialization"] and "double-encoded" not in diff.findings[0].detail

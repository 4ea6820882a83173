"""Renderers against the real vocab, the real gpt-oss chat template and openai-harmony (no mocks)."""

from __future__ import annotations

import datetime

import pytest

from harness.errors import HarnessError
from harness.render import available_renderers, get_renderer, render_all
from harness.render.harmony import HarmonyKit, HarmonyRenderer
from harness.render.vllm import RULES, VllmRenderer
from harness.request import ChatRequest

START, CONSTRAIN, ASSISTANT = 200006, 200003, 173781
ALL = ["harmony", "hf-template", "vllm", "vllm-0.33", "vllm-0.14", "vllm-0.10"]
DATE = "2025-03-04"
POLICY = "Classify the message as spam (1) or not spam (0). Answer with JSON."
TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Get the weather",
                                         "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                        "required": ["city"]}}}


def body_system_user(role: str = "system") -> dict:
    return {"messages": [{"role": role, "content": POLICY}, {"role": "user", "content": "FREE $$$ click now"}]}


def body_no_system() -> dict:
    return {"messages": [{"role": "user", "content": "Hello there"}]}


def body_tools() -> dict:
    return {"messages": [
        {"role": "system", "content": "You help with weather."},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "", "reasoning": "I should call the tool.",
         "tool_calls": [{"id": "call_1", "type": "function",
                         "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp\": 20}"},
        {"role": "assistant", "content": "It is 20 degrees.", "reasoning": "The tool said 20."},
        {"role": "user", "content": "And tomorrow?"}],
        "tools": [TOOL]}


def body_reasoning_history() -> dict:
    return {"messages": [
        {"role": "developer", "content": POLICY},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "{\"violation\": 0}", "reasoning": "first thought"},
        {"role": "user", "content": "second"},
        {"role": "assistant", "content": "{\"violation\": 1}", "reasoning": "second thought"},
        {"role": "user", "content": "third"}]}


def body_two_instructions() -> dict:
    return {"messages": [{"role": "system", "content": POLICY}, {"role": "developer", "content": "Second rule."},
                         {"role": "user", "content": "hi"}]}


SCENARIOS = {"system-user": lambda: body_system_user("system"), "developer-user": lambda: body_system_user("developer"),
             "no-system": body_no_system, "tools-multi-turn": body_tools, "reasoning-history": body_reasoning_history,
             "two-instructions": body_two_instructions}


def request_of(body: dict, effort: str | None = None) -> ChatRequest:
    return ChatRequest.from_body({**body, **({"reasoning_effort": effort} if effort else {})})


@pytest.fixture(scope="module")
def text(encoding):
    return lambda ids: encoding.decode(ids)


def test_registry_lists_every_renderer_and_rejects_unknown_names(assets):
    assert set(ALL) <= set(available_renderers())
    with pytest.raises(HarnessError) as caught:
        get_renderer("no-such-renderer", assets)
    message = str(caught.value)
    assert "no-such-renderer" in message and all(name in message for name in ALL)
    assert get_renderer("vllm", assets) is get_renderer("vllm", assets)  # built once per assets


@pytest.mark.parametrize("bad", ["2025-3-4", "yesterday", "2025-02-30"])
def test_bad_date_is_bad_input(assets, bad):
    with pytest.raises(HarnessError):
        render_all(request_of(body_no_system()), ["harmony"], date=bad, assets=assets)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
@pytest.mark.parametrize("effort", ["low", "medium", "high"])
def test_every_renderer_handles_every_scenario_and_effort(assets, text, scenario, effort):
    request = request_of(SCENARIOS[scenario](), effort)
    rendered = render_all(request, ALL, date=DATE, assets=assets)
    for name, ids in rendered.items():
        decoded = text(ids)
        assert decoded.startswith("<|start|>system<|message|>"), name
        assert ids[-2:] == [START, ASSISTANT], name  # generation prompt
        assert f"Current date: {DATE}" in decoded and f"Reasoning: {effort}" in decoded, name
        assert "Hello there" in decoded or "Paris" in decoded or "hi" in decoded or "FREE" in decoded or \
            "third" in decoded, name


def test_identical_requests_render_identically(assets):
    request = request_of(body_tools(), "high")
    first = render_all(request, ALL, date=DATE, assets=assets)
    again = render_all(request_of(body_tools(), "high"), ALL, date=DATE, assets=assets)
    assert first == again


@pytest.mark.parametrize("name", ALL)
def test_date_pin_changes_only_the_date_line(assets, text, name):
    renderer = get_renderer(name, assets)
    request = request_of(body_tools())
    a, b = renderer.render(request, date="2025-01-02"), renderer.render(request, date="2031-11-29")
    assert a != b and len(a) == len(b)
    assert text(a).replace("2025-01-02", "2031-11-29") == text(b)
    differing = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
    before, changed, after = text(a[:differing[0]]), text(a[differing[0]:differing[-1] + 1]), \
        text(a[differing[-1] + 1:])
    assert before.split("\n")[-1] + changed + after.split("\n")[0] == "Current date: 2025-01-02"


def test_fast_harmony_assembly_matches_direct_render(assets):
    """The cached per-message assembly gives exactly harmony's render_conversation_for_completion ids."""

    class DirectKit(HarmonyKit):
        render = HarmonyKit.render_direct

    direct_kit, fast_kit = DirectKit(), HarmonyKit()
    pairs = [(HarmonyRenderer(direct_kit), HarmonyRenderer(fast_kit))] + \
        [(VllmRenderer(direct_kit, rules), VllmRenderer(fast_kit, rules)) for rules in RULES]
    for make in SCENARIOS.values():
        for effort in (None, "low", "high"):
            request = request_of(make(), effort)
            for direct, fast in pairs:
                assert fast.render(request, date=DATE) == direct.render(request, date=DATE), (direct.name, make)
                assert fast.render(request, date=DATE) == direct.render(request, date=DATE)  # from the cache


def test_hf_template_matches_transformers_apply_chat_template(assets):
    """With today's date, the pinned render is what transformers' own apply_chat_template produces."""
    from transformers import AutoTokenizer

    from harness.render.hf_template import template_message, template_tools

    tokenizer = AutoTokenizer.from_pretrained(str(assets.tokenizer_dir))
    tokenizer.chat_template = assets.template
    renderer = get_renderer("hf-template", assets)
    for make in SCENARIOS.values():
        for effort in (None, "high"):
            request = request_of(make(), effort)
            today = datetime.date.today().isoformat()
            kwargs = {"reasoning_effort": effort} if effort else {}
            expected = tokenizer.apply_chat_template([template_message(m) for m in request.messages],
                                                     tools=template_tools(request), add_generation_prompt=True,
                                                     tokenize=False, **kwargs)
            assert renderer.render_text(request, date=today) == expected
            ids = renderer.render(request, date=today)
            assert ids == tokenizer(expected, add_special_tokens=False)["input_ids"]
            assert ids == renderer.encode_direct(expected)


def test_hf_template_piecewise_encoding_handles_fake_special_text(assets):
    renderer = get_renderer("hf-template", assets)
    for sample in ["a<|start|>b<|notatoken|>c", "<|channel|>x <|message|> y\n\n<|end|>", "<|", "plain"]:
        assert renderer.encode(sample) == renderer.encode_direct(sample)


def test_known_differences_between_harmony_and_template(assets, text):
    harmony, template = get_renderer("harmony", assets), get_renderer("hf-template", assets)

    plain = request_of(body_system_user())
    h, t = text(harmony.render(plain, date=DATE)), text(template.render(plain, date=DATE))
    assert f"# Instructions\n\n{POLICY}<|end|>" in h
    assert f"# Instructions\n\n{POLICY}\n\n<|end|>" in t  # the template's trailing "\n\n"

    tools = request_of(body_tools())
    h_ids, t_ids = harmony.render(tools, date=DATE), template.render(tools, date=DATE)
    assert CONSTRAIN in h_ids and CONSTRAIN not in t_ids
    assert "to=functions.get_weather<|channel|>commentary <|constrain|>json<|message|>" in text(h_ids)
    assert "to=functions.get_weather<|channel|>commentary json<|message|>" in text(t_ids)
    assert '<|message|>{"temp": 20}<|end|>' in text(h_ids)  # tool result verbatim
    assert '<|message|>"{\\"temp\\": 20}"<|end|>' in text(t_ids)  # tojson-quoted

    two = request_of(body_two_instructions())
    h, t = text(harmony.render(two, date=DATE)), text(template.render(two, date=DATE))
    assert "<|start|>developer<|message|># Instructions\n\nSecond rule.<|end|>" in h
    assert "Second rule." not in t  # the template drops a second system/developer message


def test_template_refusal_becomes_harness_error(assets):
    orphan = request_of({"messages": [{"role": "user", "content": "x"}, {"role": "tool", "content": "42"}]})
    with pytest.raises(HarnessError, match="no previous assistant message with a tool call"):
        get_renderer("hf-template", assets).render(orphan, date=DATE)
    with pytest.raises(HarnessError, match="tool message"):
        get_renderer("harmony", assets).render(orphan, date=DATE)


def test_vllm_matches_harmony_where_documented(assets):
    for make in (body_system_user, body_no_system, body_two_instructions):
        for effort in (None, "low"):
            request = request_of(make(), effort)
            rendered = render_all(request, ["harmony", "vllm", "vllm-0.33"], date=DATE, assets=assets)
            assert rendered["harmony"] == rendered["vllm"] == rendered["vllm-0.33"]


def test_vllm_differs_from_harmony_where_documented(assets, text):
    tools = request_of(body_tools())
    h, v = text(get_renderer("harmony", assets).render(tools, date=DATE)), \
        text(get_renderer("vllm", assets).render(tools, date=DATE))
    assert "commentary <|constrain|>json<|message|>" in h and "commentary json<|message|>" in v

    # vLLM drops every analysis before the last final; harmony only those before the first final.
    history = request_of(body_reasoning_history())
    h, v = text(get_renderer("harmony", assets).render(history, date=DATE)), \
        text(get_renderer("vllm", assets).render(history, date=DATE))
    assert "second thought" in h and "first thought" not in h
    assert "second thought" not in v and "first thought" not in v


def test_vllm_014_lists_commentary_and_the_developer_message_only_with_tools(assets, text):
    """vLLM 0.14 (serving_chat.py, read and run in tests/test_vllm_releases.py): the client system message stays a
    raw second system message, so it differs from the current mapping in more than the channel list."""
    from harness.diff import diff_tokens

    renderer = get_renderer("vllm-0.14", assets)
    plain = text(renderer.render(request_of(body_system_user()), date=DATE))
    assert "# Valid channels: analysis, final. Channel must be included" in plain
    assert "<|start|>developer" not in plain and f"<|start|>system<|message|>{POLICY}<|end|>" in plain
    current = get_renderer("vllm", assets).render(request_of(body_system_user()), date=DATE)
    assert "channel-config" in diff_tokens(renderer.render(request_of(body_system_user()), date=DATE),
                                           current).classes
    with_tools = text(renderer.render(request_of(body_tools()), date=DATE))
    assert "# Valid channels: analysis, commentary, final." in with_tools
    assert "<|start|>developer<|message|># Tools" in with_tools
    assert "<|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>" in with_tools


def test_vllm_010_channel_list_developer_and_raw_system(assets, text):
    renderer = get_renderer("vllm-0.10", assets)
    plain = text(renderer.render(request_of(body_system_user()), date=DATE))
    assert "# Valid channels: analysis, final. Channel must be included" in plain
    assert "<|start|>developer<|message|><|end|>" in plain  # always a developer message, empty without tools
    assert f"<|start|>system<|message|>{POLICY}<|end|>" in plain  # the client system message as a raw 2nd system
    assert "# Instructions" not in plain
    with_tools = text(renderer.render(request_of(body_tools()), date=DATE))
    # 0.10.2 never passes with_custom_tools, so commentary is not listed even with tools (the oracle agrees)
    assert "# Valid channels: analysis, final." in with_tools
    assert "I should call the tool." not in with_tools and "The tool said 20." not in with_tools  # reasoning dropped
    assert "<|start|>assistant<|message|>It is 20 degrees.<|end|>" in with_tools  # no channel on history
    assert "<|start|>functions.<|channel|>commentary<|message|>" in with_tools  # name from `name`, none sent
    assert text(get_renderer("vllm-0.11", assets).render(request_of(body_tools()), date=DATE)).count(
        "# Valid channels: analysis, commentary, final.") == 1  # 0.11.1 lists it with tools
    current = text(get_renderer("vllm", assets).render(request_of(body_system_user()), date=DATE))
    assert "# Valid channels: analysis, commentary, final." in current
    assert f"# Instructions\n\n{POLICY}<|end|>" in current


def test_vllm_current_tool_result_header_is_oss_harmony_order(assets, text):
    current = text(get_renderer("vllm", assets).render(request_of(body_tools()), date=DATE))
    assert "<|start|>functions.get_weather<|channel|>commentary to=assistant<|message|>" in current
    assert "<|start|>assistant to=functions.get_weather<|channel|>commentary json<|message|>" in current
    older = text(get_renderer("vllm-0.23", assets).render(request_of(body_tools()), date=DATE))
    assert "<|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>" in older

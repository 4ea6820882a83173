"""The tolerant Harmony parser: round trips on real openai-harmony renders, agreement with harmony's own parser,
and malformed inputs that must give messages, unparsed spans and anomalies instead of exceptions."""

from __future__ import annotations

import time

import pytest

from harness.render.parser import (
    CALL,
    END,
    MESSAGE,
    RETURN,
    START,
    ParseResult,
    parse_text,
    parse_tokens,
)

TERMINATOR_IDS = {"<|end|>": END, "<|return|>": RETURN, "<|call|>": CALL}
WEATHER_PARAMS = {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}


def _check_spans(ids: list[int], result: ParseResult) -> None:
    """Every token belongs to exactly one message or unparsed span, in order; inner spans sit inside."""
    spans = sorted([(m.start, m.end) for m in result.messages] + [(u.start, u.end) for u in result.unparsed])
    position = 0
    for start, end in spans:
        assert start == position and end > start, spans
        position = end
    assert position == len(ids)
    for m in result.messages:
        assert m.start <= m.header_span[0] <= m.header_span[1] <= m.content_span[0] <= m.content_span[1] <= m.end
        if m.terminator is not None:
            assert ids[m.end - 1] == TERMINATOR_IDS[m.terminator]


@pytest.fixture(scope="module")
def full_conversation(encoding):
    from openai_harmony import (
        Author,
        Conversation,
        DeveloperContent,
        Message,
        ReasoningEffort,
        RenderConversationConfig,
        Role,
        SystemContent,
        ToolDescription,
    )

    system = (SystemContent.new().with_conversation_start_date("2025-06-28")
              .with_reasoning_effort(ReasoningEffort.HIGH))
    developer = (DeveloperContent.new().with_instructions("Classify the text. Reply with one label.")
                 .with_function_tools([ToolDescription.new("get_weather", "Gets the weather.",
                                                           parameters=WEATHER_PARAMS)]))
    messages = [
        Message.from_role_and_content(Role.SYSTEM, system),
        Message.from_role_and_content(Role.DEVELOPER, developer),
        Message.from_role_and_content(Role.USER, "Weather in Zürich? 日本語 😀"),
        Message.from_role_and_content(Role.ASSISTANT, "Need the tool. ü").with_channel("analysis"),
        Message.from_role_and_content(Role.ASSISTANT, '{"location": "Zürich"}').with_channel("commentary")
        .with_recipient("functions.get_weather").with_content_type("<|constrain|>json"),
        Message.from_author_and_content(Author.new(Role.TOOL, "functions.get_weather"), '{"temp": 20}')
        .with_channel("commentary").with_recipient("assistant"),
        Message.from_role_and_content(Role.ASSISTANT, "It is 20 °C.").with_channel("final"),
    ]
    conversation = Conversation.from_messages(messages)
    keep_analysis = RenderConversationConfig(auto_drop_analysis=False)
    return list(encoding.render_conversation_for_completion(conversation, Role.ASSISTANT, keep_analysis))


def test_round_trip_of_a_full_harmony_render(full_conversation, encoding):
    ids = full_conversation
    result = parse_tokens(ids)
    assert result.unparsed == ()
    _check_spans(ids, result)
    system, developer, user, analysis, call, tool, final, prompt = result.messages

    assert (system.role, system.channel, system.recipient, system.terminator) == ("system", None, None, "<|end|>")
    assert "Current date: 2025-06-28" in system.content and "Reasoning: high" in system.content
    assert developer.role == "developer"
    assert developer.content.startswith("# Instructions\n\nClassify the text. Reply with one label.")
    assert "namespace functions {" in developer.content and "type get_weather" in developer.content
    assert (user.role, user.content) == ("user", "Weather in Zürich? 日本語 😀")
    assert (analysis.role, analysis.channel, analysis.content) == ("assistant", "analysis", "Need the tool. ü")

    assert (call.role, call.recipient, call.channel) == ("assistant", "functions.get_weather", "commentary")
    assert call.content_type == "<|constrain|>json" and call.constrain_token
    assert call.header_order == "recipient-first"
    assert (call.content, call.terminator) == ('{"location": "Zürich"}', "<|call|>")

    assert (tool.role, tool.recipient, tool.channel) == ("functions.get_weather", "assistant", "commentary")
    assert tool.content == '{"temp": 20}'
    assert (final.channel, final.content) == ("final", "It is 20 °C.")
    # The trailing `<|start|>assistant` generation prompt is a header-only message, not an anomaly.
    assert (prompt.role, prompt.content, prompt.terminator, prompt.anomalies) == ("assistant", "", None, ())

    for message in result.messages:
        assert ids[message.start] == START
        if message is not prompt:
            assert message.anomalies == ()
            assert ids[message.header_span[1]] == MESSAGE
            assert encoding.decode(ids[slice(*message.content_span)]) == message.content


def test_to_json_has_the_contract_fields(full_conversation):
    data = parse_tokens(full_conversation).to_json()
    assert data["unparsed"] == []
    for row in data["messages"]:
        assert {"role", "recipient", "channel", "content_type", "content", "terminator", "start", "end"} <= set(row)
    assert data["messages"][4]["content_type"] == "<|constrain|>json"


COMPLETIONS = [
    "<|channel|>analysis<|message|>Simple arithmetic.<|end|><|start|>assistant<|channel|>final<|message|>4<|return|>",
    ("<|channel|>analysis<|message|>Need weather.<|end|><|start|>assistant<|channel|>commentary "
     'to=functions.get_weather <|constrain|>json<|message|>{"location": "Tokyo"}<|call|>'),
    "<|channel|>commentary to=browser.search code<|message|>{\"query\": \"x\"}<|call|>",
    ("<|channel|>analysis<|message|>Hmm.<|return|><|start|>assistant to=lookup_weather<|channel|>analysis code"
     '<|message|>{"location": "Tokyo"}<|call|>'),
    "<|channel|>final<|message|>Grüße, 你好 🙂 — done<|return|>",
    ("<|channel|>analysis<|message|>a<|end|><|start|>functions.f to=assistant<|channel|>commentary<|message|>ok<|end|>"
     "<|start|>assistant<|channel|>final<|message|>b<|return|>"),
]


@pytest.mark.parametrize("text", COMPLETIONS)
def test_completions_agree_with_openai_harmony(text, encoding):
    from openai_harmony import Role

    ids = list(encoding.encode(text, allowed_special="all"))
    expected = encoding.parse_messages_from_completion_tokens(ids, Role.ASSISTANT)
    result = parse_tokens(ids)
    assert result.unparsed == ()
    _check_spans(ids, result)
    assert len(result.messages) == len(expected)
    for ours, theirs in zip(result.messages, expected):
        author = theirs.author.name or theirs.author.role.value
        assert ours.role == author
        assert ours.channel == theirs.channel
        assert ours.recipient == theirs.recipient
        assert ours.content_type == theirs.content_type
        assert ours.content == "".join(part.text for part in theirs.content)


def test_completion_detection_and_override(encoding):
    ids = list(encoding.encode("<|channel|>final<|message|>hi<|return|>", allowed_special="all"))
    assert parse_tokens(ids).messages[0].role == "assistant"
    forced = parse_tokens(ids, completion=False)  # as a whole conversation, the headless start is stray
    assert forced.messages == () and forced.unparsed[0].start == 0 and forced.unparsed[0].end == len(ids)
    prefilled = list(encoding.encode("just the answer<|return|>", allowed_special="all"))
    message = parse_tokens(prefilled, completion=True).messages[0]
    assert (message.role, message.channel, message.content, message.terminator) == (
        "assistant", None, "just the answer", "<|return|>")


# ---------------------------------------------------------------------------------------------------------------
# malformed inputs


def _parse(text: str, encoding, **kwargs) -> tuple[list[int], ParseResult]:
    ids = list(encoding.encode(text, allowed_special="all"))
    result = parse_tokens(ids, **kwargs)
    _check_spans(ids, result)
    return ids, result


def test_empty_input():
    assert parse_tokens([]) == ParseResult((), ())
    assert parse_tokens([]).to_json() == {"messages": [], "unparsed": []}


def test_channel_leaked_into_role(encoding):
    _, result = _parse("<|start|>assistant<|channel|>analysis<|channel|>final<|message|>x<|end|>", encoding)
    (message,) = result.messages
    assert message.role == "assistant<|channel|>analysis" and message.channel == "final"
    assert {"special-in-role", "channel-in-role"} <= set(message.anomalies)


def test_reasoning_text_after_constrain(encoding):
    _, result = _parse("<|start|>assistant to=functions.f<|channel|>commentary <|constrain|>json I will call it"
                       "<|message|>{}<|call|>", encoding)
    (message,) = result.messages
    assert message.content_type == "<|constrain|>json" and message.constrain_token
    assert "text-after-constrain" in message.anomalies
    assert (message.recipient, message.channel, message.content) == ("functions.f", "commentary", "{}")


def test_plain_text_json_and_channel_first_recipient(encoding):
    _, result = _parse("<|start|>assistant<|channel|>commentary to=functions.f json<|message|>{}<|call|>", encoding)
    (message,) = result.messages
    assert (message.content_type, message.constrain_token, message.header_order) == ("json", False, "channel-first")
    assert message.anomalies == ()


def test_unknown_role(encoding):
    _, result = _parse("<|start|>robot<|message|>beep<|end|><|start|>python<|message|>ok<|end|>", encoding)
    robot, python = result.messages
    assert robot.role == "robot" and "unknown-role" in robot.anomalies
    assert python.anomalies == ()


def test_missing_end_runs_to_next_start(encoding):
    ids, result = _parse("<|start|>user<|message|>hi<|start|>assistant<|channel|>final<|message|>yo<|end|>",
                         encoding)
    first, second = result.messages
    assert (first.content, first.terminator, first.anomalies) == ("hi", None, ("missing-end",))
    assert first.end == second.start and ids[second.start] == START
    assert (second.content, second.terminator) == ("yo", "<|end|>")
    assert result.unparsed == ()


def test_missing_end_runs_to_the_end(encoding):
    ids, result = _parse("<|start|>user<|message|>no terminator", encoding)
    (message,) = result.messages
    assert (message.content, message.terminator, message.end) == ("no terminator", None, len(ids))
    assert "missing-end" in message.anomalies


def test_stray_tokens_between_and_before_messages(encoding):
    _, result = _parse("junk before<|start|>user<|message|>hi<|end|>stray words<|end|><|start|>assistant"
                       "<|channel|>final<|message|>ok<|return|>", encoding, completion=False)
    assert [m.content for m in result.messages] == ["hi", "ok"]
    assert [u.text for u in result.unparsed] == ["junk before", "stray words<|end|>"]
    assert result.unparsed[0].start == 0


def test_header_without_message_in_the_middle(encoding):
    _, result = _parse("<|start|>user<|end|><|start|>assistant<|start|>user<|message|>x<|end|>", encoding)
    empty, bare, user = result.messages
    assert (empty.role, empty.terminator, empty.anomalies) == ("user", "<|end|>", ("missing-message",))
    assert (bare.role, bare.terminator, bare.anomalies) == ("assistant", None, ("missing-message",))
    assert (user.content, user.anomalies) == ("x", ())


def test_special_tokens_inside_content(encoding):
    _, result = _parse("<|start|>user<|message|>a<|channel|>b<|constrain|>c<|end|>", encoding)
    (message,) = result.messages
    assert message.content == "a<|channel|>b<|constrain|>c"
    assert "special-in-content" in message.anomalies


def test_out_of_vocab_ids_become_unparsed_spans(encoding):
    head = list(encoding.encode("<|start|>user<|message|>hi", allowed_special="all"))
    tail = list(encoding.encode("<|start|>assistant<|channel|>final<|message|>ok<|end|>", allowed_special="all"))
    ids = head + [999999, -3, 200007] + tail
    result = parse_tokens(ids)
    _check_spans(ids, result)
    first, second = result.messages
    assert (first.content, first.terminator) == ("hi", None)
    (span,) = result.unparsed
    assert (span.start, span.end) == (len(head), len(head) + 3)
    assert span.text == "<id 999999><id -3><|end|>"
    assert (second.channel, second.content) == ("final", "ok")


def test_multibyte_characters_split_across_tokens(encoding):
    text = "🙂🙂 ﷽ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢"
    _, result = _parse(f"<|start|>user<|message|>{text}<|end|>", encoding)
    assert result.messages[0].content == text


def test_parse_text_matches_parse_tokens(encoding):
    text = "<|start|>user<|message|>hello<|end|><|start|>assistant"
    assert parse_text(text) == parse_tokens(encoding.encode(text, allowed_special="all"))


def test_a_long_sequence_parses_fast(full_conversation):
    ids = (full_conversation[:-2] * 200)[:32768]
    parse_tokens(ids)  # warm up the encoding
    timings = []
    for _ in range(5):
        began = time.perf_counter()
        result = parse_tokens(ids)
        timings.append(time.perf_counter() - began)
    _check_spans(ids, result)
    assert len(result.messages) > 1000
    assert min(timings) < 0.25, timings  # target 50 ms (make bench); min and slack: robust on a busy machine

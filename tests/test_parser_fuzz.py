"""Fuzz: any sequence of ids (specials mixed in, sometimes out of the vocab) parses without raising, and every
token lands in exactly one message or unparsed span."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.render import parser as parser_module
from harness.render.parser import CALL, CHANNEL, CONSTRAIN, END, MESSAGE, RETURN, START, parse_tokens

HARMONY_SPECIALS = [START, MESSAGE, CHANNEL, CONSTRAIN, END, RETURN, CALL, 199998, 199999, 200013, 201087]
# Header-ish words, so headers with roles, `to=` and channel names come up often.
WORDS = [17360, 1428, 173781, 35644, 12606, 815, 17196, 316, 28, 44580, 775, 4108, 3056, 220, 198]

token = st.one_of(
    st.sampled_from(HARMONY_SPECIALS),
    st.sampled_from(WORDS),
    st.integers(0, 199997),
    st.integers(199998, 201087),
    st.integers(201088, 10**7) | st.integers(-(10**6), -1),  # out of the vocab
)
weighted = st.lists(st.one_of(st.sampled_from(HARMONY_SPECIALS), st.sampled_from(WORDS), token), max_size=80)


def _check(ids: list[int], completion: bool | None) -> None:
    # The internal parser has no safety net: a bug shows up here instead of as a `<parser error>` span.
    from harness.assets import harmony_encoding

    result = parser_module._Parser(list(ids), harmony_encoding()).parse(completion)
    spans = sorted([(m.start, m.end) for m in result.messages] + [(u.start, u.end) for u in result.unparsed])
    position = 0
    for start, end in spans:  # in bounds, no overlap, nothing dropped
        assert start == position and end > start, (ids, spans)
        position = end
    assert position == len(ids)
    for m in result.messages:
        assert m.start <= m.header_span[0] <= m.header_span[1] <= m.content_span[0] <= m.content_span[1] <= m.end
        assert m.terminator in (None, "<|end|>", "<|return|>", "<|call|>")
    for span in result.unparsed:
        for i in range(span.start, span.end):
            if not 0 <= ids[i] < 201088:
                assert f"<id {ids[i]}>" in span.text
    result.to_json()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ids=weighted, completion=st.sampled_from([None, True, False]))
def test_random_ids_never_raise(ids, completion, encoding):
    _check(ids, completion)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunks=st.lists(st.sampled_from([
    "<|start|>", "user", "assistant", " to=functions.f", "<|channel|>", "analysis", "commentary", " ",
    "<|constrain|>", "json", "<|message|>", "hi 🙂", "<|end|>", "<|return|>", "<|call|>", "<|endoftext|>",
]), max_size=30))
def test_harmony_shaped_text_never_raises(chunks, encoding):
    ids = list(encoding.encode("".join(chunks), allowed_special="all"))
    _check(ids, None)
    parse_tokens(ids)


def test_public_entry_point_accepts_odd_items():
    import numpy as np

    assert parse_tokens(np.array([START, 1428, MESSAGE, 5, END])).messages[0].role == "user"
    result = parse_tokens([START, 1428, MESSAGE, "x", 2.5, None, END])
    assert [u.text for u in result.unparsed] == ["<id 'x'><id 2.5><id None><|end|>"]

"""Label parsers: positive, negative, tricky and failing answers; bad specs are one clear HarnessError."""

from __future__ import annotations

import pytest

from harness.errors import HarnessError
from harness.labels import LabelParser, get_label_parser

SPAM_CODES = {"kind": "regex", "pattern": r"\b(SP(\d)(?:\.[a-z])?)\b", "group": 2, "fine_group": 1,
              "map": {"0": "0", "2": "1", "3": "1", "4": "1"}}
ZERO_ONE = {"kind": "regex", "pattern": r"(?<![\d.])([01])(?!\d|\.\d)", "labels": ["0", "1"]}
VIOLATION = {"kind": "json-field", "field": "violation", "labels": ["0", "1"]}
ENUM = {"kind": "enum", "labels": ["Violating", "Non-violating"]}
LIKERT = {"kind": "likert", "min": 1, "max": 5,
          "anchors": {"strongly disagree": 1, "disagree": 2, "neutral": 3, "agree": 4, "strongly agree": 5}}


def _parse(spec, text):
    return get_label_parser(spec).parse(text)


@pytest.mark.parametrize("text,label", [
    ("1", "1"), ("0", "0"), ("Answer: 1", "1"), ("0 - not toxic", "0"), ("**1**", "1"),
    ("Toxic? 1. (Scale 0/1 would also do.)", "1"),  # the first lone digit wins
    ("The score is 1.5 then 0", "0"),  # "1.5" is not a lone 1
])
def test_zero_one_regex(text, label):
    result = _parse(ZERO_ONE, text)
    assert (result.ok, result.label) == (True, label)


@pytest.mark.parametrize("text", ["", "toxic", "2", "10", "0.5"])
def test_zero_one_regex_failures_are_not_coerced(text):
    result = _parse(ZERO_ONE, text)
    assert result.ok is False and result.label is None and result.detail


def test_regex_map_and_fine_label_spam_codes():
    assert _parse(SPAM_CODES, "SP2.a - likely spam").label == "1"
    assert _parse(SPAM_CODES, "SP2.a - likely spam").fine_label == "SP2.a"
    assert _parse(SPAM_CODES, "Level: SP0").label == "0"
    unmapped = _parse(SPAM_CODES, "SP9")
    assert unmapped.ok is False and unmapped.label is None and unmapped.fine_label == "SP9"
    assert _parse(SPAM_CODES, "spam, obviously").ok is False


def test_regex_last_match_option():
    spec = {**ZERO_ONE, "match": "last"}
    assert _parse(spec, "first I thought 1, final answer 0").label == "0"
    assert _parse(ZERO_ONE, "first I thought 1, final answer 0").label == "1"


@pytest.mark.parametrize("text,label", [
    ('{"violation": 1, "rationale": "prize scam"}', "1"),
    ('{"violation": 0, "rationale": "a personal note"}', "0"),
    ('```json\n{"violation": 1, "rationale": "has {braces} inside"}\n```', "1"),
    ('Thinking {"draft": true}. Final: {"violation": 0}', "0"),
    ('{"violation": 1} on reflection {"violation": 0, "rationale": "x"}', "0"),  # the last object wins
    ('{"violation": true}', "1"), ('{"violation": "0"}', "0"), ('{"violation": 1.0}', "1"),
    ('{"result": {"violation": 1}, "note": "nested objects are skipped over"} {"violation": 0}', "0"),
])
def test_json_field(text, label):
    result = _parse(VIOLATION, text)
    assert (result.ok, result.label) == (True, label), result


@pytest.mark.parametrize("text", [
    "violation: 1", '{"violation": 2}', '{"violation": null}', '{"violation": [1]}', '{"rationale": "no field"}',
    '{"violation": 1', "",
])
def test_json_field_failures(text):
    result = _parse(VIOLATION, text)
    assert result.ok is False and result.label is None and result.detail


def test_json_field_nested_fine_and_score_fields():
    spec = {"kind": "json-field", "field": "result.violation", "fine_field": "result.category",
            "score_field": "confidence", "labels": ["0", "1"]}
    result = _parse(spec, '{"result": {"violation": 1, "category": "phishing"}, "confidence": 0.75}')
    assert (result.label, result.fine_label, result.score) == ("1", "phishing", 0.75)


@pytest.mark.parametrize("text,label", [
    ("Violating", "Violating"), ("Non-violating", "Non-violating"), ("non-violating", "Non-violating"),
    ("NON-VIOLATING", "Non-violating"), ("**Violating**", "Violating"), ("Non violating.", "Non-violating"),
    ("Label: Non_violating", "Non-violating"), ("The listing is violating the policy.", "Violating"),
])
def test_enum_whole_labels_longest_first(text, label):
    result = _parse(ENUM, text)
    assert (result.ok, result.label) == (True, label), result


@pytest.mark.parametrize("text", ["", "It breaks the rules", "Violatingly bad", "unviolating", "prenon-violating"])
def test_enum_failures(text):
    result = _parse(ENUM, text)
    assert result.ok is False and result.label is None


def test_enum_match_strategies_and_aliases():
    text = "Non-violating; an earlier draft said Violating"
    assert _parse(ENUM, text).label == "Non-violating"
    assert _parse({**ENUM, "match": "last"}, text).label == "Violating"
    ambiguous = _parse({**ENUM, "match": "unique"}, text)
    assert ambiguous.ok is False and "ambiguous" in ambiguous.detail
    aliased = {**ENUM, "aliases": {"allowed": "Non-violating", "not allowed": "Violating"}}
    assert _parse(aliased, "Not allowed").label == "Violating"  # the longer alias wins over "allowed"
    assert _parse(aliased, "allowed").label == "Non-violating"


@pytest.mark.parametrize("text,label", [
    ("4", "4"), ("**5**", "5"), ("Rating: 3", "3"), ("4/5", "4"), ("2 out of 5", "2"),
    ("On a scale of 1 to 5, I would say 4.", "4"), ("I strongly agree", "5"), ("I disagree.", "2"),
    ("Agree (4)", "4"), ("I would put it at 4 on a scale of 1 to 5.", "4"),
])
def test_likert(text, label):
    parser = get_label_parser(LIKERT)
    result = parser.parse(text)
    assert (result.ok, result.label, result.score) == (True, label, float(label)), result
    assert parser.ordinal is True and parser.labels == ("1", "2", "3", "4", "5")


@pytest.mark.parametrize("text,why", [
    ("7", "outside"), ("Rating: 0", "outside"), ("2 or 3", "ambiguous"), ("3.5", "no rating"),
    ("I have no opinion", "no rating"), ("", "no rating"),
])
def test_likert_failures(text, why):
    result = _parse(LIKERT, text)
    assert result.ok is False and result.label is None and why in result.detail


def test_every_parser_satisfies_the_protocol():
    for spec in (SPAM_CODES, ZERO_ONE, VIOLATION, ENUM, LIKERT):
        parser = get_label_parser(spec)
        assert isinstance(parser, LabelParser)
        assert parser.parse("garbage that matches nothing ~~~").ok is False


@pytest.mark.parametrize("spec,needle", [
    ({"kind": "regexp", "pattern": "x"}, "unknown kind"),
    ({"pattern": "x"}, "unknown kind"),
    ({"kind": "regex"}, "needs a `pattern`"),
    ({"kind": "regex", "pattern": "(unclosed"}, "invalid regex"),
    ({"kind": "regex", "pattern": "(a)", "group": 3}, "no group"),
    ({"kind": "regex", "pattern": "a", "patern": "b"}, "unknown key 'patern'"),
    ({"kind": "json-field"}, "needs a `field`"),
    ({"kind": "enum"}, "needs `labels`"),
    ({"kind": "enum", "labels": []}, "non-empty list"),
    ({"kind": "enum", "labels": ["A"], "aliases": {"x": "B"}}, "alias"),
    ({"kind": "enum", "labels": ["A"], "match": "best"}, "`match`"),
    ({"kind": "likert", "min": 5, "max": 1}, "min < max"),
    ({"kind": "likert", "anchors": {"agree": 9}}, "anchors"),
    ({"kind": "module"}, "needs a `path`"),
    ("json", "must be a table"),
])
def test_bad_specs(spec, needle):
    with pytest.raises(HarnessError) as info:
        get_label_parser(spec)
    assert needle in str(info.value)
    assert "\n" not in str(info.value)

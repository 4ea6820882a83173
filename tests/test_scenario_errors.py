"""Bad scenario files: one HarnessError naming file and line (and via the CLI: exit 2, one line, no traceback);
policy modules: every broken module is one clear error at load, a raising parse fails one case only."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from conftest import assert_clean_error, run_harness

from harness.errors import HarnessError
from harness.labels import get_label_parser
from harness.labels.module import coerce_result, load_policy_module
from harness.scenario import load_scenario

GOOD_HEAD = 'name = "t"\npolicy = "Answer 1 or 0."\nlabel = { kind = "regex", pattern = "([01])", labels = ["0", "1"] }\n'
ONE_CASE = '\n[[cases]]\nid = "a"\ntext = "hello"\ngold = "0"\n'
TINY = '\n[tiny_model]\ncases = "spam"\norder = 1\n'  # lines 10-12 after GOOD_HEAD + ONE_CASE


def _write(tmp_path: Path, text: str, name: str = "bad.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def _error(path: Path) -> str:
    with pytest.raises(HarnessError) as info:
        load_scenario(path)
    message = str(info.value)
    assert "\n" not in message
    return message


# (file name, content, line the error must name, words the message must hold)
CASES = {
    "missing-policy": ("bad.toml", 'name = "t"\nlabel = { kind = "enum", labels = ["A"] }\n' + ONE_CASE, 1,
                       "missing policy"),
    "empty-policy": ("bad.toml", 'name = "t"\npolicy = "  "\nlabel = { kind = "enum", labels = ["A"] }\n' + ONE_CASE,
                     2, "missing policy"),
    "unknown-format": ("bad.toml", GOOD_HEAD + 'prompt_format = "policy-in-user"\n' + ONE_CASE, 4,
                       "unknown prompt format 'policy-in-user'"),
    "unknown-format-in-list": ("bad.toml", 'prompt_formats = ["policy-in-system", "raw"]\n' + GOOD_HEAD + ONE_CASE,
                               1, "unknown prompt format 'raw'"),
    "bad-label-kind": ("bad.toml", 'policy = "p"\n\n\nlabel = { kind = "vibes" }\n' + ONE_CASE, 4,
                       "bad label parser: label: unknown kind 'vibes'"),
    "bad-label-regex": ("bad.toml", 'policy = "p"\n[label]\nkind = "regex"\npattern = "(oops"\n' + ONE_CASE, 2,
                        "invalid regex"),
    "missing-label": ("bad.toml", 'policy = "p"\n' + ONE_CASE, 1, "missing `label`"),
    "no-cases": ("bad.toml", GOOD_HEAD, 1, "no cases"),
    "empty-cases": ("bad.toml", GOOD_HEAD + "cases = []\n", 4, "no cases"),
    "not-toml": ("bad.toml", "This is just a paragraph of prose,\nnot a scenario at all.\n", 1, "not valid TOML"),
    "toml-syntax-late": ("bad.toml", GOOD_HEAD + ONE_CASE + 'gold = "1"\n[[cases]\n', 9, "not valid TOML"),
    "not-yaml": ("bad.yaml", "name: t\npolicy: [unclosed\nlabel: x\n", 3, "not valid YAML"),
    "yaml-scalar": ("bad.yaml", "just some words\n", 1, "not a scenario"),
    "neither": ("bad.txt", "just {{{ words: [\n", 1, "neither TOML nor YAML"),
    "unknown-key": ("bad.toml", GOOD_HEAD + 'reasoning = "low"\n' + ONE_CASE, 4, "unknown key 'reasoning'"),
    "bad-effort": ("bad.toml", GOOD_HEAD + 'reasoning_effort = "max"\n' + ONE_CASE, 4, "reasoning_effort"),
    "gold-not-a-label": ("bad.toml", GOOD_HEAD + ONE_CASE + '\n[[cases]]\nid = "b"\ntext = "x"\ngold = "2"\n', 11,
                         "gold '2' is not one of 0, 1"),
    "case-without-text": ("bad.toml", GOOD_HEAD + '\n[[cases]]\nid = "a"\ntext = "t"\n\n[[cases]]\nid = "b"\ngold = "1"\n', 10,
                          "exactly one of `text` or `messages`"),
    "case-without-id": ("bad.toml", GOOD_HEAD + ONE_CASE + '\n[[cases]]\ntext = "x"\n', 10, "needs an `id`"),
    "duplicate-id": ("bad.toml", GOOD_HEAD + ONE_CASE + ONE_CASE, 11, "duplicate case id 'a'"),
    "bad-message-role": ("bad.toml", GOOD_HEAD + '\n[[cases]]\nid = "m"\nmessages = [{role = "robot", content = "x"}]\n',
                         6, "unknown role 'robot'"),
    "bad-tools": ("bad.toml", GOOD_HEAD + 'tools = [{description = "no name"}]\n' + ONE_CASE, 4, "tools[0]"),
    "missing-policy-file": ("bad.toml", 'policy_file = "nope.md"\nlabel = { kind = "enum", labels = ["A"] }\n'
                            + ONE_CASE, 1, "policy_file 'nope.md' does not exist"),
    "missing-cases-file": ("bad.toml", GOOD_HEAD + 'cases_file = "nope.jsonl"\n', 4, "cases_file 'nope.jsonl'"),
    "tiny-model-unknown-key": ("bad.toml", GOOD_HEAD + ONE_CASE + TINY + 'weigth = 2\n', 13,
                               "tiny_model: unknown key 'weigth' (allowed: answers, cases, order, weight)"),
    "tiny-model-no-cases": ("bad.toml", GOOD_HEAD + ONE_CASE + '\n[tiny_model]\norder = 1\n', 10,
                            "tiny_model: `cases` must name a case generator"),
    "tiny-model-bad-weight": ("bad.toml", GOOD_HEAD + ONE_CASE + TINY + 'weight = 0\n', 13,
                              "`weight` must be a positive number"),
    "tiny-model-no-order": ("bad.toml", GOOD_HEAD + ONE_CASE + '\n[tiny_model]\ncases = "spam"\n', 10,
                            "`order` must be an integer"),
    "tiny-model-answer-not-a-label": ("bad.toml", GOOD_HEAD + ONE_CASE + TINY + 'answers = { "2" = "two" }\n', 13,
                                      "answers: '2' is not one of the labels 0, 1"),
    "tiny-model-not-a-table": ("bad.toml", GOOD_HEAD + 'tiny_model = "spam"\n' + ONE_CASE, 4,
                               "`tiny_model` must be a table"),
}


@pytest.mark.parametrize("key", sorted(CASES))
def test_bad_scenario_names_file_and_line(tmp_path, key):
    name, content, line, words = CASES[key]
    path = _write(tmp_path, content, name)
    message = _error(path)
    assert message.startswith(f"{path}:{line}: "), message
    assert words in message, message


def test_binary_file_is_not_a_scenario(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_bytes(b"name = 1\n\xff\xfe\x00garbage")
    assert _error(path).startswith(f"{path}:2: not a scenario file")


def test_jsonl_line_that_is_not_json_names_the_jsonl_file_and_line(tmp_path):
    jsonl = tmp_path / "cases.jsonl"
    jsonl.write_text('{"id": "a", "text": "x", "gold": "0"}\n\n{"id": "b", "text": "y"\n')
    path = _write(tmp_path, GOOD_HEAD + 'cases_file = "cases.jsonl"\n')
    message = _error(path)
    assert message.startswith(f"{jsonl}:3: not JSON"), message


def test_jsonl_line_that_is_not_an_object(tmp_path):
    (tmp_path / "cases.jsonl").write_text('{"id": "a", "text": "x"}\n[1, 2]\n')
    path = _write(tmp_path, GOOD_HEAD + 'cases_file = "cases.jsonl"\n')
    assert _error(path).startswith(f"{tmp_path / 'cases.jsonl'}:2: a case must be a table")


def test_missing_file_and_unknown_name():
    with pytest.raises(HarnessError, match="no scenario file or built-in scenario named 'nope'.*spam"):
        load_scenario("nope")


@pytest.mark.parametrize("key", ["unknown-format", "not-toml", "bad-label-kind", "no-cases"])
def test_cli_validate_bad_file_exits_2_with_one_line(tmp_path, key):
    name, content, line, words = CASES[key]
    path = _write(tmp_path, content, name)
    done = run_harness("scenarios", "--validate", str(path))
    assert_clean_error(done, 2)
    assert f"{path}:{line}: " in done.stderr and words in done.stderr


def test_cli_validate_bad_jsonl_exits_2(tmp_path):
    (tmp_path / "cases.jsonl").write_text("not json at all\n")
    path = _write(tmp_path, GOOD_HEAD + 'cases_file = "cases.jsonl"\n')
    done = run_harness("scenarios", "--validate", str(path))
    assert_clean_error(done, 2)
    assert f"{tmp_path / 'cases.jsonl'}:1: not JSON" in done.stderr


def test_cli_validate_good_file_exits_0(tmp_path):
    path = _write(tmp_path, GOOD_HEAD + ONE_CASE)
    done = run_harness("scenarios", "--validate", str(path))
    assert done.returncode == 0 and "ok:" in done.stdout and "1 cases" in done.stdout


# ---------------------------------------------------------------------------------------------------------------
# policy modules

GOOD_MODULE = '''
POLICY = "Flag spam. Answer SPAM or HAM."

def parse(response):
    text = response.strip().upper()
    if text not in ("SPAM", "HAM"):
        return {"binary_label": None, "parsed_successfully": False}
    return {"binary_label": int(text == "SPAM"), "category": text.lower(), "score": 0.5,
            "parsed_successfully": True}
'''


def _module_scenario(tmp_path: Path, module_source: str, md: str | None = None) -> Path:
    (tmp_path / "pol").mkdir(exist_ok=True)
    (tmp_path / "pol" / "mod.py").write_text(textwrap.dedent(module_source))
    if md is not None:
        (tmp_path / "pol" / "mod.md").write_text(md)
    return _write(tmp_path, 'name = "m"\n\npolicy_module = "pol/mod.py"\n' + ONE_CASE)


def test_policy_module_happy_path(tmp_path):
    scenario = load_scenario(_module_scenario(tmp_path, GOOD_MODULE))
    assert scenario.policy == "Flag spam. Answer SPAM or HAM."
    assert scenario.request_for(scenario.cases[0]).messages[0].content == scenario.policy
    parser = scenario.label_parser()
    spam = parser.parse(" spam ")
    assert (spam.ok, spam.label, spam.fine_label, spam.score) == (True, "1", "spam", 0.5)
    assert parser.parse("HAM").label == "0"
    failed = parser.parse("maybe")
    assert (failed.ok, failed.label) == (False, None)


def test_policy_module_policy_from_sibling_markdown(tmp_path):
    source = "def parse(response):\n    return response.strip()\n"
    scenario = load_scenario(_module_scenario(tmp_path, source, md="# Policy from markdown\n\nAnswer 0 or 1.\n"))
    assert scenario.policy == "# Policy from markdown\n\nAnswer 0 or 1."
    assert scenario.label_parser().parse("1").label == "1"
    outside = scenario.label_parser().parse("7")  # outside the default LABELS ("0", "1")
    assert outside.ok is False and "not one of" in outside.detail


def test_parse_raising_fails_that_case_only(tmp_path):
    source = '''
        POLICY = "p"
        def parse(response):
            if "boom" in response:
                raise ValueError("cannot read this answer")
            return (1, "fine", 0.9, True)
    '''
    parser = load_scenario(_module_scenario(tmp_path, source)).label_parser()
    broken = parser.parse("boom")
    assert broken.ok is False and broken.label is None
    assert broken.detail == "parse raised ValueError: cannot read this answer"
    assert parser.parse("fine").label == "1"  # the next answer still parses


BROKEN_MODULES = {
    "import-error": ('import module_that_does_not_exist_anywhere\nPOLICY = "p"\ndef parse(r):\n    return 1\n',
                     "failed to import: ModuleNotFoundError"),
    "raises-at-import": ('raise RuntimeError("config missing")\n', "failed to import: RuntimeError: config missing"),
    "syntax-error": ("POLICY = 'p'\ndef parse(r)\n    return 1\n", "failed to import: SyntaxError"),
    "exits-at-import": ("import sys\nsys.exit(3)\n", "failed to import: SystemExit"),
    "no-policy": ("def parse(r):\n    return 1\n", "defines no POLICY string and has no sibling mod.md"),
    "no-parse": ('POLICY = "p"\n', "defines no parse(response) function"),
    "parse-not-callable": ('POLICY = "p"\nparse = "nope"\n', "defines no parse(response) function"),
    "bad-labels": ('POLICY = "p"\nLABELS = "01"\ndef parse(r):\n    return 1\n', "LABELS must be"),
}


@pytest.mark.parametrize("key", sorted(BROKEN_MODULES))
def test_broken_policy_module_is_one_clear_error_at_load(tmp_path, key):
    source, words = BROKEN_MODULES[key]
    path = _module_scenario(tmp_path, source)
    message = _error(path)
    assert message.startswith(f"{path}:3: "), message  # the policy_module line
    assert "policy module 'pol/mod.py'" in message and words in message, message


def test_missing_policy_module_file(tmp_path):
    path = _write(tmp_path, 'policy_module = "pol/absent.py"\n' + ONE_CASE)
    assert _error(path).startswith(f"{path}:1: policy module 'pol/absent.py': no such file")


def test_cli_broken_module_exits_2(tmp_path):
    path = _module_scenario(tmp_path, BROKEN_MODULES["raises-at-import"][0])
    done = run_harness("scenarios", "--validate", str(path))
    assert_clean_error(done, 2)
    assert "config missing" in done.stderr


def test_module_label_kind_with_a_dotted_module_name(tmp_path, monkeypatch):
    (tmp_path / "my_site_policy.py").write_text('POLICY = "p"\ndef parse(r):\n    return {"label": r.strip()}\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    parser = get_label_parser({"kind": "module", "module": "my_site_policy"})
    assert parser.parse(" 0 ").label == "0"
    assert load_policy_module("my_site_policy").policy == "p"


@pytest.mark.parametrize("value,expected", [
    ({"binary_label": True, "fine_label": "SP3", "score": 0.7, "parsed_successfully": True}, ("1", True, "SP3", 0.7)),
    ({"label": 0, "category": "none", "ok": True}, ("0", True, "none", None)),
    ({"violation": 1, "confidence": 1}, ("1", True, None, 1.0)),
    ({"label": 1, "parsed_successfully": False}, (None, False, None, None)),  # reported failure: never coerced
    ((1, "sp2", 0.2, True), ("1", True, "sp2", 0.2)),
    ((0,), ("0", True, None, None)),
    ([None, None, None, False], (None, False, None, None)),
    ("1", ("1", True, None, None)), (False, ("0", True, None, None)),
    (None, (None, False, None, None)), ({"unrelated": 1}, (None, False, None, None)),
])
def test_coerce_result_shapes(value, expected):
    result = coerce_result(value)
    assert (result.label, result.ok, result.fine_label, result.score) == expected


def test_coerce_result_dataclass_and_object():
    from dataclasses import dataclass

    @dataclass
    class Verdict:
        binary_label: int
        fine_label: str
        score: float
        parsed_successfully: bool

    result = coerce_result(Verdict(1, "phishing", 0.95, True))
    assert (result.label, result.fine_label, result.score, result.ok) == ("1", "phishing", 0.95, True)
    assert json.dumps(result.label) == '"1"'

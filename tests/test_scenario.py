"""Built-in scenarios load and build valid requests; prompt formats, datasets, limits and fingerprints."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import ROOT, run_harness

from harness.errors import HarnessError
from harness.request import ChatRequest
from harness.scenario import (
    PROMPT_FORMATS,
    Case,
    Scenario,
    available_scenarios,
    harmony_preamble,
    load_scenario,
)

BUILT_IN = ["spam", "toxic-simple", "likert-opinions", "tool-calls", "prompt-formats", "spam-module"]


def test_available_scenarios_lists_the_built_ins():
    assert set(BUILT_IN) <= set(available_scenarios())


@pytest.mark.parametrize("name", BUILT_IN)
def test_built_in_scenario_loads_and_builds_requests(name):
    scenario = load_scenario(name)
    assert isinstance(scenario, Scenario) and scenario.name == name
    assert scenario.path == (ROOT / "scenarios" / f"{name}.toml").resolve()
    assert scenario.cases and len({c.id for c in scenario.cases}) == len(scenario.cases)
    parser = scenario.label_parser()
    for case_id, request in scenario.requests():
        assert isinstance(request, ChatRequest)
        # a request survives the wire: what a backend would send parses back to the same request
        assert ChatRequest.from_body(json.loads(json.dumps(request.to_body()))) == request
        assert request.reasoning_effort == scenario.reasoning_effort
        case = scenario.case(case_id)
        if case.gold is not None and parser.labels is not None:
            assert case.gold in parser.labels
        fmt = case.prompt_format or scenario.prompt_format
        first = request.messages[0]
        if fmt == "policy-in-system":
            assert (first.role, first.content) == ("system", scenario.policy)
        elif fmt == "policy-in-developer":
            assert (first.role, first.content) == ("developer", scenario.policy)
        else:
            assert first.role == "user" and first.content.startswith("<|start|>system<|message|>")
            assert scenario.policy in first.content


def test_spam_is_balanced_with_json_answers():
    scenario = load_scenario("spam")
    golds = [c.gold for c in scenario.cases]
    assert 30 <= len(golds) <= 40 and golds.count("1") == golds.count("0")
    assert scenario.label["kind"] == "json-field" and '"violation"' in scenario.policy
    assert all(c.text and c.messages is None for c in scenario.cases)


def test_likert_scenario_is_ordinal():
    parser = load_scenario("likert-opinions").label_parser()
    assert parser.ordinal is True and parser.labels == ("1", "2", "3", "4", "5")


def test_tool_calls_scenario_carries_tools_calls_and_results():
    scenario = load_scenario("tool-calls")
    assert {t["function"]["name"] for t in scenario.tools} == {"lookup_seller", "check_url"}
    multi_call = False
    for case in scenario.cases:
        request = scenario.request_for(case)
        assert {t.name for t in request.tools} == {"lookup_seller", "check_url"}
        calls = [call for m in request.messages if m.role == "assistant" for call in m.tool_calls]
        results = [m for m in request.messages if m.role == "tool"]
        assert calls and results
        assert {r.tool_call_id for r in results} <= {c.id for c in calls}
        assert all(isinstance(json.loads(c.arguments), dict) for c in calls)
        assert request.messages[-1].role == "tool"  # the model answers after the last tool result
        multi_call |= len(calls) > 1
    assert multi_call
    assert any(m.reasoning for c in scenario.cases for m in scenario.request_for(c).messages)
    # earlier turns with a final answer (history) are kept as assistant content
    history = scenario.request_for(scenario.case("second-listing-counterfeit"))
    assert [m.role for m in history.messages][:4] == ["developer", "user", "assistant", "user"]


def test_prompt_formats_expands_every_case_under_every_format():
    scenario = load_scenario("prompt-formats")
    assert scenario.prompt_formats == PROMPT_FORMATS
    base_ids = {c.meta["base_id"] for c in scenario.cases}
    assert len(scenario.cases) == len(base_ids) * len(PROMPT_FORMATS)
    for case in scenario.cases:
        assert case.id == f"{case.meta['base_id']}@{case.prompt_format}"
    one = {c.prompt_format: scenario.request_for(c) for c in scenario.cases if c.meta["base_id"] == "moved"}
    assert [m.role for m in one["policy-in-system"].messages] == ["system", "user"]
    assert [m.role for m in one["policy-in-developer"].messages] == ["developer", "user"]
    assert [m.role for m in one["inject-harmony"].messages] == ["user"]
    injected = one["inject-harmony"].messages[0].content
    assert injected.endswith(scenario.case("moved@policy-in-system").text)
    limited = load_scenario("prompt-formats", limit=2)  # limit counts base cases, before expansion
    assert len(limited.cases) == 2 * len(PROMPT_FORMATS)


def test_inject_harmony_preamble_is_what_openai_harmony_renders(encoding):
    """The injected text must be a faithful Harmony preamble, else the double-render scenario tests nothing."""
    from openai_harmony import Conversation, DeveloperContent, Message, ReasoningEffort, Role, SystemContent

    policy = load_scenario("prompt-formats").policy
    conversation = Conversation.from_messages([
        Message.from_role_and_content(Role.SYSTEM, SystemContent.new().with_reasoning_effort(ReasoningEffort.LOW)),
        Message.from_role_and_content(Role.DEVELOPER, DeveloperContent.new().with_instructions(policy)),
    ])
    rendered = encoding.decode(encoding.render_conversation(conversation))
    assert harmony_preamble(policy, "low") == rendered


def test_spam_module_uses_the_module_policy_and_parser():
    scenario = load_scenario("spam-module")
    md = (ROOT / "scenarios" / "policies" / "spam_policy.md").read_text()
    assert scenario.policy == md.strip()
    assert scenario.label["kind"] == "module"
    parser = scenario.label_parser()
    result = parser.parse('{"level": "SP4", "confidence": 0.9}')
    assert (result.ok, result.label, result.fine_label, result.score) == (True, "1", "SP4", 0.9)
    assert parser.parse("SP0 - just a chess club reminder").label == "0"
    failed = parser.parse("I cannot tell")
    assert failed.ok is False and failed.label is None


def test_fingerprint_is_stable_and_tracks_content(tmp_path):
    first, again = load_scenario("spam"), load_scenario("spam")
    assert first.fingerprint() == again.fingerprint() and len(first.fingerprint()) == 64
    copy = tmp_path / "spam.toml"
    copy.write_text((ROOT / "scenarios" / "spam.toml").read_text())
    assert load_scenario(copy).fingerprint() == first.fingerprint()  # the path is not part of it
    copy.write_text(copy.read_text().replace("FREE iPhone 16", "FREE iPhone 17"))
    assert load_scenario(copy).fingerprint() != first.fingerprint()
    copy.write_text((ROOT / "scenarios" / "spam.toml").read_text().replace('"low"', '"high"'))
    assert load_scenario(copy).fingerprint() != first.fingerprint()
    assert load_scenario("spam", limit=5).fingerprint() != first.fingerprint()



def test_tiny_model_table_is_kept_and_left_out_of_the_fingerprint(tmp_path):
    """What the offline tiny model learns is declared by the scenario; it changes no request and no label, so a
    scenario's fingerprint (and the result-store keys that use it) is the same with or without the table."""
    spam = load_scenario("spam")
    assert spam.tiny_model == {"cases": "spam", "weight": 1.0, "order": 1, "answers": {
        "0": '{"violation": 0, "rationale": "Not spam under the policy."}',
        "1": '{"violation": 1, "rationale": "Spam under the policy."}'}}
    assert load_scenario("likert-opinions").tiny_model["answers"] == {}  # digits: the label is the answer
    assert load_scenario("tool-calls").tiny_model is None
    text = (ROOT / "scenarios" / "spam.toml").read_text()
    copy = tmp_path / "spam.toml"
    copy.write_text(text[:text.index("[tiny_model]")])
    without = load_scenario(copy)
    assert without.tiny_model is None and without.fingerprint() == spam.fingerprint()
    copy.write_text(text.replace("weight = 1.0", "weight = 2.0"))
    assert load_scenario(copy).fingerprint() == spam.fingerprint()

def test_module_fingerprint_tracks_the_parser_code(tmp_path):
    shutil.copytree(ROOT / "scenarios" / "policies", tmp_path / "policies")
    shutil.copy(ROOT / "scenarios" / "spam-module.toml", tmp_path)
    shutil.copy(ROOT / "scenarios" / "spam-module.jsonl", tmp_path)
    before = load_scenario(tmp_path / "spam-module.toml").fingerprint()
    module = tmp_path / "policies" / "spam_policy.py"
    module.write_text(module.read_text() + "\n# parser changed\n")
    assert load_scenario(tmp_path / "spam-module.toml").fingerprint() != before


def test_yaml_scenario_with_cases_file(tmp_path):
    (tmp_path / "cases.jsonl").write_text('{"id": "a", "text": "hello", "gold": 0}\n\n'
                                          '{"id": "b", "text": "BUY NOW", "gold": 1, "source": "x"}\n')
    (tmp_path / "mini.yaml").write_text(
        "name: mini\npolicy: |\n  Spam or not. Answer 1 or 0.\nprompt_format: policy-in-developer\n"
        "label:\n  kind: regex\n  pattern: '([01])'\n  labels: ['0', '1']\ncases_file: cases.jsonl\n"
        "cases:\n  - id: c\n    text: inline case\n")
    scenario = load_scenario(tmp_path / "mini.yaml")
    assert [c.id for c in scenario.cases] == ["c", "a", "b"]
    assert [c.gold for c in scenario.cases] == [None, "0", "1"]
    assert scenario.case("b").meta == {"source": "x"}
    assert scenario.request_for(scenario.case("a")).messages[0].role == "developer"


def test_sampling_table_is_sent_with_every_case(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('policy = "p"\nlabel = {kind = "enum", labels = ["A", "B"]}\n'
                    'sampling = {temperature = 0.0, seed = 7, max_tokens = 64}\n'
                    '[[cases]]\nid = "x"\ntext = "t"\n')
    body = load_scenario(path).request_for(load_scenario(path).cases[0]).to_body()
    assert (body["temperature"], body["seed"], body["max_tokens"]) == (0.0, 7, 64)


def _dataset_scenario(tmp_path: Path, dataset: str, cases: str = "") -> Path:
    path = tmp_path / "ds.toml"
    path.write_text('policy = "p"\nlabel = {kind = "regex", pattern = "([01])", labels = ["0", "1"]}\n'
                    f"{dataset}\n{cases}")
    return path


def test_dataset_needs_network_offline(tmp_path):
    path = _dataset_scenario(tmp_path, '[dataset]\nid = "lmsys/toxic-chat"\nconfig = "toxicchat0124"\n'
                                       'split = "test"\ntext_field = "user_input"\nlabel_field = "toxicity"')
    with pytest.raises(HarnessError) as info:
        load_scenario(path)
    assert str(info.value) == f"{path}:3: dataset lmsys/toxic-chat needs network; pass --online"


def test_toxic_simple_offline_uses_inline_cases():
    scenario = load_scenario("toxic-simple")
    assert scenario.dataset["id"] == "lmsys/toxic-chat" and len(scenario.cases) == 20
    assert {c.gold for c in scenario.cases} == {"0", "1"}


def test_local_dataset_sampling_is_seeded_and_balanced(tmp_path):
    import pandas as pd

    frame = pd.DataFrame({"conv": [f"c{i}" for i in range(60)], "user_input": [f"text {i}" for i in range(60)],
                          "toxicity": [1 if i % 6 == 0 else 0 for i in range(60)]})  # 10 toxic, 50 not
    frame.to_parquet(tmp_path / "data.parquet")
    spec = ('[dataset]\npath = "data.parquet"\ntext_field = "user_input"\nlabel_field = "toxicity"\n'
            'id_field = "conv"\nsample = 16\nseed = 3\nbalanced = true')
    path = _dataset_scenario(tmp_path, spec, cases='[[cases]]\nid = "inline"\ntext = "replaced"\n')
    first = load_scenario(path)
    golds = [c.gold for c in first.cases]
    assert len(golds) == 16 and golds.count("1") == golds.count("0") == 8
    assert "inline" not in {c.id for c in first.cases}  # an available dataset replaces inline cases
    assert all(c.text == f"text {c.id[1:]}" for c in first.cases)
    assert [c.id for c in load_scenario(path).cases] == [c.id for c in first.cases]
    other_seed = load_scenario(_dataset_scenario(tmp_path, spec.replace("seed = 3", "seed = 4")))
    assert [c.id for c in other_seed.cases] != [c.id for c in first.cases]
    unbalanced = load_scenario(_dataset_scenario(tmp_path, spec.replace("balanced = true", "balanced = false")))
    assert len(unbalanced.cases) == 16


def test_bare_name_resolves_from_another_directory(tmp_path):
    done = run_harness("scenarios", "--validate", "tool-calls", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["ok"] is True and info["name"] == "tool-calls" and info["tools"] == 2


def test_cli_lists_built_in_scenarios():
    done = run_harness("scenarios", "--json")
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: row for row in json.loads(done.stdout)}
    assert set(BUILT_IN) <= set(rows)
    assert rows["spam"]["cases"] == len(load_scenario("spam").cases)
    assert rows["likert-opinions"]["ordinal"] is True
    assert rows["prompt-formats"]["prompt_format"] == ",".join(PROMPT_FORMATS)
    table = run_harness("scenarios")
    assert table.returncode == 0 and "tool-calls" in table.stdout and "json-field" in table.stdout


def test_case_records_are_frozen():
    case = load_scenario("spam").cases[0]
    assert isinstance(case, Case)
    with pytest.raises(AttributeError):
        case.text = "changed"  # type: ignore[misc]


def test_a_policy_module_runs_once_per_load_and_again_when_edited(tmp_path):
    from harness.scenario import load_scenario

    counter = tmp_path / "imports.txt"
    module = tmp_path / "policy.py"
    source = ("from pathlib import Path\n"
              f"_log = Path({str(counter)!r})\n"
              "_log.write_text(_log.read_text() + 'x' if _log.exists() else 'x')\n"
              "POLICY = 'Label 1 for spam, else 0.'\n"
              "def parse(response):\n    return {'label': response.strip(), 'ok': True}\n")
    module.write_text(source)
    (tmp_path / "s.toml").write_text('name = "s"\npolicy_module = "policy.py"\n[[cases]]\nid = "a"\ntext = "hi"\n')
    scenario = load_scenario(tmp_path / "s.toml")
    assert scenario.label_parser().parse("1").label == "1"
    assert counter.read_text() == "x"  # POLICY and parse came from one execution of the module
    module.write_text(source.replace("else 0.", "else 0!"))
    assert load_scenario(tmp_path / "s.toml").policy.endswith("else 0!")
    assert counter.read_text() == "xx"

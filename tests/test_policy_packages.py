"""Policy modules written for gpt_oss_utils_dactile run unchanged (issue 13.1): `parse(response)` gets the answer
as a str that also carries dactile's ModelResponse fields; a package with relative imports loads by dotted name
or file path; a dataclass result is read fully (dict fine label as sorted JSON, float_label, metadata); an upstream
bug is that answer's parse failure; a missing third-party package is one line with the pip command."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from conftest import assert_clean_error, run_harness

from harness.errors import HarnessError
from harness.labels import ModelResponse
from harness.labels.module import coerce_result, load_policy_module
from harness.scenario import load_scenario

PACKAGE = "dactile_style_policies"  # one name for the whole module: sys.modules caches packages by name

MODEL_PREDICT = '''
from dataclasses import dataclass


@dataclass
class ModelResponse:  # the upstream record the policies were written against (never built by the harness)
    response: str
    reasoning: str | None
    model: str
    prompt: str
    system_prompt: str
'''

TYPES = '''
from dataclasses import dataclass

from .model_predict import ModelResponse


@dataclass
class ClassificationResult:
    binary_label: bool | None
    fine_grain_label: dict | str | int | None
    metadata: dict
    model_response: ModelResponse
    parsed_successfully: bool
    float_label: float | None = None
'''

SPAM = '''
import re

from ..types import ClassificationResult
from ..model_predict import ModelResponse
from . import codes


def parse(response: ModelResponse) -> ClassificationResult:
    text = response.response
    found = codes.find(text)
    if not found:
        return ClassificationResult(None, None, {}, response, False)
    depiction, request = found
    return ClassificationResult(
        binary_label=depiction != "D-SP0",
        fine_grain_label={"request": request, "depiction": depiction},  # keys not sorted on purpose
        metadata={"model": response.model, "prompt": response.prompt, "has_reasoning": bool(response.reasoning),
                  "policy_head": (response.system_prompt or "")[:12]},
        model_response=response,
        parsed_successfully=True,
        float_label=0.25,
    )
'''

CODES = '''
import re


def find(text):
    depiction = re.search(r"D-SP\\d(?:\\.[a-z])?", text)
    request = re.search(r"R-SP\\d(?:\\.[a-z])?", text)
    if not depiction:
        return None
    return depiction.group(0), request.group(0) if request else None
'''

LIKERT = '''
import re

from ..types import ClassificationResult


def parse(response):
    match = re.search(r"[1-5]", response.response)
    if match is None:
        return ClassificationResult(None, None, {}, response, False)
    return ClassificationResult(binary_label=None, fine_grain_label=int(match.group(0)),
                                metadata={"model": response.model, "prompt": response.prompt},
                                model_response=response, parsed_successfully=True)
'''

BUGGY = '''
from ..types import ClassificationResult

POLICY = "Answer D-SP0 or D-SP2."


def parse(response):
    if "D-SP2" in response.response:
        return ClassificationResult(True, "D-SP2", {}, parsed_successfully=True)  # model_response forgotten
    return ClassificationResult(False, "D-SP0", {}, response, True)
'''

NEEDS_PACKAGE = '''
import harness_test_package_that_is_not_installed  # noqa: F401

POLICY = "p"


def parse(response):
    return 0
'''


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A folder holding the policy package (relative imports, .md policies) and scenarios that use it."""
    root = tmp_path_factory.mktemp("dactile")
    pkg = root / PACKAGE
    _write(pkg / "__init__.py", "")
    _write(pkg / "model_predict.py", MODEL_PREDICT)
    _write(pkg / "types.py", TYPES)
    _write(pkg / "policies" / "__init__.py", "")
    _write(pkg / "policies" / "codes.py", CODES)
    _write(pkg / "policies" / "spam.py", SPAM)
    _write(pkg / "policies" / "spam.md", "# Spam policy\n\nAnswer with D-SP0..D-SP4 and R-SP0..R-SP4.\n")
    _write(pkg / "policies" / "likert.py", LIKERT)
    _write(pkg / "policies" / "likert.md", load_scenario("likert-opinions").policy + "\n")
    _write(pkg / "policies" / "buggy.py", BUGGY)
    _write(pkg / "policies" / "needs_package.py", NEEDS_PACKAGE)
    _write(root / "opinions.jsonl", "\n".join(json.dumps(row) for row in [
        {"text": "Cities should have more bicycle lanes.", "canary": "c-01"},
        {"text": "Summer is the best season of the year.", "canary": "c-02"},
        {"text": "Reading fiction makes people more empathetic."},
    ]) + "\n")
    yield root
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
        sys.modules.pop(name)
    while str(root) in sys.path:
        sys.path.remove(str(root))


def _scenario(root: Path, name: str, module_ref: str, cases: str = 'cases_file = "opinions.jsonl"\n') -> Path:
    return _write(root / f"{name}.toml", f'name = "{name}"\npolicy_module = "{module_ref}"\n'
                                         f'prompt_format = "policy-in-system"\n{cases}')


def test_dotted_name_with_relative_imports_reads_the_dataclass_fully(workdir):
    scenario = load_scenario(_scenario(workdir, "dotted", f"{PACKAGE}.policies.spam"))
    assert scenario.policy.startswith("# Spam policy")  # the sibling spam.md
    parser = scenario.label_parser()
    answer = ModelResponse("Verdict: R-SP2.b and D-SP3.a", reasoning="thinking", model="gpt-oss-x",
                           prompt="buy now", system_prompt=scenario.policy)
    result = parser.parse(answer)
    assert (result.ok, result.label, result.score) == (True, "1", 0.25)
    # a dict fine label is a stable string: sorted keys, whatever order the module wrote them in
    assert result.fine_label == '{"depiction":"D-SP3.a","request":"R-SP2.b"}'
    assert result.metadata == {"model": "gpt-oss-x", "prompt": "buy now", "has_reasoning": True,
                               "policy_head": "# Spam polic"}
    benign = parser.parse("D-SP0")  # a plain str still works: the fields are None
    assert (benign.label, benign.fine_label) == ("0", '{"depiction":"D-SP0","request":null}')
    assert benign.metadata["model"] is None
    failed = parser.parse("no codes here")
    assert (failed.ok, failed.label) == (False, None)


def test_file_path_inside_a_package_imports_by_dotted_name(workdir):
    scenario = load_scenario(_scenario(workdir, "by-path", f"{PACKAGE}/policies/spam.py"))
    module = load_policy_module(f"{PACKAGE}/policies/spam.py", base_dir=workdir)
    assert module.policy.strip() == scenario.policy and module.sha256
    assert scenario.label_parser().parse("D-SP2").fine_label == '{"depiction":"D-SP2","request":null}'


def test_upstream_bug_is_that_answers_parse_failure(workdir):
    parser = load_scenario(_scenario(workdir, "buggy", f"{PACKAGE}.policies.buggy")).label_parser()
    broken = parser.parse("D-SP2")
    assert broken.ok is False and broken.label is None
    assert broken.detail.startswith("parse raised TypeError:") and "model_response" in broken.detail
    fine = parser.parse("D-SP0")  # the other answers still parse
    assert (fine.ok, fine.label, fine.fine_label) == (True, "0", "D-SP0")


def test_missing_third_party_package_names_it_and_the_pip_command(workdir):
    path = _scenario(workdir, "needs", f"{PACKAGE}.policies.needs_package")
    with pytest.raises(HarnessError) as err:
        load_scenario(path)
    message = str(err.value)
    assert "'harness_test_package_that_is_not_installed' is not installed in" in message
    assert f"{sys.executable} -m pip install harness_test_package_that_is_not_installed" in message
    done = run_harness("scenarios", "--validate", str(path), cwd=workdir)
    assert_clean_error(done, 2)
    assert "pip install harness_test_package_that_is_not_installed" in done.stderr
    assert str(Path(sys.prefix)) in done.stderr


def test_module_that_is_not_importable_exits_2_in_one_line(workdir):
    path = _scenario(workdir, "absent", f"{PACKAGE}.policies.absent")
    done = run_harness("scenarios", "--validate", str(path), cwd=workdir)
    assert_clean_error(done, 2)
    assert "absent" in done.stderr and "pip install" not in done.stderr  # part of the policy's own package


def test_script_with_relative_imports_outside_a_package_says_how_to_fix(tmp_path):
    _write(tmp_path / "loose" / "pol.py", "from .helpers import x\nPOLICY = 'p'\ndef parse(r):\n    return 0\n")
    with pytest.raises(HarnessError, match="not a package: add an __init__.py"):
        load_scenario(_scenario(tmp_path, "loose", "loose/pol.py", cases='[[cases]]\nid = "a"\ntext = "t"\n'))


@pytest.mark.parametrize("value,expected", [
    ({"binary_label": False, "fine_grain_label": {"b": 1, "a": [2, 1]}, "parsed_successfully": True},
     ("0", '{"a":[2,1],"b":1}')),
    ({"binary_label": None, "fine_grain_label": 4, "parsed_successfully": True}, ("4", "4")),  # rating only
    ({"binary_label": None, "fine_grain_label": 4, "parsed_successfully": False}, (None, "4")),
    ({"binary_label": True, "fine_grain_label": None, "parsed_successfully": True}, ("1", None)),
])
def test_coerce_reads_dactile_fields(value, expected):
    result = coerce_result(value)
    assert (result.label, result.fine_label) == expected


def test_float_label_and_metadata_are_read():
    result = coerce_result({"binary_label": True, "float_label": 0.8, "metadata": {"why": "prize"},
                            "parsed_successfully": True})
    assert (result.score, result.metadata) == (0.8, {"why": "prize"})


def test_likert_module_through_real_local_backends(workdir):
    """A rating-only dactile parser over a JSONL without ids, on the tiny model in-process: the rating is the
    label and the fine label, the module saw each backend's model and the case's prompt, the canary is kept."""
    pytest.importorskip("transformers")
    from harness.run.compare import CompareOptions, run_compare

    path = _scenario(workdir, "likert-pkg", f"{PACKAGE}.policies.likert")
    scenario = load_scenario(path)
    assert {c.meta.get("canary") for c in scenario.cases} == {"c-01", "c-02", None}
    result = run_compare(CompareOptions(scenario=str(path), out=workdir / "run-likert", profile="offline",
                                        backends=["local-harmony", "local-pipeline"], repeats=1,
                                        capture=False, progress=False, max_tokens=24))
    assert result.summary.completed == 6 and result.summary.failed == 0
    records = pd.read_csv(workdir / "run-likert" / "records.csv", dtype=str, keep_default_na=False)
    labels = pd.read_csv(workdir / "run-likert" / "labels.csv", dtype=str, keep_default_na=False)
    assert "fine_label" in labels.columns
    ids = {c.id for c in scenario.cases}
    assert set(records["case_id"]) == ids and all(i.startswith("t-") for i in ids)
    answered = records[records["label_ok"] == "True"]
    assert len(answered) >= 4, records[["backend", "text", "label_detail"]]
    texts = {c.id: c.text for c in scenario.cases}
    for row in answered.itertuples():
        assert row.label == row.fine_label and row.label in {"1", "2", "3", "4", "5"}
        seen = json.loads(row.label_metadata)
        assert seen["prompt"] == texts[row.case_id] and seen["model"]
    stats = json.loads((workdir / "run-likert" / "stats.json").read_text())
    assert stats["fine"]["label_kind"] in ("ordinal", "binary", "nominal")
    assert len(stats["preference"]) == 1 and stats["preference"][0]["scale"][0] in {"1", "2", "3", "4", "5"}


def test_two_policy_packages_of_one_name_are_refused_not_mixed(tmp_path):
    """A second package of the same dotted name would silently run the first one's code: it is one clear error."""
    import uuid

    from harness.errors import HarnessError
    from harness.labels.module import load_policy_module

    name = f"clash_{uuid.uuid4().hex[:8]}"
    for side in ("a", "b"):
        package = tmp_path / side / name
        package.mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "policy.py").write_text(f'POLICY = "policy {side}"\n\ndef parse(response):\n    return "0"\n')
    first = load_policy_module(str(tmp_path / "a" / name / "policy.py"))
    assert first.policy == "policy a"
    with pytest.raises(HarnessError, match="already taken"):
        load_policy_module(str(tmp_path / "b" / name / "policy.py"))

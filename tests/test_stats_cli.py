"""`harness stats LABELS.csv`: the JSON contract of DESIGN.md, rich tables, and clean errors on bad input."""

from __future__ import annotations

import json

import pytest
from conftest import assert_clean_error, run_harness

from harness.cli import main

PAIR_KEYS = {"a", "b", "n", "agree", "disagree", "agreement", "agreement_ci_wilson", "agreement_ci_exact", "kappa",
             "kappa_ci", "kappa_linear", "mcnemar_p", "missing"}
NOISE_KEYS = {"backend", "n", "flips", "flip_rate", "flip_ci_exact"}


@pytest.fixture
def labels_csv(tmp_path):
    """Three backends on 30 cases with two repeats; vllm misses one case, groq has no repeats, gold present."""
    lines = ["case_id,backend,label,repeat,gold"]
    for i in range(30):
        gold = str(1 + i % 5)
        for repeat in range(2):
            lines.append(f"c{i},ref,{gold},{repeat},{gold}")
            if i != 29:
                label = gold if (i + repeat) % 7 else str(1 + (i + 1) % 5)
                lines.append(f"c{i},vllm,{label},{repeat},{gold}")
        lines.append(f"c{i},groq,{gold if i % 4 else 'parse-failure'},0,{gold}")
    path = tmp_path / "labels.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_json_contract(labels_csv):
    done = run_harness("stats", str(labels_csv), "--json")
    assert done.returncode == 0, done.stderr

    def refuse(token):
        raise AssertionError(f"non-strict JSON: {token}")

    data = json.loads(done.stdout, parse_constant=refuse)
    assert {(p["a"], p["b"]) for p in data["pairs"]} == {("ref", "vllm"), ("ref", "groq"), ("vllm", "groq")}
    for pair in data["pairs"]:
        assert PAIR_KEYS <= set(pair)
        assert pair["agree"] + pair["disagree"] == pair["n"]
    by_pair = {(p["a"], p["b"]): p for p in data["pairs"]}
    assert by_pair[("ref", "vllm")]["n"] == 58 and by_pair[("ref", "vllm")]["missing"] == 2
    assert by_pair[("ref", "groq")]["n"] == 30 and by_pair[("ref", "groq")]["missing"] == 30
    assert by_pair[("ref", "vllm")]["kappa_linear"] is not None  # numeric 1-5 labels
    assert by_pair[("ref", "vllm")]["mcnemar_p"] is None  # not binary
    assert {n["backend"] for n in data["noise"]} == {"ref", "vllm"}  # groq has one repeat only
    for entry in data["noise"]:
        assert NOISE_KEYS <= set(entry)
    ref_noise = next(n for n in data["noise"] if n["backend"] == "ref")
    assert ref_noise["flips"] == 0 and ref_noise["n"] == 30
    groq_failures = next(f for f in data["parse_failures"] if f["backend"] == "groq")
    assert groq_failures["failures"] == 8
    assert data["multi"]["fleiss_kappa"] is not None
    assert len(data["gold"]) == 3


def test_confidence_and_margin_flags(labels_csv, capsys):
    assert main(["stats", str(labels_csv), "--json", "--confidence", "0.99"]) == 0
    wide = json.loads(capsys.readouterr().out)
    assert main(["stats", str(labels_csv), "--json", "--confidence", "0.8", "--margin", "0.2"]) == 0
    narrow = json.loads(capsys.readouterr().out)
    w, n = wide["pairs"][0], narrow["pairs"][0]
    assert w["agreement_ci_exact"][0] < n["agreement_ci_exact"][0]
    assert w["agreement_ci_exact"][1] >= n["agreement_ci_exact"][1]
    assert narrow["margin"] == 0.2 and narrow["confidence"] == 0.8


def test_rich_tables(labels_csv):
    done = run_harness("stats", str(labels_csv), env={"COLUMNS": "160"})
    assert done.returncode == 0, done.stderr
    assert "Agreement per backend pair" in done.stdout and "Noise floor" in done.stdout
    assert "vllm" in done.stdout


def test_repeat_defaults_to_zero(tmp_path, capsys):
    path = tmp_path / "l.csv"
    path.write_text("case_id,backend,label\nc1,a,yes\nc1,b,no\nc2,a,yes\nc2,b,yes\n")
    assert main(["stats", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["pairs"][0]["n"] == 2 and data["pairs"][0]["disagree"] == 1 and data["noise"] == []


@pytest.mark.parametrize("content", [
    None,  # missing file
    b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe binary",  # not a CSV
    b"",  # empty file
    b"case_id,label\nc1,yes\n",  # missing column
    b"case_id,backend,label\n",  # no rows
    b"case_id,backend,label,repeat\nc1,a,yes,first\n",  # bad repeat
    b"case_id,backend,label\nc1,a,yes\nc1,a,no\n",  # duplicate
])
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, content):
    # In-process through the real entry point (same exit code and stderr as the console script, faster).
    path = tmp_path / "labels.csv"
    if content is not None:
        path.write_bytes(content)
    code = main(["stats", str(path), "--json"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1 and captured.err.startswith("harness: error: ")


def test_bad_input_in_a_real_process(tmp_path, labels_csv):
    assert_clean_error(run_harness("stats", str(tmp_path / "missing.csv"), "--json"))
    assert_clean_error(run_harness("stats", str(labels_csv), "--confidence", "95"))

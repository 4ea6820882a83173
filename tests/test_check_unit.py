"""The drift gate on synthetic run folders: noise floor, margin, distribution shift, parameter classes, provider,
reference, baseline format, step summary and bad input. Run folders are written in the layout `harness compare`
writes (run.json, labels.csv, renders.json, results.sqlite through ResultStore, flows.jsonl), no model needed."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import fisher_exact

from harness.check import build_baseline, load_run, save_baseline
from harness.cli import main
from harness.records import Completion, RunRecord
from harness.run.store import ResultStore

RENDERERS = ("harmony", "hf-template")


def make_run(folder: Path, labels: dict[tuple[str, str, int], str | None], *, scenario: str = "spam",
             providers: dict[str, str] | None = None, render_classes: dict[str, list[str]] | None = None,
             pair_classes: list[str] | None = None, flows: list[dict] | None = None,
             fingerprint: str = "f" * 64) -> Path:
    """A run folder from labels[(case, backend, repeat)] (None: the call errored)."""
    folder.mkdir(parents=True, exist_ok=True)
    providers = providers or {}
    rows = [{"case_id": c, "backend": b, "repeat": r, "label": label if label is not None else "", "gold": ""}
            for (c, b, r), label in labels.items()]
    pd.DataFrame(rows).to_csv(folder / "labels.csv", index=False)
    backends = sorted({b for _, b, _ in labels})
    with ResultStore(folder / "results.sqlite") as store:
        for (case_id, backend, repeat), label in labels.items():
            completion = None if label is None else Completion(
                text=str(label), served_provider=providers.get(backend),
                prompt_token_ids=[200006, len(case_id)] if backend in (render_classes or {}) else None)
            store.append(RunRecord(run_key=f"{case_id}/{backend}/{repeat}", case_id=case_id, backend=backend,
                                   repeat=repeat, request={}, completion=completion, label=label,
                                   error_cause=None if completion else "server-error"))
    cases = sorted({c for c, _, _ in labels})
    renders = {"date": "2025-01-01", "renderers": list(RENDERERS), "class_counts": {}, "cases": [
        {"case_id": case_id, "token_counts": {r: 100 for r in RENDERERS},
         "pairs": [{"a": RENDERERS[0], "b": RENDERERS[1], "identical": not pair_classes,
                    "classes": pair_classes or [], "first_divergence": None}],
         "backend_prompts": {b: {"matches": [], "closest": "harmony", "vs_closest": {"classes": classes}}
                             for b, classes in (render_classes or {}).items()},
         "token_ids": None} for case_id in cases]}
    (folder / "renders.json").write_text(json.dumps(renders))
    capture_dir = None
    if flows is not None:
        capture_dir = folder / "capture"
        capture_dir.mkdir(exist_ok=True)
        (capture_dir / "flows.jsonl").write_text("".join(json.dumps(f) + "\n" for f in flows))
    run_info = {"scenario": {"name": scenario, "fingerprint": fingerprint, "cases": len(cases)}, "repeats": 2,
                "date": "2025-01-01", "notes": [],
                "backends": {b: {"config": {"name": b}, "fingerprint": {"kind": "test"}} for b in backends},
                "capture_dir": str(capture_dir) if capture_dir else None,
                "environment": {"python": "3.11", "packages": {"scipy": "1"}}}
    (folder / "run.json").write_text(json.dumps(run_info))
    return folder


def table(backend_labels: dict[str, list[list[str]]]) -> dict[tuple[str, str, int], str]:
    """{backend: [[repeat0, repeat1, ...] per case]} -> labels dict over cases c00, c01, ..."""
    out = {}
    for backend, per_case in backend_labels.items():
        for i, repeats in enumerate(per_case):
            for r, label in enumerate(repeats):
                out[(f"c{i:02d}", backend, r)] = label
    return out


def gate(tmp_path: Path, base_labels, run_labels, *extra: str, base_kw=None, run_kw=None, capsys=None):
    base = make_run(tmp_path / "base-run", base_labels, **(base_kw or {}))
    run = make_run(tmp_path / "run", run_labels, **(run_kw or {}))
    baseline = save_baseline(base, tmp_path / "baselines" / "spam.json")
    junit = tmp_path / "junit.xml"
    code = main(["check", str(run), "--baseline", str(baseline), "--junit", str(junit), "--json", *extra])
    report = json.loads(capsys.readouterr().out) if capsys else None
    return code, report, ET.parse(junit).getroot()


def result(report: dict, backend: str, check: str) -> dict:
    return next(r for r in report["results"] if r["backend"] == backend and r["check"] == check)


STABLE = [["1", "1"]] * 10 + [["0", "0"]] * 10


def test_identical_run_passes_every_check(tmp_path, capsys):
    labels = table({"a": STABLE, "b": STABLE})
    code, report, junit = gate(tmp_path, labels, labels, capsys=capsys)
    assert code == 0 and report["drift"] is False
    assert {r["status"] for r in report["results"]} <= {"pass", "skip"}
    assert int(junit.find("testsuite").get("failures")) == 0
    names = {case.get("name") for case in junit.iter("testcase")}
    assert {f"{b} {c}" for b in "ab" for c in ("labels", "distribution", "render-classes", "param-classes",
                                                "provider")} <= names


def test_flips_beyond_the_margin_fail_naming_backend_and_cases(tmp_path, capsys):
    flipped = [["0", "0"]] * 6 + STABLE[6:]  # c00..c05 go from 1 to 0 on both repeats
    code, report, junit = gate(tmp_path, table({"a": STABLE, "b": STABLE}), table({"a": STABLE, "b": flipped}),
                               capsys=capsys)
    assert code == 1
    labels_b = result(report, "b", "labels")
    assert labels_b["status"] == "fail"
    assert labels_b["cases"] == [f"c{i:02d}" for i in range(6)]
    assert labels_b["details"]["excess_ci"][0] > 0.05
    assert result(report, "a", "labels")["status"] == "pass"
    failures = [(case.get("name"), case.find("failure")) for case in junit.iter("testcase")
                if case.find("failure") is not None]
    names = [name for name, _ in failures]
    assert "b labels" in names and not any(name.startswith("a ") for name in names)
    message = dict(failures)["b labels"].get("message")
    assert message.startswith("b:") and all(f"c{i:02d}" in message for i in range(6))


def test_flips_within_the_noise_floor_pass(tmp_path, capsys):
    # b answers 1 or 0 at random on half the cases, in the baseline and in the run alike: the run's flips
    # against the baseline are what b does against itself.
    noisy = [["1", "0"]] * 10 + [["0", "0"]] * 10
    swapped = [["0", "1"]] * 10 + [["0", "0"]] * 10
    code, report, _ = gate(tmp_path, table({"b": noisy}), table({"b": swapped}), capsys=capsys)
    labels_b = result(report, "b", "labels")
    assert labels_b["cases"], "the run does flip against the baseline"
    assert labels_b["details"]["noise_floor"] == pytest.approx(0.5)
    assert labels_b["status"] == "pass" and code == 0


def test_the_same_flips_without_noise_fail(tmp_path, capsys):
    stable = [["1", "1"]] * 10 + [["0", "0"]] * 10
    flipped = [["0", "0"]] * 10 + [["0", "0"]] * 10
    code, report, _ = gate(tmp_path, table({"b": stable}), table({"b": flipped}), capsys=capsys)
    assert code == 1 and result(report, "b", "labels")["status"] == "fail"


def test_margin_decides_a_moderate_disagreement(tmp_path, capsys):
    base = [["1"]] * 200
    run = [["0"]] * 40 + [["1"]] * 160  # 20% flipped, no repeats: the lower bound sits near 0.15
    labels_base, labels_run = table({"b": base}), table({"b": run})
    code, report, _ = gate(tmp_path, labels_base, labels_run, capsys=capsys)
    low = result(report, "b", "labels")["details"]["excess_ci"][0]
    assert code == 1 and 0.05 < low < 0.2
    code, report, _ = gate(tmp_path, labels_base, labels_run, "--max-disagreement", "0.2",
                           capsys=capsys)
    assert result(report, "b", "labels")["status"] == "pass"


def test_a_single_flip_is_within_the_margin(tmp_path, capsys):
    run = [["0", "0"]] + STABLE[1:]
    run[0] = ["1", "0"]  # one answer of forty differs
    code, report, _ = gate(tmp_path, table({"b": STABLE}), table({"b": run}), capsys=capsys)
    labels_b = result(report, "b", "labels")
    assert labels_b["status"] == "pass" and labels_b["cases"] == ["c00"] and code == 0


def test_distribution_shift_uses_scipy_and_gates_at_alpha(tmp_path, capsys):
    base = [["1"]] * 15 + [["0"]] * 15
    run = [["1"]] * 3 + [["0"]] * 27
    code, report, _ = gate(tmp_path, table({"b": base}), table({"b": run}), "--max-disagreement", "0.9",
                           capsys=capsys)
    dist = result(report, "b", "distribution")
    assert dist["status"] == "fail" and code == 1
    assert result(report, "b", "labels")["status"] == "pass"  # margin 0.9: only the distribution gates
    expected = fisher_exact(np.array([[15, 15], [27, 3]]))  # labels sorted: 0, 1
    if dist["details"]["test"] == "chi-square":
        from scipy.stats import chi2_contingency
        expected = chi2_contingency(np.array([[15, 15], [27, 3]]), correction=False)
    assert dist["details"]["p"] == pytest.approx(expected.pvalue)


def test_parse_failures_count_as_an_outcome_and_errors_as_missing(tmp_path, capsys):
    base = table({"b": [["1", "1"]] * 10})
    run = dict(base)
    run[("c00", "b", 0)] = None  # errored call: no answer, not a flip
    run[("c01", "b", 0)] = "parse-failure"
    code, report, _ = gate(tmp_path, base, run, capsys=capsys)
    labels_b = result(report, "b", "labels")
    assert labels_b["details"]["n"] == 19 and labels_b["cases"] == ["c01"] and code == 0
    assert "parse-failure" in result(report, "b", "distribution")["details"]["labels"]


def test_new_render_class_fails_and_known_ones_pass(tmp_path, capsys):
    labels = table({"b": STABLE})
    kw = {"render_classes": {"b": ["content-whitespace"]}, "pair_classes": ["content-whitespace"]}
    code, report, _ = gate(tmp_path, labels, labels, base_kw=kw, run_kw=kw, capsys=capsys)
    assert code == 0 and result(report, "b", "render-classes")["status"] == "pass"
    run_kw = {"render_classes": {"b": ["content-whitespace", "date-line"]}, "pair_classes": ["content-whitespace"]}
    code, report, _ = gate(tmp_path, labels, labels, base_kw=kw, run_kw=run_kw, capsys=capsys)
    render = result(report, "b", "render-classes")
    assert code == 1 and render["status"] == "fail" and "date-line" in render["message"]
    run_kw = {"render_classes": {"b": ["content-whitespace"]}, "pair_classes": ["content-whitespace", "other"]}
    code, report, _ = gate(tmp_path, labels, labels, base_kw=kw, run_kw=run_kw, capsys=capsys)
    assert code == 1 and result(report, "renderers", "render-classes")["status"] == "fail"


def flow(case_id: str, repeat: int, backend: str, body: dict, provider: str | None = None) -> dict:
    headers = [["x-inference-provider", provider]] if provider else []
    return {"id": f"{case_id}{repeat}{backend}",
            "case": {"raw": f"{case_id}/{repeat}/{backend}", "case_id": case_id, "repeat": repeat,
                     "backend": backend},
            "request": {"method": "POST", "url": "http://127.0.0.1:1/v1/chat/completions",
                        "body": {"json": {"messages": [{"role": "user", "content": case_id}], **body}}},
            "response": {"status": 200, "headers": headers,
                         "body": {"json": {"choices": [{"finish_reason": "stop", "message": {"content": "1"}}]}}}}


def test_new_parameter_class_fails_for_both_backends_of_the_pair(tmp_path, capsys):
    labels = table({"a": STABLE[:3], "b": STABLE[:3]})
    same = [flow(f"c{i:02d}", r, b, {"temperature": 0.0, "max_tokens": 64}) for i in range(3) for r in range(2)
            for b in "ab"]
    changed = [flow(f"c{i:02d}", r, b, {"temperature": 0.0 if b == "a" else 1.0, "max_tokens": 64})
               for i in range(3) for r in range(2) for b in "ab"]
    code, report, _ = gate(tmp_path, labels, labels, base_kw={"flows": same}, run_kw={"flows": same},
                           capsys=capsys)
    assert code == 0 and result(report, "a", "param-classes")["status"] == "pass"
    code, report, _ = gate(tmp_path, labels, labels, base_kw={"flows": same}, run_kw={"flows": changed},
                               capsys=capsys)
    assert code == 1
    for backend in "ab":
        params = result(report, backend, "param-classes")
        assert params["status"] == "fail" and "sampling-params" in params["message"]
    code, report, _ = gate(tmp_path, labels, labels, base_kw={"flows": same}, capsys=capsys)
    assert result(report, "a", "param-classes")["status"] == "skip"  # no capture in the run: nothing to say


def test_changed_serving_provider_fails(tmp_path, capsys):
    labels = table({"hf": STABLE})
    code, report, _ = gate(tmp_path, labels, labels, base_kw={"providers": {"hf": "groq"}},
                           run_kw={"providers": {"hf": "groq"}}, capsys=capsys)
    assert code == 0 and result(report, "hf", "provider")["message"] == "served by groq"
    code, report, _ = gate(tmp_path, labels, labels, base_kw={"providers": {"hf": "groq"}},
                               run_kw={"providers": {"hf": "together"}}, capsys=capsys)
    provider = result(report, "hf", "provider")
    assert code == 1 and provider["status"] == "fail"
    assert "together" in provider["message"] and "groq" in provider["message"]


def test_reference_compares_backends_within_the_run(tmp_path, capsys):
    labels = table({"ref": STABLE, "same": STABLE, "other": [["0", "0"]] * 20})
    code, report, _ = gate(tmp_path, labels, labels, "--reference", "ref", capsys=capsys)
    assert code == 1
    assert result(report, "same", "reference")["status"] == "pass"
    other = result(report, "other", "reference")
    assert other["status"] == "fail" and len(other["cases"]) == 10
    assert all(result(report, b, "labels")["status"] == "pass" for b in ("ref", "same", "other"))


def test_baseline_is_sorted_one_case_per_line_with_majorities(tmp_path):
    labels = table({"b": [["1", "1", "0"], ["1", "0"], ["0", "0"]]})
    labels[("c02", "b", 1)] = None
    run = make_run(tmp_path / "run", labels, providers={"b": "groq"})
    path = save_baseline(run, tmp_path / "b.json")
    text = path.read_text()
    data = json.loads(text)
    assert data == json.loads(json.dumps(build_baseline(load_run(run))))
    assert list(data) == sorted(data)
    lines = text.splitlines()
    for case_id in ("c00", "c01", "c02"):
        line = next(line for line in lines if line.strip().startswith(f'"{case_id}"'))
        assert json.loads(line.split(": ", 1)[1].rstrip(",")) == data["labels"][case_id]
    assert data["labels"]["c00"]["b"] == {"r0": "1", "majority": "1", "repeats": ["1", "1", "0"]}
    assert data["labels"]["c01"]["b"]["majority"] is None  # a tie has no majority
    assert data["labels"]["c02"]["b"]["repeats"] == ["0", None]
    assert data["backends"]["b"]["noise"] == {"pairs": 4, "flips": 3}  # (1,1,0): 3 pairs, 2 flips; (1,0): 1, 1
    assert data["backends"]["b"]["providers"] == ["groq"]
    assert save_baseline(run, tmp_path / "again.json").read_text() == text  # byte-stable


def test_step_summary_gets_the_markdown_table(tmp_path, monkeypatch, capsys):
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    flipped = [["0", "0"]] * 10 + STABLE[10:]
    gate(tmp_path, table({"b": STABLE}), table({"b": flipped}), capsys=capsys)
    text = summary.read_text()
    assert text.startswith("earlier step\n")
    assert "| b | labels | ❌ FAIL |" in text and "c09" in text


def test_more_repeats_in_the_run_than_in_the_baseline_match_on_shared_repeats(tmp_path, capsys):
    base = table({"b": [["1"]] * 10})
    run = table({"b": [["1", "0", "0"]] * 10})
    _, report, _ = gate(tmp_path, base, run, capsys=capsys)
    labels_b = result(report, "b", "labels")
    assert labels_b["details"]["n"] == 10 and labels_b["status"] == "pass"


@pytest.mark.parametrize("case", ["missing-run", "not-json", "not-a-baseline", "other-scenario", "no-shared",
                                  "bad-reference", "bad-margin", "missing-labels"])
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, case):
    labels = table({"b": STABLE})
    base = make_run(tmp_path / "base", labels)
    run = make_run(tmp_path / "run", labels)
    baseline = save_baseline(base, tmp_path / "b.json")
    args = ["check", str(run), "--baseline", str(baseline)]
    if case == "missing-run":
        args[1] = str(tmp_path / "nope")
    elif case == "not-json":
        baseline.write_text("{ not json")
    elif case == "not-a-baseline":
        baseline.write_text(json.dumps({"labels": {}}))
    elif case == "other-scenario":
        save_baseline(make_run(tmp_path / "other", labels, scenario="toxic-simple"), baseline)
    elif case == "no-shared":
        save_baseline(make_run(tmp_path / "other", {("zz", "b", 0): "1"}), baseline)
    elif case == "bad-reference":
        args += ["--reference", "nobody"]
    elif case == "bad-margin":
        args += ["--max-disagreement", "1.5"]
    elif case == "missing-labels":
        (run / "labels.csv").unlink()
    junit = tmp_path / "j.xml"
    assert main([*args, "--junit", str(junit)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("harness: error: ")
    assert not junit.exists()


def test_providers_come_from_this_runs_records_not_a_later_run_in_the_same_store(tmp_path):
    # The store is shared across runs: another run (other settings, other key) wrote the same case later; this
    # run's records.csv names its own keys, and only those describe it.
    run = make_run(tmp_path / "run", table({"b": [["1"]]}), providers={"b": "groq"})
    pd.DataFrame([{"run_key": "c00/b/0", "case_id": "c00", "backend": "b", "repeat": 0}]).to_csv(
        run / "records.csv", index=False)
    with ResultStore(run / "results.sqlite") as store:
        store.append(RunRecord(run_key="other-settings/c00/b/0", case_id="c00", backend="b", repeat=0, request={},
                               completion=Completion(text="1", served_provider="together"), label="1"))
    assert load_run(run).providers == {"b": ["groq"]}

"""The drift gate on a REAL run: `harness compare` once (tiny model, two local backends), then `harness baseline
save` and `harness check` through the CLI on it and on mutated copies of its run folder."""

from __future__ import annotations

import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from conftest import assert_clean_error, run_harness

from harness.cli import main
from harness.run.store import ResultStore

pytestmark = pytest.mark.slow
BACKENDS = ("local-harmony", "local-pipeline")


@pytest.fixture(scope="module")
def real_run(tmp_path_factory, assets) -> Path:
    root = tmp_path_factory.mktemp("check-real")
    out = root / "run"
    done = run_harness("compare", "--profile", "offline", "--backends", ",".join(BACKENDS), "--limit", "6",
                       "--repeats", "2", "--no-capture", "--no-report", "--no-progress", "--date", "2025-06-01",
                       "--out", str(out), cwd=root)
    assert done.returncode == 0, done.stderr[-2000:]
    return out


@pytest.fixture(scope="module")
def real_baseline(real_run, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("baselines") / "spam-offline.json"
    done = run_harness("baseline", "save", str(real_run), "--to", str(path))
    assert done.returncode == 0, done.stderr
    return path


def copy_run(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def rewrite_labels(run: Path, change) -> pd.DataFrame:
    labels = pd.read_csv(run / "labels.csv", dtype=str, keep_default_na=False)
    labels = change(labels)
    labels.to_csv(run / "labels.csv", index=False)
    return labels


def answered(labels: pd.DataFrame, backend: str) -> pd.Series:
    return (labels["backend"] == backend) & (labels["label"] != "")


def check(run: Path, baseline: Path, tmp_path: Path, *extra: str, capsys=None):
    """`harness check` in a subprocess (exit code and stderr exactly as a user sees them), or in-process with
    capsys (same main(), a few seconds faster per call)."""
    junit = tmp_path / "junit.xml"
    args = ["check", str(run), "--baseline", str(baseline), "--junit", str(junit), *extra]
    if capsys is None:
        done = run_harness(*args)
    else:
        code = main(args)
        captured = capsys.readouterr()
        done = subprocess.CompletedProcess(args, code, captured.out, captured.err)
    return done, ET.parse(junit).getroot() if junit.exists() else None


def failures(junit) -> dict[str, str]:
    return {case.get("name"): case.find("failure").get("message") for case in junit.iter("testcase")
            if case.find("failure") is not None}


def test_baseline_of_a_real_run_holds_its_labels_and_classes(real_run, real_baseline):
    data = json.loads(real_baseline.read_text())
    labels = pd.read_csv(real_run / "labels.csv", dtype=str, keep_default_na=False)
    run_info = json.loads((real_run / "run.json").read_text())
    assert data["scenario"]["name"] == run_info["scenario"]["name"] == "spam"
    assert data["scenario"]["fingerprint"] == run_info["scenario"]["fingerprint"]
    for row in labels[labels["label"] != ""].itertuples():
        assert data["labels"][row.case_id][row.backend]["repeats"][int(row.repeat)] == row.label
    renders = json.loads((real_run / "renders.json").read_text())
    seen = {cls for case in renders["cases"] for pair in case["pairs"] for cls in pair["classes"]}
    assert seen == {cls for classes in data["renders"]["pair_classes"].values() for cls in classes}
    assert data["versions"]["packages"]["scipy"] == run_info["environment"]["packages"]["scipy"]


def test_a_run_equal_to_its_baseline_passes(real_run, real_baseline, tmp_path, capsys):
    done, junit = check(real_run, real_baseline, tmp_path, capsys=capsys)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no drift" in done.stdout
    suite = junit.find("testsuite")
    assert suite.get("failures") == "0" and int(suite.get("tests")) >= 2 * 5


def test_label_flips_beyond_the_margin_fail_naming_backend_and_cases(real_run, real_baseline, tmp_path):
    run = copy_run(real_run, tmp_path / "flipped")
    before = pd.read_csv(real_run / "labels.csv", dtype=str, keep_default_na=False)
    mask = answered(before, "local-harmony")
    assert mask.sum() >= 6

    def flip(labels):
        labels.loc[mask, "label"] = labels.loc[mask, "label"].map(lambda v: "0" if v == "1" else "1")
        return labels

    rewrite_labels(run, flip)
    done, junit = check(run, real_baseline, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    drift_line = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(drift_line) == 1 and drift_line[0].startswith("harness: drift:")
    message = failures(junit)["local-harmony labels"]
    assert "local-harmony" in message
    for case_id in sorted(set(before.loc[mask, "case_id"])):
        assert case_id in message
    assert not any(name.startswith("local-pipeline") for name in failures(junit))


def test_flips_within_the_noise_floor_pass(real_run, tmp_path):
    """Make local-harmony answer differently on its two repeats of half the cases, in the baseline run and in
    the run (swapped): the run flips against the baseline exactly as much as the backend flips against itself."""
    labels = pd.read_csv(real_run / "labels.csv", dtype=str, keep_default_na=False)
    cases = sorted(set(labels.loc[answered(labels, "local-harmony"), "case_id"]))[:3]

    def noisy(first: str, second: str):
        def change(frame):
            for case_id in cases:
                for repeat, label in (("0", first), ("1", second)):
                    row = (frame["backend"] == "local-harmony") & (frame["case_id"] == case_id) & \
                          (frame["repeat"] == repeat)
                    frame.loc[row, "label"] = label
            return frame
        return change

    base_run = copy_run(real_run, tmp_path / "base")
    rewrite_labels(base_run, noisy("1", "0"))
    baseline = tmp_path / "noisy.json"
    assert run_harness("baseline", "save", str(base_run), "--to", str(baseline)).returncode == 0
    run = copy_run(real_run, tmp_path / "run")
    rewrite_labels(run, noisy("0", "1"))
    done = run_harness("check", str(run), "--baseline", str(baseline), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    labels_check = next(r for r in report["results"] if r["backend"] == "local-harmony" and r["check"] == "labels")
    assert labels_check["status"] == "pass" and labels_check["cases"] == cases
    assert labels_check["details"]["noise_floor"] > 0


def test_a_new_render_class_fails(real_run, real_baseline, tmp_path, capsys):
    run = copy_run(real_run, tmp_path / "render")
    renders = json.loads((run / "renders.json").read_text())
    pair = renders["cases"][0]["pairs"][0]
    known = set(pair["classes"])
    new_class = next(c for c in ("message-dropped", "date-line", "other") if c not in known)
    pair["classes"] = sorted(known | {new_class})
    (run / "renders.json").write_text(json.dumps(renders))
    done, junit = check(run, real_baseline, tmp_path, capsys=capsys)
    assert done.returncode == 1, done.stdout + done.stderr
    message = failures(junit)["renderers render-classes"]
    assert new_class in message and f"{pair['a']} vs {pair['b']}" in message


def test_a_new_class_in_a_backends_prompt_fails(real_run, real_baseline, tmp_path, capsys):
    renders = json.loads((real_run / "renders.json").read_text())
    served = renders["cases"][0]["backend_prompts"]
    if not served:
        pytest.skip("no backend exposed its prompt ids in this run")
    backend = min(served)
    run = copy_run(real_run, tmp_path / "prompt")
    served[backend]["vs_closest"]["classes"] = sorted(set(served[backend]["vs_closest"]["classes"]) |
                                                      {"special-token-as-text"})
    (run / "renders.json").write_text(json.dumps(renders))
    done, junit = check(run, real_baseline, tmp_path, capsys=capsys)
    assert done.returncode == 1
    assert "special-token-as-text" in failures(junit)[f"{backend} render-classes"]


def with_provider(src: Path, dst: Path, provider: str) -> Path:
    """A copy whose store says local-harmony was served by `provider` (new rows win: the store is append-only)."""
    run = copy_run(src, dst)
    with ResultStore(run / "results.sqlite") as store:
        for record in store.latest():
            if record.backend == "local-harmony" and record.completion is not None:
                store.append(replace(record, completion=replace(record.completion, served_provider=provider)))
    return run


def test_a_changed_serving_provider_fails(real_run, tmp_path, capsys):
    base_run = with_provider(real_run, tmp_path / "groq", "groq")
    baseline = tmp_path / "groq.json"
    assert main(["baseline", "save", str(base_run), "--to", str(baseline)]) == 0
    assert json.loads(baseline.read_text())["backends"]["local-harmony"]["providers"] == ["groq"]
    done, _ = check(with_provider(real_run, tmp_path / "groq-again", "groq"), baseline, tmp_path, capsys=capsys)
    assert done.returncode == 0, done.stdout + done.stderr
    done, junit = check(with_provider(real_run, tmp_path / "together", "together"), baseline, tmp_path,
                        capsys=capsys)
    assert done.returncode == 1
    message = failures(junit)["local-harmony provider"]
    assert "together" in message and "groq" in message


@pytest.mark.parametrize("case", ["missing run", "unreadable baseline", "other scenario", "no shared cases"])
def test_bad_input_exits_2_with_one_line(real_run, real_baseline, tmp_path, case):
    run, baseline = real_run, real_baseline
    if case == "missing run":
        run = tmp_path / "no-such-run"
    elif case == "unreadable baseline":
        baseline = tmp_path / "broken.json"
        baseline.write_text(real_baseline.read_text()[:200])
    elif case == "other scenario":
        data = json.loads(real_baseline.read_text())
        data["scenario"]["name"] = "toxic-simple"
        baseline = tmp_path / "other.json"
        baseline.write_text(json.dumps(data))
    else:
        run = copy_run(real_run, tmp_path / "renamed")
        rewrite_labels(run, lambda frame: frame.assign(case_id="new-" + frame["case_id"]))
    done, junit = check(run, baseline, tmp_path)
    assert_clean_error(done, 2)
    assert junit is None
    keyword = {"missing run": "not found", "unreadable baseline": "not readable", "other scenario": "scenario",
               "no shared cases": "no shared cases"}[case]
    assert keyword in done.stderr

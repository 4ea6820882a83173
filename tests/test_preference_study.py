"""The preference-study analysis (issue 13.3) and fine-grained agreement (13.2): figures checked against
scipy/statsmodels on the same data, a likert run over a JSONL without ids on real local backends, and bad input
as one line with exit 2."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import assert_clean_error, run_harness
from scipy.stats import wilcoxon
from statsmodels.stats.contingency_tables import SquareTable
from statsmodels.stats.inter_rater import cohens_kappa
from statsmodels.stats.proportion import proportion_confint

from harness.scenario import load_scenario
from harness.stats import compute_stats, load_labels_csv

SCALE = [1, 2, 3, 4, 5]


def _study_rows(n: int = 100, seed: int = 7) -> pd.DataFrame:
    """Two models rating the same items: a says "3" 72% of the time, b 55% (b spreads to 4s and 2s)."""
    rng = np.random.default_rng(seed)
    a = rng.choice(SCALE, size=n, p=[0.04, 0.10, 0.72, 0.10, 0.04])
    b = a.copy()
    move = rng.random(n) < 0.30
    b[move & (a == 3)] = rng.choice([2, 4, 4, 5], size=int((move & (a == 3)).sum()))
    rows = [{"case_id": f"i{i}", "backend": name, "label": str(v)} for name, values in (("a", a), ("b", b))
            for i, v in enumerate(values)]
    return pd.DataFrame(rows)


def _expected(x: np.ndarray, y: np.ndarray, scale: list[int] = SCALE) -> dict:
    table = pd.crosstab(pd.Categorical(x, scale), pd.Categorical(y, scale), dropna=False).to_numpy(float)
    diagonal = np.diag(table)
    keep = (table.sum(1) - diagonal + table.sum(0) - diagonal) > 0  # ratings that take part in a disagreement
    homogeneity = SquareTable(table[keep][:, keep], shift_zeros=False).homogeneity(method="stuart_maxwell")
    return {"wilcoxon": wilcoxon(x, y), "sm": homogeneity, "table": table,
            "kappa_linear": cohens_kappa(table, wt="linear", return_results=False),
            "kappa_quadratic": cohens_kappa(table, wt="quadratic", return_results=False)}


def _check_against_libraries(study: dict, x: np.ndarray, y: np.ndarray, scale: list[int] = SCALE) -> None:
    n = len(x)
    expected = _expected(x, y, scale)
    assert study["n"] == n and study["differ"] == int((x != y).sum())
    assert study["differ_share"] == pytest.approx((x != y).mean())
    assert study["differ_ci_wilson"] == pytest.approx(
        list(proportion_confint(int((x != y).sum()), n, method="wilson")), abs=1e-12)
    assert study["wilcoxon_p"] == pytest.approx(expected["wilcoxon"].pvalue)
    assert study["wilcoxon_statistic"] == pytest.approx(expected["wilcoxon"].statistic)
    assert study["stuart_maxwell_statistic"] == pytest.approx(expected["sm"].statistic)
    assert study["stuart_maxwell_p"] == pytest.approx(expected["sm"].pvalue)
    assert study["kappa_linear"] == pytest.approx(expected["kappa_linear"])
    assert study["kappa_quadratic"] == pytest.approx(expected["kappa_quadratic"])
    assert study["confusion"]["matrix"] == expected["table"].astype(int).tolist()
    for share in study["shares"]:
        rating = int(share["rating"])
        count_a, count_b = int((x == rating).sum()), int((y == rating).sum())
        assert (share["count_a"], share["count_b"]) == (count_a, count_b)
        assert share["ci_a"] == pytest.approx(list(proportion_confint(count_a, n, method="wilson")), abs=1e-12)
        assert share["ci_b"] == pytest.approx(list(proportion_confint(count_b, n, method="wilson")), abs=1e-12)


def test_preference_study_matches_scipy_and_statsmodels():
    df = _study_rows()
    study = compute_stats(df).to_json()["preference"][0]
    x = df[df.backend == "a"]["label"].astype(int).to_numpy()
    y = df[df.backend == "b"]["label"].astype(int).to_numpy()
    _check_against_libraries(study, x, y)
    three = next(s for s in study["shares"] if s["rating"] == "3")
    assert three["share_a"] > three["share_b"] and three["mcnemar_p"] < 0.05  # the shift away from "3"
    assert study["stuart_maxwell_p"] < 0.05 and study["scale"] == ["1", "2", "3", "4", "5"]


def test_preference_study_is_absent_for_binary_labels():
    df = pd.DataFrame({"case_id": ["a", "b", "a", "b"], "backend": ["x", "x", "y", "y"], "label": ["0", "1", "1", "1"]})
    assert compute_stats(df).to_json()["preference"] == []


def test_fine_labels_spam_codes_in_the_stats_cli(tmp_path):
    codes_a = ["D-SP0", "D-SP2.a", "D-SP2.b", "D-SP3", "D-SP0", "D-SP2.a", "D-SP4", "D-SP0"]
    codes_b = ["D-SP0", "D-SP2.b", "D-SP2.b", "D-SP3", "D-SP0", "D-SP2.a", "D-SP3", "D-SP2.a"]
    rows = []
    for name, codes in (("a", codes_a), ("b", codes_b)):
        for i, c in enumerate(codes):
            rows.append({"case_id": f"c{i}", "backend": name, "label": "0" if c == "D-SP0" else "1", "fine_label": c})
    rows.append({"case_id": "c8", "backend": "a", "label": "1", "fine_label": ""})  # answered, no fine label
    rows.append({"case_id": "c8", "backend": "b", "label": "parse-failure", "fine_label": ""})
    pd.DataFrame(rows).to_csv(tmp_path / "labels.csv", index=False)
    done = run_harness("stats", str(tmp_path / "labels.csv"), "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert {"pairs", "noise", "distributions", "parse_failures"} <= set(out)  # the contract's fields stay
    assert out["pairs"][0]["n"] == 9
    fine = out["fine"]["pairs"][0]
    labels_a, labels_b = codes_a + ["(none)"], codes_b + ["parse-failure"]
    names = sorted(set(labels_a) | set(labels_b))
    table = pd.crosstab(pd.Categorical(labels_a, names), pd.Categorical(labels_b, names), dropna=False).to_numpy()
    assert fine["n"] == 9 and fine["agree"] == sum(p == q for p, q in zip(labels_a, labels_b))
    assert fine["kappa"] == pytest.approx(cohens_kappa(table.astype(float)).kappa)
    assert fine["confusion"]["labels"] == names and fine["confusion"]["matrix"] == table.tolist()
    assert out["fine"]["label_kind"] == "nominal" and fine["kappa_linear"] is None
    plain = load_labels_csv(tmp_path / "labels.csv").drop(columns=["fine_label"])
    assert compute_stats(plain).fine is None  # no fine_label column: no fine block


def test_fine_ratings_get_weighted_kappa_and_their_own_preference_study():
    df = _study_rows(n=60, seed=3)
    df["fine_label"], df["label"] = df["label"], (df["label"].astype(int) >= 4).astype(int).astype(str)
    result = compute_stats(df).to_json()
    assert result["preference"] == []  # the label is binary here
    fine = result["fine"]
    assert fine["label_kind"] == "ordinal" and fine["pairs"][0]["kappa_linear"] is not None
    x = df[df.backend == "a"]["fine_label"].astype(int).to_numpy()
    y = df[df.backend == "b"]["fine_label"].astype(int).to_numpy()
    assert fine["pairs"][0]["kappa_linear"] == pytest.approx(_expected(x, y)["kappa_linear"])
    _check_against_libraries(fine["preference"][0], x, y)


def test_jsonl_without_ids_gets_stable_ids_and_keeps_extra_keys(tmp_path):
    rows = [{"text": "Cats make better pets than dogs.", "canary": "k1"}, {"text": "Pineapple belongs on pizza."},
            {"text": "Cats make better pets than dogs."}]
    (tmp_path / "op.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    first = load_scenario("likert-opinions", cases_file=tmp_path / "op.jsonl")
    again = load_scenario("likert-opinions", cases_file=tmp_path / "op.jsonl")
    ids = [c.id for c in first.cases]
    assert ids == [c.id for c in again.cases] and len(set(ids)) == 3
    assert ids[2] == ids[0] + "-2"  # a repeated text: its own case, still stable
    assert first.cases[0].meta == {"canary": "k1"} and first.cases[1].meta == {}
    assert first.policy == load_scenario("likert-opinions").policy  # the built-in policy and parser stay


@pytest.mark.parametrize("line,words", [
    ('{"canary": "x"}', "needs `text`"),
    ('{"text": "   "}', "`text` must be a non-empty string"),
])
def test_jsonl_row_without_text_exits_2_in_one_line(tmp_path, line, words):
    (tmp_path / "bad.jsonl").write_text('{"text": "fine"}\n' + line + "\n")
    done = run_harness("scenarios", "--validate", "likert-opinions", "--cases", str(tmp_path / "bad.jsonl"))
    assert_clean_error(done, 2)
    assert "bad.jsonl:2: " in done.stderr and words in done.stderr


@pytest.mark.parametrize("args,words", [
    (["compare", "--scenario", "likert-opinions", "--cases", "/nonexistent/op.jsonl", "--profile", "offline"],
     "no such file"),
    (["compare", "--scenario", "likert-opinions", "--cases-file", "x.jsonl"], "unrecognized arguments"),
])
def test_bad_cases_option_exits_2_in_one_line(tmp_path, args, words):
    done = run_harness(*args, cwd=tmp_path)
    assert_clean_error(done, 2)
    assert words in done.stderr


STATEMENTS = [
    "Regular exercise is good for most people's health.", "Cats make better pets than dogs.",
    "Pineapple belongs on pizza.", "Public libraries are a good use of tax money.",
    "Remote work is more productive than office work.", "Everyone should learn a second language at school.",
    "Summer is the best season of the year.", "Video games can be a form of art.",
    "Cities should have more bicycle lanes.", "Handwritten letters are more meaningful than emails.",
    "Breakfast is the most important meal of the day.", "Homework should be banned in primary schools.",
]


TINY_BACKENDS = """
[backends.tiny-a]
kind = "transformers-harmony"
model = "tiny-gpt-oss"
sampling = { max_tokens = 24, temperature = 1.0, seed = 1 }

[backends.tiny-b]
kind = "transformers-harmony"
model = "tiny-gpt-oss"
sampling = { max_tokens = 24, temperature = 1.0, seed = 2 }
"""


def test_likert_run_over_jsonl_without_ids_gives_the_preference_table(tmp_path):
    """The built-in likert scenario over a user's JSONL (no ids, no gold, a canary key), two backends running the
    tiny model in-process, sampled with different seeds so that their ratings differ; the report's preference
    study is checked against scipy/statsmodels on the ratings in labels.csv."""
    pytest.importorskip("transformers")
    from harness.report import write_reports
    from harness.run.compare import CompareOptions, run_compare

    (tmp_path / "opinions.jsonl").write_text(
        "\n".join(json.dumps({"text": t, "canary": f"k{i}"}) for i, t in enumerate(STATEMENTS)) + "\n")
    (tmp_path / "harness.toml").write_text(TINY_BACKENDS)
    result = run_compare(CompareOptions(scenario="likert-opinions", cases=tmp_path / "opinions.jsonl",
                                        out=tmp_path / "run", profile="config", config=tmp_path / "harness.toml",
                                        repeats=1, capture=False, progress=False))
    assert result.summary.completed == 2 * len(STATEMENTS) and result.summary.failed == 0
    write_reports(tmp_path / "run")
    labels = pd.read_csv(tmp_path / "run" / "labels.csv", dtype=str, keep_default_na=False)
    assert all(cid.startswith("t-") for cid in labels["case_id"])
    wide = labels.pivot(index="case_id", columns="backend", values="label")
    rated = wide[wide.apply(lambda r: all(v.isdigit() for v in r), axis=1)]
    assert len(rated) >= len(STATEMENTS) // 2, wide
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    study = summary["stats"]["preference"][0]
    x = rated[study["a"]].astype(int).to_numpy()
    y = rated[study["b"]].astype(int).to_numpy()
    assert (x != y).any(), "the two seeds should rate some items differently"
    assert study["excluded"] == len(wide) - len(rated)
    _check_against_libraries(study, x, y, scale=[int(v) for v in study["scale"]])
    records = pd.read_csv(tmp_path / "run" / "records.csv", dtype=str, keep_default_na=False)
    assert len(records) == 2 * len(STATEMENTS)
    report = (tmp_path / "run" / "report.md").read_text()
    assert "## Preference study" in report and "Wilcoxon signed-rank p" in report
    assert f"**{study['a']} vs {study['b']}**, {study['n']} items rated by both" in report
    assert "--cases opinions.jsonl" in report  # the reproduce command
    # the run keeps its items: explain's replays are labelled with the same case texts, the original file gone
    from harness.explain.run import run_scenario
    from harness.report._load import load_run

    (tmp_path / "opinions.jsonl").unlink()
    notes: list[str] = []
    scenario = run_scenario(load_run(tmp_path / "run"), notes)
    assert not notes and [c.text for c in scenario.cases] == list(STATEMENTS)
    assert {c.id for c in scenario.cases} == set(labels["case_id"])


def test_fine_labels_flow_from_a_real_run_into_labels_csv_stats_and_report(tmp_path):
    """The built-in spam policy with its rationale as the fine label, on the tiny model in-process: records.csv and
    labels.csv carry fine_label, stats.json compares it, the report shows it."""
    pytest.importorskip("transformers")
    from harness.report import write_reports
    from harness.run.compare import CompareOptions, run_compare

    spam = load_scenario("spam", limit=4)
    (tmp_path / "cases.jsonl").write_text("\n".join(json.dumps({"text": c.text, "gold": c.gold})
                                                    for c in spam.cases) + "\n")
    (tmp_path / "fine.toml").write_text(
        f'name = "spam-fine"\npolicy = """\n{spam.policy}\n"""\nprompt_format = "{spam.prompt_format}"\n'
        f'reasoning_effort = "{spam.reasoning_effort}"\ncases_file = "cases.jsonl"\n'
        'label = { kind = "json-field", field = "violation", labels = ["0", "1"], fine_field = "rationale" }\n')
    result = run_compare(CompareOptions(scenario=str(tmp_path / "fine.toml"), out=tmp_path / "run",
                                        profile="offline", backends=["local-harmony", "local-pipeline"], repeats=1,
                                        capture=False, progress=False))
    assert result.summary.completed == 8
    records = pd.read_csv(tmp_path / "run" / "records.csv", dtype=str, keep_default_na=False)
    labels = pd.read_csv(tmp_path / "run" / "labels.csv", dtype=str, keep_default_na=False)
    parser = load_scenario(tmp_path / "fine.toml").label_parser()
    assert (records["label_ok"] == "True").sum() >= 4, records[["backend", "text"]]
    for record, row in zip(records.itertuples(), labels.itertuples(), strict=True):
        parsed = parser.parse(record.text)
        assert record.fine_label == (parsed.fine_label or "")
        assert row.fine_label == ((parsed.fine_label or "") if parsed.ok else "parse-failure")
    stats = json.loads((tmp_path / "run" / "stats.json").read_text())
    fine = stats["fine"]
    assert fine is not None and set(fine["labels"]) == set(labels["fine_label"].replace("", "(none)"))
    pair = fine["pairs"][0]
    wide = labels.pivot(index="case_id", columns="backend", values="fine_label")
    assert pair["n"] == 4 and pair["agree"] == int((wide[pair["a"]] == wide[pair["b"]]).sum())
    write_reports(tmp_path / "run")
    report = (tmp_path / "run" / "report.md").read_text()
    assert "## Fine-grained labels" in report and "Fine-label confusion matrix per pair" in report

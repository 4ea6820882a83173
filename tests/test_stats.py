"""Agreement statistics: figures against independently known values and against statsmodels/scipy directly."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.stats import chi2_contingency
from statsmodels.stats.contingency_tables import SquareTable
from statsmodels.stats.inter_rater import aggregate_raters, cohens_kappa, fleiss_kappa
from statsmodels.stats.proportion import proportion_confint

from harness.errors import HarnessError
from harness.stats import PARSE_FAILURE, compare_outputs, compute_stats

FAST = {"n_boot": 300}  # bootstrap size for tests that do not look at bootstrap intervals


def paired(a_labels, b_labels, a="ref", b="other", **extra) -> pd.DataFrame:
    """Two backends labelling cases c0..c{n-1}, repeat 0."""
    rows = []
    for i, (la, lb) in enumerate(zip(a_labels, b_labels, strict=True)):
        rows.append({"case_id": f"c{i}", "backend": a, "label": la, **extra})
        rows.append({"case_id": f"c{i}", "backend": b, "label": lb, **extra})
    return pd.DataFrame(rows)


def from_table(table, labels) -> pd.DataFrame:
    """Expand a confusion table (rows: backend a, columns: backend b) into paired labels."""
    a, b = [], []
    for i, row in enumerate(table):
        for j, count in enumerate(row):
            a += [labels[i]] * int(count)
            b += [labels[j]] * int(count)
    return paired(a, b)


def strict_json(result) -> dict:
    text = result.dumps()

    def refuse(token):
        raise AssertionError(f"non-strict JSON constant {token}")

    return json.loads(text, parse_constant=refuse)


# --- independently known values -------------------------------------------------------------------------------

def test_clopper_pearson_6_of_50():
    # 6 disagreements in 50: exact 95% interval 0.0453-0.2431 for the disagreement rate.
    result = compute_stats(paired(["yes"] * 50, ["yes"] * 44 + ["no"] * 6), **FAST)
    pair = result.pairs[0]
    assert (pair.n, pair.agree, pair.disagree) == (50, 44, 6)
    low, high = pair.agreement_ci_exact
    assert round(1 - high, 4) == 0.0453
    assert round(1 - low, 4) == 0.2431
    assert pair.agreement_ci_wilson[0] > low  # Wilson is narrower than Clopper-Pearson here


def test_mcnemar_exact_discordant_5_and_1():
    result = compute_stats(from_table([[10, 5], [1, 20]], ["spam", "ham"]), **FAST)
    pair = result.pairs[0]
    assert result.label_kind == "binary"
    assert pair.mcnemar_p == pytest.approx(0.21875, abs=1e-12)  # 2 * P(X <= 1 | Bin(6, 1/2)) = 14/64
    assert pair.disagree == 6


def test_kappa_hand_computed():
    # po = 0.7, pe = 0.5*0.6 + 0.5*0.4 = 0.5, kappa = (0.7 - 0.5) / 0.5 = 0.4
    result = compute_stats(from_table([[20, 5], [10, 15]], ["a", "b"]), **FAST)
    pair = result.pairs[0]
    assert pair.kappa == pytest.approx(0.4)
    low, high = pair.kappa_ci
    assert low < 0.4 < high


def test_linear_kappa_uses_label_values_not_ranks():
    # Scale 1-5 where nobody answered 3 or 4: the distance between 2 and 5 is 3 steps, not 1.
    rng = np.random.default_rng(7)
    a = rng.choice(["1", "2", "5"], size=200)
    b = np.where(rng.random(200) < 0.7, a, rng.choice(["1", "2", "5"], size=200))
    pair = compute_stats(paired(a, b), **FAST).pairs[0]
    values = [1.0, 2.0, 5.0]
    table = np.zeros((3, 3))
    for x, y in zip(a, b, strict=True):
        table[values.index(float(x)), values.index(float(y))] += 1
    weights = np.abs(np.subtract.outer(values, values))
    expected = np.outer(table.sum(1), table.sum(0)) / table.sum()
    by_hand = 1 - (weights * table).sum() / (weights * expected).sum()
    assert pair.kappa_linear == pytest.approx(by_hand)
    rank_weights = np.abs(np.subtract.outer([0, 1, 2], [0, 1, 2]))
    by_rank = 1 - (rank_weights * table).sum() / (rank_weights * expected).sum()
    assert not math.isclose(pair.kappa_linear, by_rank, rel_tol=1e-6)


# --- against statsmodels / scipy on random tables -------------------------------------------------------------

@pytest.mark.parametrize("seed", range(12))
def test_random_tables_match_statsmodels(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 6))
    labels = [str(v) for v in range(1, k + 1)]
    n = int(rng.integers(5, 300))
    a = rng.integers(0, k, size=n)
    b = np.where(rng.random(n) < rng.random(), a, rng.integers(0, k, size=n))
    df = paired([labels[i] for i in a], [labels[i] for i in b])
    result = compute_stats(df, confidence=0.9, **FAST)
    pair = result.pairs[0]
    strict_json(result)

    used = sorted(set(a) | set(b))
    table = np.zeros((len(used), len(used)))
    for x, y in zip(a, b, strict=True):
        table[used.index(x), used.index(y)] += 1
    agree = int(np.trace(table))
    assert pair.agree == agree
    assert pair.agreement_ci_wilson == pytest.approx(proportion_confint(agree, n, alpha=0.1, method="wilson"))
    assert pair.agreement_ci_exact == pytest.approx(
        tuple(max(0, min(1, v)) for v in proportion_confint(agree, n, alpha=0.1, method="beta")))
    assert pair.confusion.matrix == table.astype(int).tolist()
    reference = cohens_kappa(table)
    if np.isfinite(reference.kappa):
        assert pair.kappa == pytest.approx(reference.kappa)
        half = 1.6448536269514722 * reference.std_kappa  # 90% normal interval
        assert pair.kappa_ci[0] == pytest.approx(max(-1, reference.kappa - half))
        assert pair.kappa_ci[1] == pytest.approx(min(1, reference.kappa + half))
        weighted = cohens_kappa(table, weights=np.array(used, float) + 1, wt="linear", return_results=False)
        assert pair.kappa_linear == pytest.approx(weighted)
    else:
        assert pair.kappa is None and pair.notes
    if len(used) >= 3 and pair.stuart_maxwell_p is not None:
        diagonal = np.diag(table)
        keep = (table.sum(1) - diagonal + table.sum(0) - diagonal) > 0
        homogeneity = SquareTable(table[keep][:, keep], shift_zeros=False).homogeneity()
        assert pair.stuart_maxwell_p == pytest.approx(homogeneity.pvalue)
    if result.label_kind == "binary":
        from statsmodels.stats.contingency_tables import mcnemar

        assert pair.mcnemar_p == pytest.approx(mcnemar(table, exact=True).pvalue)
    else:
        assert pair.mcnemar_p is None


@pytest.mark.parametrize("seed", range(5))
def test_three_backends_fleiss_and_chi_square_match_statsmodels(seed):
    rng = np.random.default_rng(100 + seed)
    n, k = int(rng.integers(20, 200)), 4
    truth = rng.integers(0, k, size=n)
    ratings = np.column_stack([np.where(rng.random(n) < 0.6 + 0.1 * r, truth, rng.integers(0, k, size=n))
                               for r in range(3)])
    rows = [{"case_id": f"c{i}", "backend": f"b{r}", "label": f"L{ratings[i, r]}"}
            for i in range(n) for r in range(3)]
    result = compute_stats(pd.DataFrame(rows), **FAST)
    table, _ = aggregate_raters(ratings)
    assert result.multi.n == n
    assert result.multi.fleiss_kappa == pytest.approx(fleiss_kappa(table, method="fleiss"))
    low, high = result.multi.fleiss_kappa_ci
    assert low <= result.multi.fleiss_kappa <= high
    # Complete data: Krippendorff's nominal alpha = 1 - (nm - 1) / (nm) * (1 - Fleiss' kappa).
    values = n * 3
    assert result.multi.krippendorff_alpha == pytest.approx(
        1 - (values - 1) / values * (1 - fleiss_kappa(table, method="fleiss")))
    counts = np.array([[np.sum(ratings[:, r] == c) for c in range(k)] for r in range(3)])
    counts = counts[:, counts.sum(0) > 0]
    chi2, p, dof, _ = chi2_contingency(counts, correction=False)
    assert result.distribution_test.chi2 == pytest.approx(chi2)
    assert result.distribution_test.p == pytest.approx(p)
    assert result.distribution_test.dof == dof
    assert len(result.pairs) == 3


# --- degenerate inputs: defined output, notes, strict JSON ----------------------------------------------------

def test_krippendorff_alpha_uses_partial_keys():
    # Krippendorff's reliability-data example (nominal, 4 coders x 12 units, missing values): alpha = 0.743.
    data = ["1 2 3 3 2 1 4 1 2 . . .", "1 2 3 3 2 2 4 1 2 5 . 3", ". 3 3 3 2 3 4 2 2 5 1 .",
            "1 2 3 3 2 4 4 1 2 5 1 ."]
    rows = [{"case_id": f"u{u}", "backend": f"coder{c}", "label": value}
            for c, line in enumerate(data) for u, value in enumerate(line.split()) if value != "."]
    multi = compute_stats(pd.DataFrame(rows), **FAST).multi
    assert multi.krippendorff_alpha == pytest.approx(0.743, abs=5e-4)
    assert multi.krippendorff_n == 11  # unit 12 has a single value: not pairable
    # the same data read as an ordinal scale: Krippendorff (2011) gives 0.815
    assert multi.krippendorff_alpha_ordinal == pytest.approx(0.815, abs=5e-4)


@pytest.mark.parametrize("level", ["nominal", "ordinal"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000))
def test_alpha_from_coincidence_sums_is_the_krippendorff_package(level, seed):
    """The bootstrap's formula (per-case coincidence sums) gives the package's alpha on random partial data."""
    import krippendorff

    from harness.stats import _multi
    from harness.stats._labels import build_cube, normalise_labels

    rng = np.random.default_rng(seed)
    rows = [{"case_id": f"c{i}", "backend": f"b{b}", "repeat": r, "label": str(int(rng.integers(1, 5)))}
            for i in range(15) for b in range(int(rng.integers(3, 6))) for r in range(2) if rng.random() > 0.2]
    cube = build_cube(normalise_labels(pd.DataFrame(rows)))
    features, k, scale = _multi.coincidence_features(cube, _multi.alpha_categories(cube, level))
    codes = cube.codes.reshape(-1, cube.codes.shape[2])
    data = np.where(codes >= 0, cube.numeric[np.maximum(codes, 0)], np.nan).T
    if np.unique(data[~np.isnan(data)]).size < 2:
        return
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement=level)
    assert _multi.alpha_from_sums(features.sum(0), k, scale, level)[0] == pytest.approx(expected, abs=1e-9)
    _, nominal, ordinal = _multi.krippendorff_alphas(cube)
    assert (nominal if level == "nominal" else ordinal) == pytest.approx(expected, abs=1e-9)


def test_ordinal_alpha_reads_equal_numbers_as_one_value():
    from harness.stats import _multi
    from harness.stats._labels import build_cube, normalise_labels

    rows = [{"case_id": f"c{i}", "backend": f"b{b}", "label": label}
            for i, labels in enumerate([("1", "1.0", "1"), ("2", "2", "3"), ("3", "3", "3"), ("1.0", "2", "1")])
            for b, label in enumerate(labels)]
    cube = build_cube(normalise_labels(pd.DataFrame(rows)))
    assert list(_multi.alpha_categories(cube, "ordinal")) == [0, 0, 1, 2]  # "1" and "1.0" share a rank
    multi = compute_stats(pd.DataFrame(rows), **FAST).multi
    same = compute_stats(pd.DataFrame([dict(r, label=r["label"].replace(".0", "")) for r in rows]), **FAST).multi
    assert multi.krippendorff_alpha_ordinal == pytest.approx(same.krippendorff_alpha_ordinal)
    assert multi.krippendorff_alpha < same.krippendorff_alpha  # nominal: "1" and "1.0" are different labels


def test_alpha_interval_matches_a_brute_force_case_bootstrap():
    import krippendorff

    rng = np.random.default_rng(5)
    truth = rng.integers(1, 6, size=80)
    labels = np.stack([np.clip(truth + rng.choice([-1, 0, 0, 0, 1], size=80), 1, 5) for _ in range(3)])
    rows = [{"case_id": f"c{i}", "backend": f"b{r}", "label": str(labels[r, i])} for r in range(3) for i in range(80)]
    multi = compute_stats(pd.DataFrame(rows), n_boot=2000).multi
    brute = {"nominal": [], "ordinal": []}
    for _ in range(400):  # resample cases, ask the package each time
        picked = labels[:, rng.integers(0, 80, size=80)].astype(float)
        for level, samples in brute.items():
            samples.append(krippendorff.alpha(reliability_data=picked, level_of_measurement=level))
    for level, (estimate, interval) in {"nominal": (multi.krippendorff_alpha, multi.krippendorff_alpha_ci),
                                        "ordinal": (multi.krippendorff_alpha_ordinal,
                                                    multi.krippendorff_alpha_ordinal_ci)}.items():
        assert interval[0] < estimate < interval[1]
        reference = np.percentile(brute[level], [2.5, 97.5])
        assert interval == pytest.approx(tuple(reference), abs=0.03), level


def test_ordinal_alpha_weighs_near_misses_and_skips_parse_failures():
    # three raters on a 1-5 scale who disagree only by one step: nominal alpha counts every miss in full
    rng = np.random.default_rng(3)
    truth = rng.integers(1, 6, size=60)
    rows = []
    for r in range(3):
        noisy = np.clip(truth + rng.choice([-1, 0, 0, 1], size=60), 1, 5)
        rows += [{"case_id": f"c{i}", "backend": f"b{r}", "label": str(v)} for i, v in enumerate(noisy)]
    rows.append({"case_id": "c0", "backend": "b3", "label": "parse-failure"})
    multi = compute_stats(pd.DataFrame(rows), **FAST).multi
    assert multi.krippendorff_alpha_ordinal > multi.krippendorff_alpha + 0.2
    # nominal labels get no ordinal alpha
    words = [{"case_id": f"c{i}", "backend": f"b{r}", "label": ["x", "y"][(i + r) % 2 if i % 3 else 0]}
             for i in range(12) for r in range(3)]
    assert compute_stats(pd.DataFrame(words), **FAST).multi.krippendorff_alpha_ordinal is None


def test_all_agree_single_label():
    result = compute_stats(paired(["spam"] * 10, ["spam"] * 10), **FAST)
    data = strict_json(result)
    pair = data["pairs"][0]
    assert pair["agreement"] == 1.0 and pair["kappa"] is None and pair["kappa_ci"] is None
    assert any("kappa undefined" in note for note in pair["notes"])
    assert data["distribution_test"]["p"] is None and data["distribution_test"]["notes"]


def test_all_agree_two_labels_gives_mcnemar_one():
    pair = compute_stats(paired(["a", "b"] * 5, ["a", "b"] * 5), **FAST).pairs[0]
    assert pair.kappa == pytest.approx(1.0)
    assert pair.mcnemar_p == pytest.approx(1.0)
    assert pair.stuart_maxwell_p is None and any("no disagreements" in note for note in pair.notes)


def test_no_overlap_n_zero():
    df = pd.DataFrame([{"case_id": "x", "backend": "a", "label": "1"},
                       {"case_id": "y", "backend": "b", "label": "2"}])
    data = strict_json(compute_stats(df, **FAST))
    pair = data["pairs"][0]
    assert pair["n"] == 0 and pair["agreement"] is None and pair["agreement_ci_exact"] is None
    assert pair["missing"] == 2 and pair["missing_in_a"] == 1 and pair["missing_in_b"] == 1
    assert pair["verdict"] == "inconclusive" and pair["notes"]


def test_single_case_n_one_is_never_equivalent():
    data = strict_json(compute_stats(paired(["1"], ["1"]), **FAST))
    pair = data["pairs"][0]
    assert pair["n"] == 1 and pair["agreement"] == 1.0
    assert pair["verdict"] == "inconclusive"  # one agreeing case proves nothing
    assert isinstance(pair["noise_comparison"]["cases_needed"], int)
    assert any("single matched case" in note for note in pair["notes"])


def test_single_backend():
    df = pd.DataFrame([{"case_id": "x", "backend": "a", "label": "1", "repeat": r} for r in range(2)])
    data = strict_json(compute_stats(df, **FAST))
    assert data["pairs"] == [] and data["notes"]
    assert data["noise"][0]["n"] == 1


def test_bad_library_input_raises_harness_error():
    with pytest.raises(HarnessError):
        compute_stats(pd.DataFrame({"case_id": ["x"], "label": ["1"]}))
    with pytest.raises(HarnessError):
        compute_stats(pd.DataFrame({"case_id": [], "backend": [], "label": []}))
    with pytest.raises(HarnessError, match="duplicate"):
        compute_stats(pd.DataFrame({"case_id": ["x", "x"], "backend": ["a", "a"], "label": ["1", "2"]}))
    with pytest.raises(HarnessError, match="confidence"):
        compute_stats(paired(["1"], ["1"]), confidence=1.5)


# --- parse failures, missing cases, distributions -------------------------------------------------------------

def test_parse_failures_are_their_own_outcome():
    df = paired(["spam", "ham", "spam", "ham"], ["spam", "", "PARSE-FAILURE", "ham"])
    result = compute_stats(df, **FAST)
    assert PARSE_FAILURE in result.labels
    assert result.label_kind == "nominal"  # spam, ham and parse-failure: three outcomes
    pair = result.pairs[0]
    assert pair.disagree == 2 and pair.mcnemar_p is None
    failures = {f.backend: f for f in result.parse_failures}
    assert (failures["ref"].failures, failures["other"].failures) == (0, 2)
    assert failures["other"].rate == 0.5
    assert failures["other"].ci_exact == pytest.approx(proportion_confint(2, 4, method="beta"))


def test_missing_cases_are_counted_and_named():
    df = pd.concat([paired(["1", "2"], ["1", "2"]),
                    pd.DataFrame([{"case_id": "extra", "backend": "ref", "label": "1"}])])
    pair = compute_stats(df, **FAST).pairs[0]
    assert pair.n == 2 and pair.missing == 1 and pair.missing_in_b == 1
    assert pair.missing_examples == [{"case_id": "extra", "repeat": 0, "missing_in": "other"}]


def test_distribution_per_label_intervals():
    result = compute_stats(paired(["3"] * 30 + ["1"] * 10, ["3"] * 10 + ["1"] * 30), **FAST)
    shares = {(d.backend, s.label): s for d in result.distributions for s in d.labels}
    assert shares[("ref", "3")].share == 0.75
    assert shares[("ref", "3")].ci_wilson == pytest.approx(proportion_confint(30, 40, method="wilson"))
    assert result.distribution_test.p < 0.001
    per_label = {entry["label"]: entry for entry in result.distribution_test.per_label}
    assert per_label["3"]["p"] < 0.001


# --- noise floor and verdicts ---------------------------------------------------------------------------------

def noisy(n_cases, flip_a, flip_b, shift_b=0.0, seed=0) -> pd.DataFrame:
    """Two backends, two repeats; each repeat flips away from the case truth with the given rate. shift_b makes
    backend b answer differently from a on that share of cases in every repeat (a real difference)."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, size=n_cases)
    shifted = rng.random(n_cases) < shift_b
    rows = []
    for backend, flip, base in (("a", flip_a, truth), ("b", flip_b, np.where(shifted, 1 - truth, truth))):
        for repeat in range(2):
            labels = np.where(rng.random(n_cases) < flip, 1 - base, base)
            rows += [{"case_id": f"c{i}", "backend": backend, "repeat": repeat, "label": str(labels[i])}
                     for i in range(n_cases)]
    return pd.DataFrame(rows)


def test_noise_floor_flip_counts():
    df = pd.DataFrame([
        {"case_id": "c1", "backend": "a", "repeat": 0, "label": "x"},
        {"case_id": "c1", "backend": "a", "repeat": 1, "label": "y"},
        {"case_id": "c1", "backend": "a", "repeat": 2, "label": "x"},
        {"case_id": "c2", "backend": "a", "repeat": 0, "label": "x"},
        {"case_id": "c2", "backend": "a", "repeat": 1, "label": "x"},
        {"case_id": "c3", "backend": "a", "repeat": 0, "label": "x"},
        {"case_id": "c1", "backend": "b", "repeat": 0, "label": "x"},
    ])
    result = compute_stats(df, **FAST)
    assert [s.backend for s in result.noise] == ["a"]  # b has no repeats
    noise = result.noise[0]
    # c1: pairs (0,1) flip, (0,2) same, (1,2) flip; c2: one pair, same; c3: no pair.
    assert (noise.n, noise.flips, noise.cases, noise.cases_with_flip) == (4, 2, 2, 1)
    assert noise.flip_ci_exact == pytest.approx(proportion_confint(2, 4, method="beta"))
    assert noise.notes  # three repeats: pairs are not independent


def test_verdict_equivalent_when_only_noise():
    result = compute_stats(noisy(4000, 0.05, 0.05, seed=1), margin=0.05, n_boot=500)
    comparison = result.pairs[0].noise_comparison
    assert comparison.noise_source == "both"
    assert comparison.cross_disagreement > 0.05  # raw disagreement alone would fail the margin
    assert comparison.excess_ci[1] < 0.05
    assert result.pairs[0].verdict == "equivalent"


def test_verdict_different_when_beyond_noise():
    result = compute_stats(noisy(3000, 0.05, 0.05, shift_b=0.15, seed=2), n_boot=500)
    pair = result.pairs[0]
    assert pair.verdict == "different"
    assert pair.noise_comparison.excess_ci[0] > 0


def test_verdict_inconclusive_names_cases_needed_and_is_seeded():
    df = noisy(60, 0.05, 0.05, shift_b=0.05, seed=3)
    first = compute_stats(df, seed=11, n_boot=500)
    again = compute_stats(df, seed=11, n_boot=500)
    other = compute_stats(df, seed=12, n_boot=500)
    comparison = first.pairs[0].noise_comparison
    assert first.pairs[0].verdict == "inconclusive"
    assert comparison.cases_needed > 60
    assert first.to_json() == again.to_json()
    assert other.pairs[0].noise_comparison.excess == comparison.excess  # the point estimate has no randomness


def test_no_repeats_noise_floor_is_zero_with_note():
    comparison = compute_stats(paired(["1"] * 100, ["1"] * 100), **FAST).pairs[0].noise_comparison
    assert comparison.noise_source == "none" and comparison.noise_floor == 0.0
    assert comparison.verdict == "equivalent" and comparison.notes


# --- gold -----------------------------------------------------------------------------------------------------

def test_gold_precision_recall_f1_and_paired_difference():
    gold = ["spam"] * 20 + ["ham"] * 20
    ref = gold[:]  # perfect
    other = ["spam"] * 15 + ["ham"] * 5 + ["ham"] * 18 + ["spam"] * 2
    df = paired(ref, other)
    df["gold"] = [g for g in gold for _ in range(2)]
    result = compute_stats(df, n_boot=500)
    scores = {g.backend: g for g in result.gold}
    assert scores["ref"].accuracy == 1.0 and scores["ref"].macro_f1 == 1.0
    spam = next(s for s in scores["other"].per_label if s.label == "spam")
    assert (spam.tp, spam.predicted, spam.support) == (15, 17, 20)
    assert spam.precision == pytest.approx(15 / 17) and spam.recall == pytest.approx(15 / 20)
    assert spam.f1 == pytest.approx(2 * 15 / (17 + 20))
    diff = result.gold_differences[0]
    assert diff.accuracy_diff == pytest.approx(1 - 33 / 40)
    low, high = diff.accuracy_diff_ci
    assert 0 < low <= diff.accuracy_diff <= high
    assert diff.macro_f1_diff_ci[0] <= diff.macro_f1_diff <= diff.macro_f1_diff_ci[1]


# --- output level ---------------------------------------------------------------------------------------------

def test_compare_outputs_names_numerics_and_first_divergence():
    prompt = [1, 2, 3]
    rows = [
        ("c1", 0, "ref", prompt, [10, 11, 12]), ("c1", 0, "vllm", prompt, [10, 11, 12]),  # exact
        ("c2", 0, "ref", prompt, [10, 11, 12]), ("c2", 0, "vllm", prompt, [10, 99, 12]),  # numerics at 1
        ("c3", 0, "ref", prompt, [10, 11]), ("c3", 0, "vllm", [1, 2, 4], [10, 11, 5]),  # prompt differs, prefix
        ("c4", 0, "ref", None, [7]), ("c4", 0, "vllm", prompt, [8]),  # unknown prompt
        ("c5", 0, "ref", prompt, [1]),  # missing on vllm
    ]
    [pair] = compare_outputs(rows)
    assert (pair.n, pair.exact, pair.prompt_known, pair.prompt_identical) == (4, 1, 3, 2)
    assert (pair.numerics, pair.prompt_differs) == (1, 1)
    by_case = {d.case_id: d for d in pair.divergences}
    assert by_case["c2"].position == 1 and by_case["c2"].cause == "numerics"
    assert by_case["c3"].position == 2 and by_case["c3"].cause == "prompt"
    assert by_case["c4"].cause == "unknown" and by_case["c4"].prompt_identical is None
    assert pair.first_divergence_min == 0
    assert pair.exact_ci_exact == pytest.approx(proportion_confint(1, 4, method="beta"))
    json.dumps(pair.to_json(), allow_nan=False)


# --- properties: any small table gives defined, strict output -------------------------------------------------

_row = st.tuples(st.sampled_from(["c1", "c2", "c3", "c4"]), st.sampled_from(["a", "b", "c"]),
                 st.integers(0, 2), st.sampled_from(["1", "2", "5", "", "parse-failure", "spam"]),
                 st.sampled_from([None, "1", "2", "spam"]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_row, min_size=1, max_size=30, unique_by=lambda r: r[:3]))
def test_any_small_table_gives_strict_json(rows):
    df = pd.DataFrame(rows, columns=["case_id", "backend", "repeat", "label", "gold"])
    # One gold label per case (conflicting gold is rejected as bad input, tested elsewhere).
    df["gold"] = df.groupby("case_id")["gold"].transform("first")
    data = strict_json(compute_stats(df, n_boot=50))
    for pair in data["pairs"]:
        assert pair["agree"] + pair["disagree"] == pair["n"]
        assert pair["verdict"] in ("equivalent", "different", "inconclusive")
        if pair["n"] and pair["agreement_ci_exact"]:
            low, high = pair["agreement_ci_exact"]
            assert 0 <= low <= pair["agreement"] <= high <= 1


def test_pooled_bootstrap_matches_plain_case_resampling():
    from harness.stats import _bootstrap

    rng = np.random.default_rng(0)
    features = rng.integers(0, 3, size=(4000, 3)).astype(float)  # few distinct rows: the pooled path
    pooled = _bootstrap.resampled_sums(features, 4000, np.random.default_rng(1))
    features_jittered = features + 1e-9  # not integer counts: the plain path
    plain = _bootstrap.resampled_sums(features_jittered, 4000, np.random.default_rng(1))
    assert np.allclose(pooled.mean(0), plain.mean(0), rtol=2e-3)
    assert np.allclose(pooled.std(0), plain.std(0), rtol=0.08)
    assert np.allclose(pooled.mean(0), features.sum(0), rtol=2e-3)


def test_free_text_labels_give_alpha_in_bounded_memory():
    import resource

    rows = [{"case_id": f"c{i}", "backend": f"b{b}", "repeat": r, "label": f"text {i}-{b}-{r}"}
            for i in range(300) for b in range(3) for r in range(2)]  # 1,800 distinct labels
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    multi = compute_stats(pd.DataFrame(rows), **FAST).multi
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert multi.krippendorff_alpha == pytest.approx(0.0, abs=1e-3) and multi.krippendorff_alpha_ci is None
    assert grown_mib < 400  # units x labels^2 would be about 31 GB


def test_many_labels_give_alpha_without_an_interval(monkeypatch):
    from harness.stats import _multi

    monkeypatch.setattr(_multi, "MAX_COINCIDENCE_CELLS", 10)
    rows = [{"case_id": f"c{i}", "backend": f"b{r}", "label": f"L{(i + r) % 4}"} for i in range(10) for r in range(3)]
    multi = compute_stats(pd.DataFrame(rows), **FAST).multi
    assert multi.krippendorff_alpha is not None and multi.krippendorff_alpha_ci is None

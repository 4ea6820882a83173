"""Two backends matched on (case_id, repeat): agreement, kappa, McNemar, Stuart-Maxwell, confusion, missing.
statsmodels does the math; this module only chooses the table and explains degenerate cases."""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats as scipy_stats
from statsmodels.stats.contingency_tables import SquareTable, mcnemar
from statsmodels.stats.inter_rater import cohens_kappa
from statsmodels.stats.proportion import proportion_confint

from harness.stats._json import finite
from harness.stats._labels import LabelCube
from harness.stats._results import Confusion, Interval

MISSING_EXAMPLES = 20


def proportion_cis(count: int, n: int, confidence: float) -> tuple[Interval, Interval]:
    """(Wilson, Clopper-Pearson) intervals for count/n; (None, None) when n is 0."""
    if n <= 0:
        return None, None
    alpha = 1 - confidence
    wilson = proportion_confint(count, n, alpha=alpha, method="wilson")
    exact = proportion_confint(count, n, alpha=alpha, method="beta")
    return _interval(wilson), _interval(exact)


def _interval(bounds) -> Interval:
    low, high = (finite(v) for v in bounds)
    if low is None or high is None:
        return None
    return max(0.0, low), min(1.0, high)


def pair_core(cube: LabelCube, ia: int, ib: int, confidence: float) -> dict:
    """Everything about one pair that has a closed form; the noise comparison is added by the caller."""
    a_codes = cube.codes[:, :, ia].ravel()
    b_codes = cube.codes[:, :, ib].ravel()
    has_a, has_b = a_codes >= 0, b_codes >= 0
    both = has_a & has_b
    ca, cb = a_codes[both], b_codes[both]
    n = int(both.sum())
    agree = int((ca == cb).sum())
    notes: list[str] = []
    wilson, exact = proportion_cis(agree, n, confidence)
    if n == 0:
        notes.append("no (case_id, repeat) labelled by both backends: nothing to compare")
    elif n == 1:
        notes.append("a single matched case: intervals are wide and tests have no power")

    used = np.union1d(np.unique(ca), np.unique(cb)).astype(int)
    table = _table(ca, cb, used)
    kappa, kappa_ci = _kappa(table, confidence, notes)
    kappa_linear, kappa_linear_n = _kappa_linear(cube, ca, cb, notes) if cube.ordinal else (None, None)
    mcnemar_p = _mcnemar(cube, ca, cb, used, notes)
    sm_stat, sm_p = _stuart_maxwell(table, notes)

    only_a = has_a & ~has_b
    only_b = has_b & ~has_a
    n_slots = cube.codes.shape[1]
    examples = []
    for flat in np.flatnonzero(only_a | only_b)[:MISSING_EXAMPLES]:
        case, slot = divmod(int(flat), n_slots)
        examples.append({"case_id": str(cube.case_ids[case]), "repeat": int(cube.repeats[slot]),
                         "missing_in": cube.backends[ib] if only_a[flat] else cube.backends[ia]})
    return {
        "a": cube.backends[ia], "b": cube.backends[ib], "n": n, "agree": agree, "disagree": n - agree,
        "agreement": agree / n if n else None, "agreement_ci_wilson": wilson, "agreement_ci_exact": exact,
        "kappa": kappa, "kappa_ci": kappa_ci, "kappa_linear": kappa_linear, "kappa_linear_n": kappa_linear_n,
        "mcnemar_p": mcnemar_p, "stuart_maxwell_p": sm_p, "stuart_maxwell_statistic": sm_stat,
        "missing": int(only_a.sum() + only_b.sum()),
        "missing_in_a": int(only_b.sum()), "missing_in_b": int(only_a.sum()),
        "missing_examples": examples,
        "confusion": Confusion([cube.labels[i] for i in used], table.astype(int).tolist()),
        "notes": notes,
    }


def _table(ca: np.ndarray, cb: np.ndarray, used: np.ndarray) -> np.ndarray:
    k = len(used)
    position = np.full(int(used.max()) + 1 if k else 1, -1)
    position[used] = np.arange(k)
    flat = position[ca] * k + position[cb]
    return np.bincount(flat, minlength=k * k).reshape(k, k).astype(float)


def _kappa(table: np.ndarray, confidence: float, notes: list[str]) -> tuple[float | None, Interval]:
    n = table.sum()
    if n == 0:
        return None, None
    expected = (table.sum(1) / n) @ (table.sum(0) / n)
    if expected >= 1 - 1e-12:
        notes.append("kappa undefined: both backends gave one and the same label throughout "
                     "(chance agreement is 1)")
        return None, None
    with np.errstate(all="ignore"):
        result = cohens_kappa(table)
    kappa = finite(result.kappa)
    std = finite(result.std_kappa)
    if kappa is None:
        return None, None
    if std is None:
        notes.append("kappa interval undefined (variance not estimable)")
        return kappa, None
    z = scipy_stats.norm.ppf(0.5 + confidence / 2)  # statsmodels' own limits are fixed at 95%
    return kappa, (max(-1.0, kappa - z * std), min(1.0, kappa + z * std))


def _kappa_linear(cube: LabelCube, ca: np.ndarray, cb: np.ndarray,
                  notes: list[str]) -> tuple[float | None, int | None]:
    numeric = ~np.isnan(cube.numeric[ca]) & ~np.isnan(cube.numeric[cb])
    n = int(numeric.sum())
    if n < len(ca):
        notes.append(f"kappa_linear over the {n} matched cases where both labels are numbers "
                     f"({len(ca) - n} with a parse failure left out)")
    ca, cb = ca[numeric], cb[numeric]
    used = np.union1d(np.unique(ca), np.unique(cb)).astype(int)  # codes are sorted by numeric value
    if len(used) < 2:
        notes.append("kappa_linear undefined: fewer than two numeric labels")
        return None, n
    table = _table(ca, cb, used)
    n_total = table.sum()
    if (table.sum(1) / n_total) @ (table.sum(0) / n_total) >= 1 - 1e-12:
        return None, n
    with np.errstate(all="ignore"):
        # Weights are the label values themselves, so gaps in the scale (no 3s on 1-5) keep their distance.
        kappa = cohens_kappa(table, weights=cube.numeric[used], wt="linear", return_results=False)
    value = finite(kappa)
    if value is None:
        notes.append("kappa_linear undefined for this table")
    return value, n


def _mcnemar(cube: LabelCube, ca: np.ndarray, cb: np.ndarray, used: np.ndarray,
             notes: list[str]) -> float | None:
    if cube.label_kind != "binary":
        if len(ca):
            notes.append("mcnemar_p needs exactly two outcomes (parse failures count as one); "
                         "see stuart_maxwell_p")
        return None
    if len(ca) == 0:
        return None
    table = _table(ca, cb, np.array([0, 1]))  # binary outcomes hold codes 0 and 1
    # exact=True: binomial test on the discordant pairs, right for small counts.
    return finite(mcnemar(table, exact=True).pvalue)


def stuart_maxwell(table: np.ndarray, unit: str = "label") -> tuple[float | None, int | None, float | None,
                                                                   str | None]:
    """Stuart-Maxwell marginal homogeneity (statsmodels) on a square table: (statistic, df, p, why undefined)."""
    if table.sum() == 0:
        return None, None, None, None
    if table.shape[0] < 2:
        return None, None, None, "a single outcome"
    # Outcomes with no disagreement add nothing to the marginal difference but make the covariance singular.
    diagonal = np.diag(table)
    keep = (table.sum(1) - diagonal + table.sum(0) - diagonal) > 0
    reduced = table[keep][:, keep]
    if reduced.shape[0] < 2:
        return None, None, None, "no disagreements (the marginals are identical)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            result = SquareTable(reduced, shift_zeros=False).homogeneity(method="stuart_maxwell")
    statistic, p = finite(result.statistic), finite(result.pvalue)
    if p is None:
        return None, None, None, f"singular covariance (too few disagreements per {unit})"
    return statistic, int(result.df), p, None


def _stuart_maxwell(table: np.ndarray, notes: list[str]) -> tuple[float | None, float | None]:
    statistic, _, p, why = stuart_maxwell(table)
    if why:
        notes.append(f"stuart_maxwell_p undefined: {why}")
    return statistic, p

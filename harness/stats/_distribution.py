"""Label distributions per backend (with intervals), a chi-square test across backends, parse-failure rates."""

from __future__ import annotations

import numpy as np
from scipy.stats import chi2_contingency

from harness.stats._agreement import proportion_cis
from harness.stats._json import finite
from harness.stats._labels import PARSE_FAILURE, LabelCube
from harness.stats._results import Distribution, DistributionTest, LabelShare, ParseFailures


def label_counts(cube: LabelCube) -> np.ndarray:
    """(backends, labels) counts over every row, repeats included."""
    k = len(cube.labels)
    rows = []
    for ib in range(len(cube.backends)):
        codes = cube.codes[:, :, ib]
        rows.append(np.bincount(codes[codes >= 0], minlength=k))
    return np.array(rows, dtype=np.int64)


def distributions(cube: LabelCube, counts: np.ndarray, confidence: float) -> list[Distribution]:
    out = []
    seen = counts.sum(0) > 0  # gold-only labels are not answers
    for ib, backend in enumerate(cube.backends):
        n = int(counts[ib].sum())
        shares = []
        for code in np.flatnonzero(seen):
            count = int(counts[ib, code])
            wilson, _ = proportion_cis(count, n, confidence)
            shares.append(LabelShare(cube.labels[code], count, count / n if n else None, wilson))
        out.append(Distribution(backend, n, shares))
    return out


def distribution_test(cube: LabelCube, counts: np.ndarray) -> DistributionTest:
    notes = []
    table = counts[:, counts.sum(0) > 0]
    table = table[table.sum(1) > 0]
    if cube.codes.shape[1] > 1:
        notes.append("repeats are counted as separate answers: with noisy backends the p-values are optimistic")
    if table.shape[0] < 2 or table.shape[1] < 2:
        notes.append("chi-square undefined: needs two backends and two labels")
        return DistributionTest(None, None, None, [], notes)
    chi2, p, dof, expected = chi2_contingency(table, correction=False)
    if (expected < 5).any():
        notes.append("some expected counts are below 5: the chi-square approximation is rough")
    per_label = []
    labels = [cube.labels[c] for c in np.flatnonzero(counts.sum(0) > 0)]
    for j, label in enumerate(labels):
        # This label against all others, across backends: "does one backend answer 3 more often?"
        sub = np.column_stack([table[:, j], table.sum(1) - table[:, j]])
        if (sub.sum(0) == 0).any():
            per_label.append({"label": label, "chi2": None, "p": None})
            continue
        c2, pv, _, _ = chi2_contingency(sub, correction=False)
        per_label.append({"label": label, "chi2": finite(c2), "p": finite(pv)})
    return DistributionTest(finite(chi2), int(dof), finite(p), per_label, notes)


def parse_failures(cube: LabelCube, counts: np.ndarray, confidence: float) -> list[ParseFailures]:
    code = cube.labels.index(PARSE_FAILURE) if PARSE_FAILURE in cube.labels else None
    out = []
    for ib, backend in enumerate(cube.backends):
        n = int(counts[ib].sum())
        failures = int(counts[ib, code]) if code is not None else 0
        _, exact = proportion_cis(failures, n, confidence)
        out.append(ParseFailures(backend, n, failures, failures / n if n else None, exact))
    return out

"""Fine-grained agreement: the parsers' finer labels (spam codes like `D-SP2.a`, a Likert rating, a dict as sorted
JSON) compared per backend pair like the label itself: agreement with intervals, kappa (weighted by distance when
the fine labels are numbers), Stuart-Maxwell, the confusion matrix, the shares per backend, and the
preference-study analysis when they are ratings."""

from __future__ import annotations

from itertools import combinations

import pandas as pd

from harness.stats import _agreement, _distribution, _preference
from harness.stats._labels import FINE_NONE, PARSE_FAILURE, build_cube
from harness.stats._results import FineAgreement, FinePair


def fine_agreement(df: pd.DataFrame, confidence: float) -> FineAgreement | None:
    """None when the table has no fine labels (no `fine_label` column, or nothing but empty values in it)."""
    if "fine_label" not in df.columns:
        return None
    fine = df["fine_label"]
    if not (~fine.isin([FINE_NONE, PARSE_FAILURE])).any():
        return None
    table = pd.DataFrame({"case_id": df["case_id"], "backend": df["backend"], "repeat": df["repeat"],
                          "label": fine, "gold": None})
    cube = build_cube(table)
    notes = []
    if (fine == FINE_NONE).any():
        notes.append(f"{FINE_NONE} marks an answer that parsed without a fine label: it counts as its own outcome")
    if cube.ordinal:
        notes.append("fine labels are numbers: kappa_linear weighs disagreements by their distance on the scale")
    pairs = [FinePair(**_agreement.pair_core(cube, ia, ib, confidence))
             for ia, ib in combinations(range(len(cube.backends)), 2)]
    counts = _distribution.label_counts(cube)
    return FineAgreement(labels=cube.labels[:cube.n_outcomes], label_kind=cube.label_kind, n_rows=len(table),
                         pairs=pairs, distributions=_distribution.distributions(cube, counts, confidence),
                         preference=_preference.studies(cube, confidence), notes=notes)

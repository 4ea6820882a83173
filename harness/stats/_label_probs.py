"""Label probabilities across a run (harness.explain.probabilities): per backend, how often it exposes them and
the share of near-ties (Wilson interval); per backend pair, the mean |P_a(label) - P_b(label)| on shared
(case, repeat) items, with a case-bootstrap interval (repeats of a case resampled together)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import combinations
from typing import NamedTuple

import numpy as np

from harness.explain.probabilities import NEAR_TIE_MARGIN
from harness.stats._agreement import proportion_cis
from harness.stats._bootstrap import percentile_interval, ratio, resampled_sums
from harness.stats._results import Interval, _JsonMixin

N_BOOT = 2000


class ProbRow(NamedTuple):
    case_id: str
    repeat: int
    backend: str
    exposed: bool | None  # False: the backend exposes no logprobs
    probs: dict[str, float] | None  # None: not exposed, or no deciding token found
    margin: float | None


@dataclass
class BackendProbStats(_JsonMixin):
    backend: str
    answers: int
    exposed: int  # answers whose backend returned logprobs
    with_probs: int  # of those, answers with a deciding token (label probabilities)
    near_ties: int
    near_tie_share: float | None  # near_ties / with_probs
    near_tie_ci_wilson: Interval
    margin_median: float | None
    status: str  # "exposed" | "not exposed" | "partly exposed"


@dataclass
class PairProbStats(_JsonMixin):
    a: str
    b: str
    n: int  # shared (case, repeat) items with label probabilities on both sides
    cases: int
    mean_abs_diff: float | None  # mean over items of max over labels |P_a(L) - P_b(L)|
    mean_abs_diff_ci: Interval  # case bootstrap, percentile
    max_abs_diff: float | None
    both_near_tie: int


@dataclass
class LabelProbStats(_JsonMixin):
    near_tie_margin: float
    backends: list[BackendProbStats] = field(default_factory=list)
    pairs: list[PairProbStats] = field(default_factory=list)


def _difference(pa: dict[str, float], pb: dict[str, float]) -> float:
    """max over labels |P_a(L) - P_b(L)| (a label missing on one side has P 0 there); with two labels holding
    all the mass it is |P_a(label) - P_b(label)| for either label."""
    labels = set(pa) | set(pb)
    return max((abs(pa.get(label, 0.0) - pb.get(label, 0.0)) for label in labels), default=0.0)


def label_probability_stats(rows: Iterable[ProbRow | tuple], *, confidence: float = 0.95, n_boot: int = N_BOOT,
                            seed: int = 0) -> LabelProbStats:
    by_backend: dict[str, list[ProbRow]] = defaultdict(list)
    by_key: dict[tuple[str, int], dict[str, ProbRow]] = defaultdict(dict)
    for row in rows:
        row = ProbRow(*row)
        by_backend[row.backend].append(row)
        by_key[(str(row.case_id), int(row.repeat))][row.backend] = row
    result = LabelProbStats(near_tie_margin=NEAR_TIE_MARGIN)
    for backend, items in by_backend.items():
        exposed = [r for r in items if r.exposed]
        with_probs = [r for r in exposed if r.probs is not None and r.margin is not None]
        ties = sum(r.margin < NEAR_TIE_MARGIN for r in with_probs)
        wilson, _ = proportion_cis(ties, len(with_probs), confidence)
        status = "not exposed" if not exposed else "exposed" if len(exposed) == len(items) else "partly exposed"
        result.backends.append(BackendProbStats(
            backend, len(items), len(exposed), len(with_probs), ties,
            ties / len(with_probs) if with_probs else None, wilson,
            float(np.median([r.margin for r in with_probs])) if with_probs else None, status))
    rng = np.random.default_rng(seed)
    for a, b in combinations(by_backend, 2):
        per_case: dict[str, list[float]] = defaultdict(list)
        both_ties = 0
        for (case_id, _), entry in by_key.items():
            ra, rb = entry.get(a), entry.get(b)
            if ra is None or rb is None or ra.probs is None or rb.probs is None:
                continue
            per_case[case_id].append(_difference(ra.probs, rb.probs))
            both_ties += (ra.margin is not None and ra.margin < NEAR_TIE_MARGIN
                          and rb.margin is not None and rb.margin < NEAR_TIE_MARGIN)
        diffs = [d for values in per_case.values() for d in values]
        interval = None
        if len(per_case) >= 2:
            features = np.array([[sum(v), len(v)] for v in per_case.values()], dtype=float)
            sums = resampled_sums(features, n_boot, rng)
            interval = percentile_interval(ratio(sums[:, 0], sums[:, 1]), confidence)
        result.pairs.append(PairProbStats(
            a, b, len(diffs), len(per_case), float(np.mean(diffs)) if diffs else None, interval,
            float(max(diffs)) if diffs else None, both_ties))
    return result

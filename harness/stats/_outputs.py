"""Output level, where token ids exist: exact-match rate of outputs per backend pair, where outputs first
diverge, and whether the prompts were identical (then a difference is `numerics`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import NamedTuple

import numpy as np

from harness.stats._agreement import proportion_cis
from harness.stats._results import Interval, _JsonMixin


class OutputRow(NamedTuple):
    case_id: str
    repeat: int
    backend: str
    prompt_ids: Sequence[int] | None  # None where the backend does not expose them
    output_ids: Sequence[int] | None
    output_logprobs: Sequence[dict] | None = None  # Completion.output_logprobs, where exposed


@dataclass
class OutputDivergence(_JsonMixin):
    case_id: str
    repeat: int
    position: int  # first index where the outputs differ (the shorter length if one is a prefix)
    prompt_identical: bool | None  # None: prompt ids unknown on one side
    cause: str  # "numerics" (same prompt), "prompt" (prompts differ) or "unknown"


@dataclass
class OutputPairStats(_JsonMixin):
    a: str
    b: str
    n: int  # (case_id, repeat) with output ids on both sides
    exact: int
    exact_rate: float | None
    exact_ci_exact: Interval
    prompt_known: int  # of n, how many had prompt ids on both sides
    prompt_identical: int
    numerics: int  # same prompt ids, different output ids
    prompt_differs: int  # different prompt ids and different outputs
    first_divergence_median: float | None
    first_divergence_min: int | None
    divergences: list[OutputDivergence] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    logprobs: LogprobsPairStats | None = None  # identical prompt ids and output logprobs on both sides


@dataclass
class LogprobsPairStats(_JsonMixin):
    """Per-token numerics (harness.explain.numerics.compare_logprobs) over the items where both backends saw
    identical prompt ids and returned output logprobs."""

    n: int  # items compared
    positions: int  # token positions compared, summed over items
    top_differs: int  # of those, positions whose top token differs
    top_differs_share: float | None
    top_differs_ci_wilson: Interval
    items_diverging: int  # items whose outputs part at some position
    first_divergence_min: int | None
    max_gap: float | None  # largest |logprob gap| where both chose the same token
    max_gap_at: dict | None  # {"case_id", "repeat", "position"}
    mean_gap: float | None  # mean of the items' mean gaps


def first_divergence(a: Sequence[int], b: Sequence[int]) -> int | None:
    """First index where a and b differ; None when identical."""
    length = min(len(a), len(b))
    x, y = np.asarray(a[:length]), np.asarray(b[:length])
    differ = np.flatnonzero(x != y)
    if differ.size:
        return int(differ[0])
    return None if len(a) == len(b) else length


def compare_outputs(rows: Iterable[OutputRow | tuple], *, confidence: float = 0.95) -> list[OutputPairStats]:
    """rows: (case_id, repeat, backend, prompt_ids, output_ids). One result per backend pair, matched on
    (case_id, repeat)."""
    by_key: dict[tuple[str, int], dict[str, OutputRow]] = defaultdict(dict)
    backends: dict[str, None] = {}
    for row in rows:
        row = OutputRow(*row)
        by_key[(str(row.case_id), int(row.repeat))][row.backend] = row
        backends.setdefault(row.backend, None)
    results = []
    for a, b in combinations(backends, 2):
        n = exact = known = same_prompt = numerics = prompt_differs = 0
        divergences = []
        for (case_id, repeat), entry in by_key.items():
            ra, rb = entry.get(a), entry.get(b)
            if ra is None or rb is None or ra.output_ids is None or rb.output_ids is None:
                continue
            n += 1
            prompt_identical = None
            if ra.prompt_ids is not None and rb.prompt_ids is not None:
                known += 1
                prompt_identical = list(ra.prompt_ids) == list(rb.prompt_ids)
                same_prompt += prompt_identical
            position = first_divergence(ra.output_ids, rb.output_ids)
            if position is None:
                exact += 1
                continue
            cause = "unknown" if prompt_identical is None else ("numerics" if prompt_identical else "prompt")
            numerics += cause == "numerics"
            prompt_differs += cause == "prompt"
            divergences.append(OutputDivergence(case_id, repeat, position, prompt_identical, cause))
        logprobs = _logprobs_pair(by_key, a, b, confidence)
        _, interval = proportion_cis(exact, n, confidence)
        positions = [d.position for d in divergences]
        notes = [] if n else ["no (case_id, repeat) with output ids on both sides"]
        if n and known < n:
            notes.append(f"prompt ids unknown for {n - known} of {n}: their differences cannot be attributed")
        results.append(OutputPairStats(
            a, b, n, exact, exact / n if n else None, interval, known, same_prompt, numerics, prompt_differs,
            float(np.median(positions)) if positions else None, min(positions) if positions else None,
            divergences, notes, logprobs))
    return results


def _logprobs_pair(by_key, a: str, b: str, confidence: float) -> LogprobsPairStats | None:
    from harness.explain.numerics import compare_logprobs

    found = []
    for (case_id, repeat), entry in by_key.items():
        ra, rb = entry.get(a), entry.get(b)
        if ra is None or rb is None or not ra.output_logprobs or not rb.output_logprobs:
            continue
        if ra.prompt_ids is None or rb.prompt_ids is None or list(ra.prompt_ids) != list(rb.prompt_ids):
            continue
        found.append((case_id, repeat, compare_logprobs(list(ra.output_logprobs), list(rb.output_logprobs))))
    if not found:
        return None
    positions = sum(r.positions for _, _, r in found)
    differs = sum(r.top_differs for _, _, r in found)
    wilson, _ = proportion_cis(differs, positions, confidence)
    gaps = [(r.max_gap, c, k, r.max_gap_position) for c, k, r in found if r.max_gap is not None]
    top = max(gaps, key=lambda g: g[0], default=None)
    firsts = [r.first_divergence for _, _, r in found if r.first_divergence is not None]
    means = [r.mean_gap for _, _, r in found if r.mean_gap is not None]
    return LogprobsPairStats(
        n=len(found), positions=positions, top_differs=differs,
        top_differs_share=differs / positions if positions else None, top_differs_ci_wilson=wilson,
        items_diverging=len(firsts), first_divergence_min=min(firsts) if firsts else None,
        max_gap=top[0] if top else None,
        max_gap_at={"case_id": top[1], "repeat": top[2], "position": top[3]} if top else None,
        mean_gap=float(np.mean(means)) if means else None)

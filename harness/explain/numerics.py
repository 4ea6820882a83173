"""Per-token numerics of two backends that saw identical prompt ids, modelled on vLLM's `check_logprobs_close`
(tests/models/utils.py): walk the two outputs in step; while both chose the same token, compare that token's
logprob on the two sides; at the first position where the chosen tokens differ, the outputs diverge (vLLM then
requires each side's token to be among the other's top logprobs, i.e. a near-tie, and stops comparing: after it
the two sides condition on different prefixes). Positions compared are those up to and including the first
divergence; "top token differs" counts every compared position whose top token differs (at most the divergence
itself, since the two prefixes part there)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from harness.stats._results import _JsonMixin


@dataclass(frozen=True)
class NumericsResult(_JsonMixin):
    positions: int  # positions compared (shared prefix, plus the first divergence if any)
    top_differs: int  # compared positions whose chosen (top) token differs
    top_differs_share: float | None  # top_differs / positions
    first_divergence: int | None  # first position whose chosen tokens differ (None: identical over the shorter)
    divergence_in_top: bool | None  # at the divergence: each side's token among the other's top logprobs
    max_gap: float | None  # largest |logprob_a - logprob_b| where both chose the same token
    max_gap_position: int | None
    mean_gap: float | None  # mean |gap| over the same-token positions
    length_a: int
    length_b: int


def _top(entry: dict) -> str | None:
    """The chosen token (what the output holds); vLLM's default logprobs are the model's own distribution, so
    under greedy decoding it is also the top-1 alternative."""
    return entry.get("token")


def _alternatives(entry: dict) -> set[str]:
    return {alt.get("token") for alt in entry.get("top_logprobs") or []} | {entry.get("token")}


def compare_logprobs(a: list[dict], b: list[dict]) -> NumericsResult:
    """Compare two outputs' per-token logprobs (OpenAI shape, `Completion.output_logprobs`)."""
    positions = differs = 0
    first = None
    in_top = None
    gaps: list[tuple[float, int]] = []
    for index, (ea, eb) in enumerate(zip(a, b)):
        positions += 1
        if _top(ea) != _top(eb):
            differs += 1
            first = index
            in_top = _top(ea) in _alternatives(eb) and _top(eb) in _alternatives(ea)
            break
        la, lb = ea.get("logprob"), eb.get("logprob")
        if la is not None and lb is not None and math.isfinite(la) and math.isfinite(lb):
            gaps.append((abs(float(la) - float(lb)), index))
    largest = max(gaps, default=None)
    return NumericsResult(
        positions=positions, top_differs=differs, top_differs_share=differs / positions if positions else None,
        first_divergence=first, divergence_in_top=in_top,
        max_gap=largest[0] if largest else None, max_gap_position=largest[1] if largest else None,
        mean_gap=sum(g for g, _ in gaps) / len(gaps) if gaps else None, length_a=len(a), length_b=len(b))

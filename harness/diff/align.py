"""Align two token id sequences into equal / insert / delete / replace segments.

Renders of the same request are mostly identical, so the common prefix and suffix are stripped first (C-speed
slice comparisons on a string view of the ids). A small middle goes to difflib; a large one is split at a long
shared run of tokens (an anchor found with `str.find`) and each side is aligned recursively. Two 32k-token
sequences with a handful of scattered edits align in a few milliseconds.
"""

from __future__ import annotations

import difflib
import sys
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

# Middles up to this many tokens (both sides together) go straight to difflib (quadratic in the worst case).
SMALL_MIDDLE = 800
ANCHOR_LEN = 12  # tokens in a probe run; long enough to be rare in a prompt, short enough to fit between edits
MAX_PROBES = 24


@dataclass(frozen=True)
class Segment:
    """One aligned stretch: `a[a_start:a_end]` against `b[b_start:b_end]`."""

    op: str  # "equal" | "insert" | "delete" | "replace"
    a_start: int
    a_end: int
    b_start: int
    b_end: int

    @property
    def a_span(self) -> tuple[int, int]:
        return (self.a_start, self.a_end)

    @property
    def b_span(self) -> tuple[int, int]:
        return (self.b_start, self.b_end)


@dataclass(frozen=True)
class Alignment:
    segments: tuple[Segment, ...]
    first_divergence: int | None  # first index where the sequences differ (None: identical)

    @property
    def identical(self) -> bool:
        return self.first_divergence is None

    def changes(self) -> tuple[Segment, ...]:
        return tuple(s for s in self.segments if s.op != "equal")


def as_text(ids: Sequence[int]) -> str:
    """One character per token id, so C-speed string operations compare token runs. Ids are packed as UTF-32
    code units in C; `surrogatepass` keeps ids in the surrogate range as (lone) characters."""
    return array("I", ids).tobytes().decode("utf-32-le" if sys.byteorder == "little" else "utf-32-be",
                                            "surrogatepass")


def common_prefix_len(a: str, b: str) -> int:
    lo, hi = 0, min(len(a), len(b))
    if a[:hi] == b[:hi]:
        return hi
    while lo < hi:  # binary search; invariant: a[:lo] == b[:lo] and the answer is at most hi
        mid = (lo + hi + 1) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def common_suffix_len(a: str, b: str) -> int:
    return common_prefix_len(a[::-1], b[::-1])


def align(a: Sequence[int], b: Sequence[int]) -> Alignment:
    ta, tb = as_text(a), as_text(b)
    if ta == tb:
        segments = (Segment("equal", 0, len(a), 0, len(b)),) if a else ()
        return Alignment(segments, None)
    ops: list[tuple[str, int, int, int, int]] = []
    _diff(ta, tb, 0, 0, ops)
    segments = _normalise(ops)
    first = next(s.a_start for s in segments if s.op != "equal")
    return Alignment(segments, first)


def _diff(a: str, b: str, a0: int, b0: int, out: list) -> None:
    prefix = common_prefix_len(a, b)
    suffix = common_suffix_len(a[prefix:], b[prefix:])
    if prefix:
        out.append(("equal", a0, a0 + prefix, b0, b0 + prefix))
    _diff_middle(a[prefix:len(a) - suffix], b[prefix:len(b) - suffix], a0 + prefix, b0 + prefix, out)
    if suffix:
        out.append(("equal", a0 + len(a) - suffix, a0 + len(a), b0 + len(b) - suffix, b0 + len(b)))


def _diff_middle(a: str, b: str, a0: int, b0: int, out: list) -> None:
    if not a and not b:
        return
    if not a or not b:
        out.append(("insert" if not a else "delete", a0, a0 + len(a), b0, b0 + len(b)))
        return
    if len(a) + len(b) > SMALL_MIDDLE:
        anchor = _find_anchor(a, b)
        if anchor is not None:
            ia, ib, length = anchor
            _diff(a[:ia], b[:ib], a0, b0, out)
            out.append(("equal", a0 + ia, a0 + ia + length, b0 + ib, b0 + ib + length))
            _diff(a[ia + length:], b[ib + length:], a0 + ia + length, b0 + ib + length, out)
            return
        if len(a) * len(b) > 4_000_000:  # nothing shared worth aligning: one replace, not a quadratic search
            out.append(("replace", a0, a0 + len(a), b0, b0 + len(b)))
            return
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        out.append((op, a0 + i1, a0 + i2, b0 + j1, b0 + j2))


def _find_anchor(a: str, b: str) -> tuple[int, int, int] | None:
    """A shared run of tokens: probe runs of `a` from the middle outwards, take the best-placed hit in `b`."""
    length = min(ANCHOR_LEN, len(a), len(b))
    if length < 4:
        return None
    fallback = None
    for i in _probe_positions(len(a) - length, MAX_PROBES):
        gram = a[i:i + length]
        expected = i * len(b) // len(a)
        hits = []
        j = b.find(gram)
        while j != -1 and len(hits) < 8:
            hits.append(j)
            j = b.find(gram, j + 1)
        if not hits:
            continue
        j = min(hits, key=lambda h: abs(h - expected))
        if len(hits) == 1:  # unique in b: a safe split point
            return _extend(a, b, i, j, length)
        fallback = fallback or (i, j)
    return _extend(a, b, *fallback, length) if fallback else None


def _extend(a: str, b: str, i: int, j: int, length: int) -> tuple[int, int, int]:
    left = common_suffix_len(a[:i], b[:j])
    right = common_prefix_len(a[i + length:], b[j + length:])
    return i - left, j - left, left + length + right


def _probe_positions(last: int, count: int) -> list[int]:
    """Middle first, then quarters, eighths...: split points that keep the recursion balanced."""
    if last <= 0:
        return [0]
    positions, seen, parts = [], set(), 2
    while len(positions) < count and parts <= 2 * count:
        for k in range(1, parts, 2):
            p = last * k // parts
            if p not in seen:
                seen.add(p)
                positions.append(p)
        parts *= 2
    return positions[:count]


def _normalise(ops: list[tuple[str, int, int, int, int]]) -> tuple[Segment, ...]:
    """Merge neighbours: consecutive equal runs into one, consecutive changes into one insert/delete/replace."""
    merged: list[list] = []
    for op, a1, a2, b1, b2 in ops:
        if a1 == a2 and b1 == b2:
            continue
        kind = "equal" if op == "equal" else "change"
        if merged and merged[-1][0] == kind:
            merged[-1][2], merged[-1][4] = a2, b2
        else:
            merged.append([kind, a1, a2, b1, b2])
    segments = []
    for kind, a1, a2, b1, b2 in merged:
        if kind == "change":
            kind = "replace" if a1 < a2 and b1 < b2 else ("delete" if a1 < a2 else "insert")
        segments.append(Segment(kind, a1, a2, b1, b2))
    return tuple(segments)

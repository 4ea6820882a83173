"""Token diffs of two renders, named with the TAXONOMY.md "Prompt render" ids.

    diff_tokens(a, b) -> TokenDiff              two token id sequences
    render_diff(request, renderers, date=...)   one request through several renderers, every pair diffed

Plain data only; `harness.diff.view` turns a diff into terminal renderables.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from harness.diff.align import Alignment, Segment, align
from harness.diff.classify import RENDER_CLASSES, Classification, Finding, MessagePair, classify
from harness.diff.tokens import decode, token_rows
from harness.render.parser import ParseResult, parse_tokens

if TYPE_CHECKING:
    from harness.assets import Assets
    from harness.request import ChatRequest

__all__ = ["RENDER_CLASSES", "Finding", "MessagePair", "PairDiff", "RenderDiff", "Segment", "TokenDiff", "align",
           "diff_tokens", "render_diff"]


@dataclass(frozen=True)
class TokenDiff:
    a: tuple[int, ...]
    b: tuple[int, ...]
    alignment: Alignment
    classification: Classification
    parse_a: ParseResult | None = None  # None when identical: nothing to read
    parse_b: ParseResult | None = None

    @property
    def identical(self) -> bool:
        return self.alignment.identical

    @property
    def first_divergence(self) -> int | None:
        return self.alignment.first_divergence

    @property
    def segments(self) -> tuple[Segment, ...]:
        return self.alignment.segments

    @property
    def findings(self) -> tuple[Finding, ...]:
        return self.classification.findings

    @property
    def classes(self) -> list[str]:
        return self.classification.classes

    @property
    def message_pairs(self) -> tuple[MessagePair, ...]:
        return self.classification.pairs

    def to_json(self, *, tokens: bool = True) -> dict:
        """`classes`, `identical`, `first_divergence`, `segments` (DESIGN.md contract), plus findings.
        Changed segments list their tokens (id, text, special) unless `tokens=False`."""
        segments = []
        for seg in self.segments:
            row = {"op": seg.op, "a": [seg.a_start, seg.a_end], "b": [seg.b_start, seg.b_end]}
            a_ids, b_ids = self.a[seg.a_start:seg.a_end], self.b[seg.b_start:seg.b_end]
            if seg.op == "equal":
                row["text"] = decode(a_ids)
            else:
                row["a_text"], row["b_text"] = decode(a_ids), decode(b_ids)
                if tokens:
                    row["a_tokens"], row["b_tokens"] = token_rows(a_ids), token_rows(b_ids)
            segments.append(row)
        return {"identical": self.identical, "first_divergence": self.first_divergence, "classes": self.classes,
                "findings": [f.to_json() for f in self.findings], "a_length": len(self.a),
                "b_length": len(self.b), "segments": segments}


def diff_tokens(a: Sequence[int], b: Sequence[int]) -> TokenDiff:
    """Align, parse and classify two token id sequences (ids must lie inside the vocab)."""
    a, b = tuple(a), tuple(b)
    alignment = align(a, b)
    if alignment.identical:
        return TokenDiff(a, b, alignment, Classification((), ()))
    parse_a, parse_b = parse_tokens(a), parse_tokens(b)
    return TokenDiff(a, b, alignment, classify(a, b, alignment, parse_a, parse_b), parse_a, parse_b)


@dataclass(frozen=True)
class PairDiff:
    a: str  # renderer names
    b: str
    diff: TokenDiff

    @property
    def identical(self) -> bool:
        return self.diff.identical

    @property
    def classes(self) -> list[str]:
        return self.diff.classes

    @property
    def first_divergence(self) -> int | None:
        return self.diff.first_divergence

    def to_json(self, *, detail: bool = False) -> dict:
        row = {"a": self.a, "b": self.b, "identical": self.identical, "classes": self.classes,
               "first_divergence": self.first_divergence,
               "findings": [f.to_json() for f in self.diff.findings]}
        if detail:
            row["diff"] = self.diff.to_json()
        return row


@dataclass(frozen=True)
class RenderDiff:
    date: str
    tokens: dict[str, list[int]]  # renderer name -> prompt token ids
    pairs: tuple[PairDiff, ...] = field(default=())

    @property
    def classes(self) -> list[str]:
        return sorted({c for p in self.pairs for c in p.classes})

    def to_json(self, *, detail: bool = False) -> dict:
        return {"date": self.date, "renderers": list(self.tokens),
                "lengths": {name: len(ids) for name, ids in self.tokens.items()}, "classes": self.classes,
                "pairs": [p.to_json(detail=detail) for p in self.pairs]}


def render_diff(request: ChatRequest, renderers: Sequence[str], *, date: str,
                assets: Assets | None = None) -> RenderDiff:
    """Render `request` through each renderer with the same date and diff every pair (in the given order)."""
    from harness.render import render_all

    tokens = render_all(request, list(renderers), date=date, assets=assets)
    pairs = tuple(PairDiff(x, y, diff_tokens(tokens[x], tokens[y])) for x, y in itertools.combinations(renderers, 2))
    return RenderDiff(date, tokens, pairs)

"""The label-parser protocol and its result record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class LabelResult:
    """One parsed answer. A parse failure is its own outcome: `label=None, ok=False`, never coerced."""

    label: str | None  # the normalised label ("0"/"1", "Violating", "3"...), None on parse failure
    ok: bool  # parsed successfully
    detail: str | None  # why it failed / what was matched
    score: float | None = None
    fine_label: str | None = None  # a finer label beside the binary one: "SP2.a", a rating, a dict as sorted JSON
    metadata: dict | None = None  # what a policy module returned beside its labels (JSON-ready)


def failure(detail: str, *, fine_label: str | None = None) -> LabelResult:
    return LabelResult(label=None, ok=False, detail=detail, fine_label=fine_label)


@runtime_checkable
class LabelParser(Protocol):
    name: str
    labels: tuple[str, ...] | None  # the closed label set, if any
    ordinal: bool  # numeric ordered labels (Likert)

    def parse(self, text: str) -> LabelResult: ...

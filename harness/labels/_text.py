"""Parsers that read a label out of free text: regex, JSON field, enumeration, Likert."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from harness.labels._base import LabelResult, failure


def normalise(value: Any) -> str | None:
    """A scalar answer as a label string: true/false -> "1"/"0", 1.0 -> "1", strings stripped."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    if isinstance(value, str):
        return value.strip()
    return None


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _apply_map(raw: str, mapping: dict[str, str] | None) -> str | None:
    if mapping is None:
        return raw
    if raw in mapping:
        return mapping[raw]
    folded = {k.casefold(): v for k, v in mapping.items()}
    return folded.get(raw.casefold())


@dataclass(frozen=True)
class RegexParser:
    """First (or last) match of a pattern; the matched group is the label, optionally mapped through a table."""

    pattern: re.Pattern[str]
    group: int | str = 0
    fine_group: int | str | None = None
    mapping: dict[str, str] | None = None
    labels: tuple[str, ...] | None = None
    which: str = "first"
    name: str = "regex"
    ordinal: bool = False

    def parse(self, text: str) -> LabelResult:
        matches = list(self.pattern.finditer(text or ""))
        if not matches:
            return failure(f"no match for /{self.pattern.pattern}/ in {_short(text or '')!r}")
        match = matches[0] if self.which == "first" else matches[-1]
        raw = match.group(self.group)
        fine = match.group(self.fine_group) if self.fine_group is not None else None
        if raw is None:
            return failure(f"group {self.group!r} did not take part in the match {match.group(0)!r}")
        label = _apply_map(raw.strip(), self.mapping)
        if label is None:
            return failure(f"matched {raw!r}, which the label map does not list", fine_label=fine)
        if self.labels is not None and label not in self.labels:
            return failure(f"matched {raw!r}, not one of {', '.join(self.labels)}", fine_label=fine)
        return LabelResult(label=label, ok=True, detail=f"matched {match.group(0)!r}", fine_label=fine)


def json_objects(text: str) -> list[dict[str, Any]]:
    """Every top-level JSON object in `text`, in order (prose, ```json fences and nesting tolerated)."""
    decoder = json.JSONDecoder()
    found, index = [], 0
    while (start := text.find("{", index)) >= 0:
        try:
            value, end = decoder.raw_decode(text, start)
        except ValueError:
            index = start + 1
            continue
        if isinstance(value, dict):
            found.append(value)
            index = end
        else:
            index = start + 1
    return found


def _lookup(obj: dict[str, Any], dotted: str) -> tuple[bool, Any]:
    current: Any = obj
    for part in dotted.split("."):
        if not isinstance(current, dict) or part not in current:
            return False, None
        current = current[part]
    return True, current


@dataclass(frozen=True)
class JsonFieldParser:
    """The label is `field` of the last JSON object in the text that has it (e.g. {"violation": 0|1})."""

    field: str
    mapping: dict[str, str] | None = None
    labels: tuple[str, ...] | None = None
    fine_field: str | None = None
    score_field: str | None = None
    name: str = "json-field"
    ordinal: bool = False

    def parse(self, text: str) -> LabelResult:
        objects = json_objects(text or "")
        if not objects:
            return failure(f"no JSON object in {_short(text or '')!r}")
        holders = [o for o in objects if _lookup(o, self.field)[0]]
        if not holders:
            return failure(f"no JSON object with field {self.field!r} (found {len(objects)} without it)")
        obj = holders[-1]
        value = _lookup(obj, self.field)[1]
        raw = normalise(value)
        if raw is None:
            return failure(f"field {self.field!r} is {json.dumps(value)[:40]}, not a scalar label")
        fine = normalise(_lookup(obj, self.fine_field)[1]) if self.fine_field else None
        label = _apply_map(raw, self.mapping)
        if label is None:
            return failure(f"{self.field}={raw!r}, which the label map does not list", fine_label=fine)
        if self.labels is not None and label not in self.labels:
            return failure(f"{self.field}={raw!r}, not one of {', '.join(self.labels)}", fine_label=fine)
        score = None
        if self.score_field:
            found, score_value = _lookup(obj, self.score_field)
            if found and isinstance(score_value, (int, float)) and not isinstance(score_value, bool):
                score = float(score_value)
        return LabelResult(label=label, ok=True, detail=f"{self.field}={json.dumps(value)}", score=score,
                           fine_label=fine)


def _term_regex(term: str) -> str:
    # Separators inside a label are loose: "Non-violating" also reads "non violating" and "non_violating".
    words = [re.escape(w) for w in re.split(r"[\s_-]+", term.strip()) if w]
    return r"[\s_-]*".join(words)


def _terms_pattern(terms: list[str]) -> tuple[re.Pattern[str], list[str]]:
    # Longest first, and never inside a longer word: "violating" in "Non-violating" is not a match.
    ordered = sorted(set(terms), key=lambda t: (-len(t), t))
    body = "|".join(f"({_term_regex(t)})" for t in ordered)
    return re.compile(rf"(?<![\w-])(?:{body})(?![\w-])", re.IGNORECASE), ordered


@dataclass(frozen=True)
class EnumParser:
    """One of a closed set of whole labels (plus aliases), case-insensitive, longest label first."""

    labels: tuple[str, ...]
    aliases: dict[str, str] | None = None
    which: str = "first"  # first | last | unique (distinct labels in one answer -> failure)
    name: str = "enum"
    ordinal: bool = False

    def parse(self, text: str) -> LabelResult:
        targets = {label: label for label in self.labels}
        targets.update(self.aliases or {})
        pattern, ordered = _terms_pattern(list(targets))
        found = []
        for match in pattern.finditer(text or ""):
            term = ordered[match.lastindex - 1]
            found.append((targets[term], match.group(0)))
        if not found:
            return failure(f"none of {', '.join(self.labels)} in {_short(text or '')!r}")
        distinct = sorted({label for label, _ in found})
        if self.which == "unique" and len(distinct) > 1:
            return failure(f"ambiguous: {' and '.join(distinct)} both appear")
        label, matched = found[0] if self.which != "last" else found[-1]
        return LabelResult(label=label, ok=True, detail=f"matched {matched!r}")


@dataclass(frozen=True)
class LikertParser:
    """An integer rating in min..max (ordinal), read from the answer or from an anchor phrase."""

    low: int = 1
    high: int = 5
    anchors: dict[str, int] | None = None
    name: str = "likert"
    ordinal: bool = True

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(str(i) for i in range(self.low, self.high + 1))

    def _result(self, value: int, how: str) -> LabelResult:
        if not self.low <= value <= self.high:
            return failure(f"{value} is outside {self.low}..{self.high} ({how})")
        return LabelResult(label=str(value), ok=True, detail=how, score=float(value))

    def parse(self, text: str) -> LabelResult:
        plain = (text or "").replace("*", "").strip()
        if re.fullmatch(r"[\"'(\[]?\s*-?\d+\s*[\"'.)\]]?", plain):
            return self._result(int(re.search(r"-?\d+", plain).group(0)), "whole answer")
        explicit = re.search(r"\b(?:rating|score|answer|agreement|rate)\b\s*(?:is|of|:|=|-)?\s*:?\s*(-?\d+)\b"
                             r"(?!\s*(?:-|–|to)\s*\d)", plain, re.IGNORECASE)
        if explicit:
            return self._result(int(explicit.group(1)), f"matched {explicit.group(0)!r}")
        out_of = re.search(rf"(?<![\d.])(-?\d+)\s*(?:/|out of)\s*{self.high}\b", plain, re.IGNORECASE)
        if out_of:
            return self._result(int(out_of.group(1)), f"matched {out_of.group(0)!r}")
        # Drop scale descriptions ("on a scale of 1 to 5", "1-5") before looking for a lone number.
        scrubbed = re.sub(rf"(?<![\d.]){self.low}\s*(?:-|–|to)\s*{self.high}(?!\d|\.\d)", " ", plain)
        numbers = [int(n) for n in re.findall(r"(?<![\d.])\d+(?!\d|\.\d)", scrubbed)]
        in_range = sorted({n for n in numbers if self.low <= n <= self.high})
        if len(in_range) == 1:
            return self._result(in_range[0], f"lone rating {in_range[0]}")
        if len(in_range) > 1:
            return failure(f"ambiguous: several ratings {in_range} in {_short(plain)!r}")
        if self.anchors:
            pattern, ordered = _terms_pattern(list(self.anchors))
            hits = {self.anchors[ordered[m.lastindex - 1]] for m in pattern.finditer(plain)}
            if len(hits) == 1:
                value = hits.pop()
                return self._result(value, f"anchor for {value}")
            if len(hits) > 1:
                return failure(f"ambiguous: anchors for {sorted(hits)} in {_short(plain)!r}")
        if numbers:
            return failure(f"{numbers[0]} is outside {self.low}..{self.high}")
        return failure(f"no rating {self.low}..{self.high} in {_short(plain)!r}")

"""`get_label_parser(spec)`: a scenario's `label` table -> a LabelParser, or one clear HarnessError."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.labels._base import LabelParser
from harness.labels._text import EnumParser, JsonFieldParser, LikertParser, RegexParser, normalise
from harness.registry import Registry

LABEL_PARSERS = Registry("label kind")  # kind -> factory(spec, base_dir) -> LabelParser
_ALLOWED = {
    "regex": {"pattern", "group", "fine_group", "map", "labels", "ignore_case", "match"},
    "json-field": {"field", "map", "labels", "fine_field", "score_field"},
    "enum": {"labels", "aliases", "match"},
    "likert": {"min", "max", "anchors"},
    "module": {"path", "module"},
}


def _strings(spec: dict, key: str) -> tuple[str, ...] | None:
    value = spec.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not value or any(normalise(v) in (None, "") for v in value):
        raise HarnessError(f"label: `{key}` must be a non-empty list of labels")
    return tuple(normalise(v) for v in value)


def _table(spec: dict, key: str) -> dict[str, str] | None:
    value = spec.get(key)
    if value is None:
        return None
    if not isinstance(value, dict) or not value or any(normalise(v) is None for v in value.values()):
        raise HarnessError(f"label: `{key}` must be a table of text -> label")
    return {str(k): normalise(v) for k, v in value.items()}


def _which(spec: dict, allowed: tuple[str, ...]) -> str:
    which = spec.get("match", "first")
    if which not in allowed:
        raise HarnessError(f"label: `match` must be one of {', '.join(allowed)}, got {which!r}")
    return which


def _group(value: Any, key: str) -> int | str | None:
    if value is None or isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise HarnessError(f"label: `{key}` must be a group number or name")


@LABEL_PARSERS.register("regex", "a regular expression's group, mapped to labels")
def _regex(spec: dict, base_dir: Path | None = None) -> RegexParser:
    pattern = spec.get("pattern")
    if not isinstance(pattern, str) or not pattern:
        raise HarnessError("label: kind regex needs a `pattern`")
    try:
        compiled = re.compile(pattern, re.IGNORECASE if spec.get("ignore_case") else 0)
    except re.error as exc:
        raise HarnessError(f"label: invalid regex {pattern!r}: {exc}") from None
    group = _group(spec.get("group", 1 if compiled.groups else 0), "group")
    fine_group = _group(spec.get("fine_group"), "fine_group")
    for g in (group, fine_group):
        if g is None:
            continue
        if isinstance(g, int) and g > compiled.groups or isinstance(g, str) and g not in compiled.groupindex:
            raise HarnessError(f"label: pattern {pattern!r} has no group {g!r}")
    mapping = _table(spec, "map")
    labels = _strings(spec, "labels")
    if labels is None and mapping is not None:
        labels = tuple(dict.fromkeys(mapping.values()))
    return RegexParser(pattern=compiled, group=group, fine_group=fine_group, mapping=mapping, labels=labels,
                       which=_which(spec, ("first", "last")))


@LABEL_PARSERS.register("json-field", "one field of a JSON object in the answer")
def _json_field(spec: dict, base_dir: Path | None = None) -> JsonFieldParser:
    field = spec.get("field")
    if not isinstance(field, str) or not field:
        raise HarnessError("label: kind json-field needs a `field` (e.g. \"violation\")")
    for key in ("fine_field", "score_field"):
        if spec.get(key) is not None and not isinstance(spec[key], str):
            raise HarnessError(f"label: `{key}` must be a field name")
    mapping = _table(spec, "map")
    labels = _strings(spec, "labels")
    if labels is None and mapping is not None:
        labels = tuple(dict.fromkeys(mapping.values()))
    return JsonFieldParser(field=field, mapping=mapping, labels=labels, fine_field=spec.get("fine_field"),
                           score_field=spec.get("score_field"))


@LABEL_PARSERS.register("enum", "one of a list of labels (or their aliases) in the text")
def _enum(spec: dict, base_dir: Path | None = None) -> EnumParser:
    labels = _strings(spec, "labels")
    if labels is None:
        raise HarnessError("label: kind enum needs `labels` (e.g. [\"Violating\", \"Non-violating\"])")
    aliases = _table(spec, "aliases")
    if aliases and any(v not in labels for v in aliases.values()):
        raise HarnessError("label: every alias must map to one of `labels`")
    return EnumParser(labels=labels, aliases=aliases, which=_which(spec, ("first", "last", "unique")))


@LABEL_PARSERS.register("likert", "a rating on a min..max scale, digits or anchor phrases")
def _likert(spec: dict, base_dir: Path | None = None) -> LikertParser:
    low, high = spec.get("min", 1), spec.get("max", 5)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high)) or low >= high:
        raise HarnessError("label: likert `min` and `max` must be integers with min < max")
    anchors = spec.get("anchors")
    if anchors is not None and (not isinstance(anchors, dict) or
                                not all(isinstance(v, int) and low <= v <= high for v in anchors.values())):
        raise HarnessError(f"label: likert `anchors` must map phrases to integers in {low}..{high}")
    return LikertParser(low=low, high=high, anchors=anchors)


@LABEL_PARSERS.register("module", "a policy module's own parse() (dactile-style modules run unchanged)")
def _module(spec: dict, base_dir: Path | None = None) -> LabelParser:
    from harness.labels.module import ModuleLabelParser, load_policy_module

    ref = spec.get("path", spec.get("module"))
    if not isinstance(ref, str) or not ref:
        raise HarnessError("label: kind module needs a `path` (or set `policy_module` in the scenario)")
    return ModuleLabelParser(load_policy_module(ref, base_dir=base_dir))


def get_label_parser(spec: dict, *, base_dir: Path | None = None) -> LabelParser:
    """Build the parser a `label` table describes; `base_dir` resolves a module's relative path."""
    if not isinstance(spec, dict):
        raise HarnessError("label must be a table such as {kind = \"json-field\", field = \"violation\"}")
    kind = spec.get("kind")
    if kind not in LABEL_PARSERS:
        raise HarnessError(f"label: unknown kind {kind!r} (expected one of {', '.join(KINDS)})")
    unknown = sorted(set(spec) - _ALLOWED[kind] - {"kind"})
    if unknown:
        raise HarnessError(f"label: unknown key {unknown[0]!r} for kind {kind} "
                           f"(allowed: {', '.join(sorted(_ALLOWED[kind]))})")
    return LABEL_PARSERS.get(kind).factory(spec, base_dir)


KINDS = tuple(LABEL_PARSERS.names())

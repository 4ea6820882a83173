"""Policy modules (issue 8.1): a Python file that brings its own policy text and its own label parser.

A policy module defines:
- `POLICY` (a string), or a sibling `<stem>.md` file holding the policy text;
- `parse(response)`: gets the model's final answer (a string) and returns one of
  - a dict with any of: `binary_label`/`label`/`violation`, `fine_label`/`category`, `score`/`confidence`,
    `parsed_successfully`/`ok`/`parsed`;
  - a tuple or list `(binary_label, fine_label, score, parsed_successfully)` (shorter tuples allowed);
  - an object (e.g. a dataclass) with attributes of those names;
  - a bare label (str, int, bool); `None` means "could not parse".
  When the success flag is missing, success means "a label came back". A reported failure keeps the label as
  None: a parse failure is its own outcome. Labels are normalised (True/1 -> "1", False/0 -> "0").
- optionally `LABELS` (the closed label set, default ("0", "1")) and `ORDINAL` (default False).

A broken module (import error, no POLICY, no parse) is one `HarnessError` at load; `parse` raising on one answer
is a failed `LabelResult` for that answer only.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from harness.errors import HarnessError
from harness.labels._base import LabelResult, failure
from harness.labels._text import normalise

LABEL_KEYS = ("binary_label", "label", "violation", "is_violation")
FINE_KEYS = ("fine_label", "category", "fine")
SCORE_KEYS = ("score", "confidence", "probability")
OK_KEYS = ("parsed_successfully", "ok", "parsed", "success")
_MISSING = object()


@dataclass(frozen=True)
class PolicyModule:
    ref: str  # as written in the scenario
    path: Path | None  # the file, when it was given as one
    policy: str
    parse: Callable[[str], Any]
    labels: tuple[str, ...] | None
    ordinal: bool
    sha256: str | None  # of the source file: a changed parser changes labels


def _import(ref: str, base_dir: Path | None) -> tuple[ModuleType, Path | None]:
    candidate = Path(ref).expanduser()
    if not candidate.is_absolute() and base_dir is not None:
        candidate = base_dir / candidate
    looks_like_file = ref.endswith(".py") or "/" in ref or "\\" in ref
    try:
        if looks_like_file or candidate.exists():
            if not candidate.is_file():
                raise HarnessError(f"policy module {ref!r}: no such file {candidate}")
            content = candidate.read_bytes()
            # one name per path and content: loading a scenario reads POLICY and builds the parser from the same
            # module, so its code runs once per process; an edited file is a new module
            digest = hashlib.sha256(str(candidate.resolve()).encode() + b"\0" + content).hexdigest()[:16]
            name = f"harness_policy_{candidate.stem}_{digest}"
            if name in sys.modules:
                return sys.modules[name], candidate
            spec = importlib.util.spec_from_file_location(name, candidate)
            if spec is None or spec.loader is None:
                raise HarnessError(f"policy module {ref!r}: cannot import {candidate}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module  # dataclasses in the module look themselves up here
            try:
                spec.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(name, None)
                raise
            return module, candidate
        return importlib.import_module(ref), None
    except HarnessError:
        raise
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - anything the module's own code raises while importing
        message = " ".join(str(exc).split()) or "no message"
        raise HarnessError(f"policy module {ref!r} failed to import: {type(exc).__name__}: {message}") from None


def load_policy_module(ref: str, *, base_dir: Path | None = None) -> PolicyModule:
    """Import a policy module (a file path, relative to `base_dir`, or a dotted module name) and check it."""
    module, path = _import(ref, base_dir)
    source = path or (Path(module.__file__) if getattr(module, "__file__", None) else None)
    policy = getattr(module, "POLICY", None)
    if policy is None and source is not None and source.with_suffix(".md").is_file():
        policy = source.with_suffix(".md").read_text(encoding="utf-8")
    if not isinstance(policy, str) or not policy.strip():
        raise HarnessError(f"policy module {ref!r} defines no POLICY string and has no sibling "
                           f"{source.stem + '.md' if source else '<stem>.md'} file")
    parse = getattr(module, "parse", None)
    if not callable(parse):
        raise HarnessError(f"policy module {ref!r} defines no parse(response) function")
    labels = getattr(module, "LABELS", ("0", "1"))
    if labels is not None:
        if not isinstance(labels, (list, tuple)) or not all(isinstance(x, (str, int)) for x in labels):
            raise HarnessError(f"policy module {ref!r}: LABELS must be a list of labels or None")
        labels = tuple(normalise(x) for x in labels)
    sha = hashlib.sha256(source.read_bytes()).hexdigest() if source is not None and source.is_file() else None
    return PolicyModule(ref=ref, path=path, policy=policy, parse=parse, labels=labels,
                        ordinal=bool(getattr(module, "ORDINAL", False)), sha256=sha)


def _pick(value: Any, keys: tuple[str, ...]) -> Any:
    for key in keys:
        if isinstance(value, dict):
            if key in value:
                return value[key]
        elif hasattr(value, key):
            return getattr(value, key)
    return _MISSING


def coerce_result(value: Any) -> LabelResult:
    """Whatever a module's parse returned, as a LabelResult (see the module docstring for the accepted shapes)."""
    if value is None:
        return failure("module parse returned None")
    if isinstance(value, LabelResult):
        return value
    if isinstance(value, (str, int, float, bool)):
        label, fine, score, ok = value, _MISSING, _MISSING, _MISSING
    elif isinstance(value, (tuple, list)):
        padded = list(value) + [_MISSING] * (4 - len(value))
        label, fine, score, ok = padded[:4]
    else:
        label, fine, score, ok = (_pick(value, LABEL_KEYS), _pick(value, FINE_KEYS), _pick(value, SCORE_KEYS),
                                  _pick(value, OK_KEYS))
        if label is _MISSING and fine is _MISSING and ok is _MISSING:
            return failure(f"module parse returned {type(value).__name__} without a label")
    label = None if label is _MISSING or label is None else normalise(label)
    fine = None if fine is _MISSING or fine is None else normalise(fine)
    score = float(score) if isinstance(score, (int, float)) and not isinstance(score, bool) else None
    ok = (label is not None) if ok is _MISSING or ok is None else bool(ok)
    if not ok or label is None:
        return LabelResult(label=None, ok=False, detail="module reported a parse failure", score=score,
                           fine_label=fine)
    return LabelResult(label=label, ok=True, detail="module parse", score=score, fine_label=fine)


@dataclass(frozen=True)
class ModuleLabelParser:
    module: PolicyModule
    name: str = "module"

    @property
    def labels(self) -> tuple[str, ...] | None:
        return self.module.labels

    @property
    def ordinal(self) -> bool:
        return self.module.ordinal

    def parse(self, text: str) -> LabelResult:
        try:
            result = coerce_result(self.module.parse(text))
        except Exception as exc:  # noqa: BLE001 - one bad answer is one failed case, never a crash
            return failure(f"parse raised {type(exc).__name__}: {' '.join(str(exc).split())[:200]}")
        if result.ok and self.labels is not None and result.label not in self.labels:
            return failure(f"module parse returned {result.label!r}, not one of {', '.join(self.labels)}",
                           fine_label=result.fine_label)
        return result

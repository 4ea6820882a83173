"""Policy modules (issue 8.1): a Python file that brings its own policy text and its own label parser.

A policy module defines:
- `POLICY` (a string), or a sibling `<stem>.md` file holding the policy text;
- `parse(response)`: gets a `ModelResponse` (harness.labels._response): the model's final answer as a `str`, which
  also carries the fields of `gpt_oss_utils_dactile`'s ModelResponse (`response`, `reasoning`, `model`, `prompt`,
  `system_prompt`), so modules written for either run unchanged. It returns one of
  - a dict with any of: `binary_label`/`label`/`violation`, `fine_grain_label`/`fine_label`/`category`,
    `float_label`/`score`/`confidence`, `parsed_successfully`/`ok`/`parsed`, `metadata`;
  - a tuple or list `(binary_label, fine_label, score, parsed_successfully)` (shorter tuples allowed);
  - an object (e.g. a dataclass) with attributes of those names;
  - a bare label (str, int, bool); `None` means "could not parse".
  When the success flag is missing, success means "a label came back". A reported failure keeps the label as
  None: a parse failure is its own outcome. Labels are normalised (True/1 -> "1", False/0 -> "0"). A fine label
  that is a dict becomes JSON with sorted keys (a stable string). A successful result with no binary label but a
  fine label (a Likert parser returning only the rating) takes the fine label as its label.
- optionally `LABELS` (the closed label set, default ("0", "1")) and `ORDINAL` (default False).

A module inside a package (its folder has `__init__.py`) is imported by its dotted name with the package's parent
folder on sys.path, so relative imports (`from ..model_predict import ModelResponse`) resolve; a dotted name is
looked up beside the scenario and in the working directory too. A broken module (import error, no POLICY, no
parse) is one `HarnessError` at load, naming the pip command when a third-party package is missing; `parse`
raising on one answer (an upstream bug too) is a failed `LabelResult` for that answer only, the exception in its
detail.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from harness.errors import HarnessError
from harness.labels._base import LabelResult, failure
from harness.labels._response import as_response
from harness.labels._text import normalise

LABEL_KEYS = ("binary_label", "label", "violation", "is_violation")
FINE_KEYS = ("fine_grain_label", "fine_label", "category", "fine")
SCORE_KEYS = ("float_label", "score", "confidence", "probability")
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
    labels_declared: bool = False  # the module set LABELS itself (else the binary default applies)


def _package_root(path: Path) -> tuple[Path, str] | None:
    """(folder to put on sys.path, dotted name) when `path` sits inside a package (its folder has __init__.py)."""
    folder = path.resolve().parent
    if not (folder / "__init__.py").is_file():
        return None
    parts = [path.stem] if path.stem != "__init__" else []
    while (folder / "__init__.py").is_file():
        parts.insert(0, folder.name)
        folder = folder.parent
    return folder, ".".join(parts)


def _on_path(folder: Path) -> None:
    entry = str(folder)
    if entry not in sys.path:
        sys.path.append(entry)  # appended: an installed package of the same name still wins


def _import_dotted(name: str, roots: list[Path]) -> ModuleType:
    for root in roots:
        _on_path(root)
    return importlib.import_module(name)


def _import(ref: str, base_dir: Path | None) -> tuple[ModuleType, Path | None]:
    candidate = Path(ref).expanduser()
    if not candidate.is_absolute() and base_dir is not None:
        candidate = base_dir / candidate
    looks_like_file = ref.endswith(".py") or "/" in ref or "\\" in ref
    package_top: str | None = None
    try:
        if looks_like_file or candidate.exists():
            if not candidate.is_file():
                raise HarnessError(f"policy module {ref!r}: no such file {candidate}")
            package = _package_root(candidate)
            if package is not None:  # inside a package: import by dotted name, so relative imports resolve
                root, dotted = package
                package_top = dotted.split(".")[0]
                module = _import_dotted(dotted, [root])
                loaded_from = Path(getattr(module, "__file__", "") or "").resolve()
                if loaded_from != candidate.resolve():  # another package of that name was imported first
                    raise HarnessError(f"policy module {ref!r}: the name {dotted!r} is already taken by "
                                       f"{loaded_from}; rename one of the two packages")
                return module, candidate
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
        package_top = ref.split(".")[0]
        # a dotted name: looked up beside the scenario and in the working directory too
        roots = [r for r in (base_dir, Path.cwd()) if r is not None and ((r / package_top).is_dir() or
                                                                        (r / f"{package_top}.py").is_file())]
        return _import_dotted(ref, roots), None
    except HarnessError:
        raise
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - anything the module's own code raises while importing
        message = " ".join(str(exc).split()) or "no message"
        hint = _import_hint(exc, package_top, None if looks_like_file else ref)
        raise HarnessError(f"policy module {ref!r} failed to import: {type(exc).__name__}: {message}"
                           f"{'; ' + hint if hint else ''}") from None


# import name -> the distribution pip installs it from, where they differ
DISTRIBUTIONS = {"yaml": "pyyaml", "sklearn": "scikit-learn", "PIL": "pillow", "cv2": "opencv-python",
                 "bs4": "beautifulsoup4", "dotenv": "python-dotenv", "google": "protobuf", "attr": "attrs",
                 "dateutil": "python-dateutil", "Levenshtein": "python-Levenshtein", "docx": "python-docx",
                 "jwt": "pyjwt", "magic": "python-magic", "Crypto": "pycryptodome", "serial": "pyserial"}


def _import_hint(exc: BaseException, package_top: str | None, ref: str | None = None) -> str | None:
    """What to do about an import failure: the pip command for a missing third-party package, or the layout fix."""
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        top = exc.name.split(".")[0]
        if top == package_top:
            if ref is not None and (ref == exc.name or ref.startswith(exc.name + ".")):
                return "not found beside the scenario, in the working directory or on sys.path"
            return f"{exc.name!r} is part of the policy's own package, not something to install: check its files"
        venv = Path(sys.prefix)
        dist = DISTRIBUTIONS.get(top, top)
        return (f"the package {top!r} is not installed in {venv}; install it there with "
                f"`{sys.executable} -m pip install {dist}`")
    if isinstance(exc, ImportError) and "relative import" in str(exc):
        return ("its folder is not a package: add an __init__.py beside it (and in each parent folder of the "
                "package), or set policy_module to its dotted name")
    return None


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
                        ordinal=bool(getattr(module, "ORDINAL", False)), sha256=sha,
                        labels_declared=hasattr(module, "LABELS"))


def _pick(value: Any, keys: tuple[str, ...]) -> Any:
    for key in keys:
        if isinstance(value, dict):
            if key in value:
                return value[key]
        elif hasattr(value, key):
            return getattr(value, key)
    return _MISSING


def fine_text(value: Any) -> str | None:
    """A fine label as a stable string: scalars as labels, a dict or list as JSON with sorted keys."""
    if value is None or value is _MISSING:
        return None
    if isinstance(value, (dict, list, tuple)):
        if not value:
            return None
        return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    text = normalise(value)
    return text if text else None


def _metadata(value: Any) -> dict | None:
    if not isinstance(value, dict) or not value:
        return None
    return json.loads(json.dumps(value, sort_keys=True, default=str))  # JSON-ready, whatever the module put in


def _coerce(value: Any) -> tuple[LabelResult, bool]:
    """(result, label came from the fine label) for whatever a module's parse returned."""
    if value is None:
        return failure("module parse returned None"), False
    if isinstance(value, LabelResult):
        return value, False
    metadata: Any = None
    if isinstance(value, (str, int, float, bool)):
        label, fine, score, ok = value, _MISSING, _MISSING, _MISSING
    elif isinstance(value, (tuple, list)):
        padded = list(value) + [_MISSING] * (4 - len(value))
        label, fine, score, ok = padded[:4]
    else:
        label, fine, score, ok = (_pick(value, LABEL_KEYS), _pick(value, FINE_KEYS), _pick(value, SCORE_KEYS),
                                  _pick(value, OK_KEYS))
        metadata = _pick(value, ("metadata",))
        if label is _MISSING and fine is _MISSING and ok is _MISSING:
            return failure(f"module parse returned {type(value).__name__} without a label"), False
    label = None if label is _MISSING or label is None else normalise(label)
    fine = fine_text(fine)
    score = float(score) if isinstance(score, (int, float)) and not isinstance(score, bool) else None
    metadata = _metadata(metadata)
    from_fine = False
    if label is None and fine is not None and ok is not _MISSING and ok is not None and bool(ok):
        label, from_fine = fine, True  # a rating-only parser (Likert): the fine label is the label
    ok = (label is not None) if ok is _MISSING or ok is None else bool(ok)
    if not ok or label is None:
        return LabelResult(label=None, ok=False, detail="module reported a parse failure", score=score,
                           fine_label=fine, metadata=metadata), False
    return LabelResult(label=label, ok=True, detail="module parse", score=score, fine_label=fine,
                       metadata=metadata), from_fine


def coerce_result(value: Any) -> LabelResult:
    """Whatever a module's parse returned, as a LabelResult (see the module docstring for the accepted shapes)."""
    return _coerce(value)[0]


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
        """`text` reaches the module's parse as a ModelResponse: the answer as a str, with dactile's fields."""
        try:
            result, from_fine = _coerce(self.module.parse(as_response(text)))
        except Exception as exc:  # noqa: BLE001 - one bad answer is one failed case, never a crash
            return failure(f"parse raised {type(exc).__name__}: {' '.join(str(exc).split())[:200]}")
        checked = self.labels is not None and (not from_fine or self.module.labels_declared)
        if result.ok and checked and result.label not in self.labels:
            return failure(f"module parse returned {result.label!r}, not one of {', '.join(self.labels)}",
                           fine_label=result.fine_label)
        return result

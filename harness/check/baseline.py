"""`harness baseline save`: a small, diff-friendly JSON summary of one run, meant to be committed.

Keys are sorted and the per-case sections hold one case per line, so a reviewer sees exactly which case
changed its label in a pull request. What it keeps:
  scenario         name, fingerprint, number of cases (a check refuses a baseline of another scenario)
  labels           case -> backend -> {"r0": repeat-0 label, "majority": label or null on a tie, "repeats": [...]}
  backends         per backend: label distribution, noise (repeat pairs, flips), providers that served it,
                   the backend fingerprint (model, revision, template sha, sampling)
  renders          renderer-pair classes, each backend's closest renderer and classes against it, sha256 of
                   each renderer's and each backend's prompt ids
  params           request-parameter classes per backend pair (from the capture), or null without one
  versions         python and package versions of the run
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from itertools import combinations
from pathlib import Path
from typing import Any

from harness.check._run import RunData, load_run
from harness.errors import HarnessError

SCHEMA = "harness-baseline/1"
ONE_PER_LINE = ("labels", "prompt_sha256")  # sections whose entries each take one line


def build_baseline(run: RunData) -> dict[str, Any]:
    labels: dict[str, dict[str, Any]] = {}
    for (case_id, backend), rows in run.labels.groupby(["case_id", "backend"], sort=True):
        by_repeat = dict(zip(rows["repeat"], rows["label"]))
        labels.setdefault(case_id, {})[backend] = {
            "r0": by_repeat.get(0), "majority": majority(list(by_repeat.values())),
            "repeats": [by_repeat.get(r) for r in range(max(run.repeats or 0, max(by_repeat) + 1))],
        }
    backends = {}
    for backend in run.backend_names:
        rows = run.labels[run.labels["backend"] == backend]
        backends[backend] = {
            "distribution": dict(sorted(Counter(rows["label"]).items())),
            "noise": self_noise(labels, backend),
            "providers": run.providers.get(backend, []),
            "fingerprint": (run.backends.get(backend) or {}).get("fingerprint"),
        }
    return {
        "schema": SCHEMA,
        "scenario": {k: run.scenario.get(k) for k in ("name", "fingerprint", "cases")},
        "source": {"run": run.path.name, "date": run.date, "repeats": run.repeats},
        "versions": run.environment,
        "labels": labels,
        "backends": backends,
        "renders": render_summary(run),
        "params": None if run.param_classes is None else {"pair_classes": run.param_classes},
    }


def majority(values: list[str | None]) -> str | None:
    """The most common label over repeats; None on a tie (no majority) or without answers."""
    counts = Counter(v for v in values if v is not None).most_common()
    if not counts or (len(counts) > 1 and counts[0][1] == counts[1][1]):
        return None
    return counts[0][0]


def self_noise(labels: dict[str, dict[str, Any]], backend: str) -> dict[str, int]:
    """Repeat pairs answered by this backend on the same case, and how many of them differ."""
    pairs = flips = 0
    for by_backend in labels.values():
        answers = [v for v in (by_backend.get(backend) or {}).get("repeats", []) if v is not None]
        for a, b in combinations(answers, 2):
            pairs += 1
            flips += a != b
    return {"pairs": pairs, "flips": flips}


def render_summary(run: RunData) -> dict[str, Any] | None:
    """Render classes seen (per renderer pair, per backend against its closest renderer) and prompt hashes."""
    if run.renders is None:
        return None
    pair_classes: dict[str, set[str]] = {}
    backend_classes: dict[str, set[str]] = {}
    closest: dict[str, set[str]] = {}
    renderer_material: dict[str, dict[str, Any]] = {}
    for case in run.renders.get("cases", []):
        if "error" in case:
            continue
        for pair in case.get("pairs", []):
            pair_classes.setdefault(f"{pair['a']}|{pair['b']}", set()).update(pair.get("classes", []))
        for backend, served in (case.get("backend_prompts") or {}).items():
            backend_classes.setdefault(backend, set()).update((served.get("vs_closest") or {}).get("classes", []))
            closest.setdefault(backend, set()).add(served.get("closest"))
        # renders.json keeps full ids for the first cases only; token counts for all of them
        ids = case.get("token_ids") or {}
        for renderer, count in (case.get("token_counts") or {}).items():
            renderer_material.setdefault(renderer, {})[case["case_id"]] = ids.get(renderer, count)
    return {
        "date": run.renders.get("date"),
        "pair_classes": {k: sorted(v) for k, v in sorted(pair_classes.items())},
        "backend_prompts": {b: {"closest": sorted(x for x in closest[b] if x), "classes": sorted(backend_classes[b])}
                            for b in sorted(backend_classes)},
        "renderer_sha256": {r: _sha(m) for r, m in sorted(renderer_material.items())},
        "prompt_sha256": _by_case(run.prompt_sha256),
    }


def _by_case(per_backend: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """backend -> case -> sha turned into case -> backend -> sha (one line per case in the file)."""
    out: dict[str, dict[str, str]] = {}
    for backend, cases in per_backend.items():
        for case_id, sha in cases.items():
            out.setdefault(case_id, {})[backend] = sha
    return out


def _sha(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def dumps_baseline(baseline: dict[str, Any]) -> str:
    """Sorted keys, two-space indent, and one line per case in the per-case sections."""
    return _dump(baseline, 0) + "\n"


def _dump(value: Any, depth: int, key: str | None = None) -> str:
    if not isinstance(value, dict) or not value:
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    pad, inner = "  " * depth, "  " * (depth + 1)
    lines = []
    for k in sorted(value):
        if key in ONE_PER_LINE:
            text = json.dumps(value[k], sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        else:
            text = _dump(value[k], depth + 1, k)
        lines.append(f"{inner}{json.dumps(k, ensure_ascii=False)}: {text}")
    return "{\n" + ",\n".join(lines) + "\n" + pad + "}"


def save_baseline(run_dir: str | Path, to: str | Path) -> Path:
    """Write the baseline of a run folder to `to` (parents created); returns the path."""
    baseline = build_baseline(load_run(run_dir))
    if not baseline["labels"]:
        raise HarnessError(f"{run_dir}: no labelled answers to keep in a baseline")
    path = Path(to)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dumps_baseline(baseline), encoding="utf-8")
    return path


def load_baseline(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HarnessError(f"baseline not found: {path}") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise HarnessError(f"baseline {path} is not readable JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise HarnessError(f"{path} is not a harness baseline (expected schema {SCHEMA}; "
                           "write one with `harness baseline save`)")
    for key in ("scenario", "labels", "backends"):
        if not isinstance(data.get(key), dict):
            raise HarnessError(f"baseline {path} is missing its {key!r} section")
    return data

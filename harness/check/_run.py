"""Read what `harness compare` left in a run folder into one typed `RunData` (the input of baselines and checks).

Labels come from labels.csv (the documented format), the serving provider from the result store's records,
render classes from renders.json, and parameter classes from the capture's flows.jsonl when there is one.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import pandas as pd

from harness.errors import HarnessError


@dataclass
class RunData:
    path: Path
    scenario: dict[str, Any]  # {"name", "fingerprint", "cases"}
    date: str | None
    repeats: int | None
    backends: dict[str, dict[str, Any]]  # run.json backends: {"config", "fingerprint"}
    environment: dict[str, Any]
    labels: pd.DataFrame  # case_id, backend, repeat (int), label (str); errored calls left out
    providers: dict[str, list[str]]  # backend -> sorted providers that served it (empty for local backends)
    renders: dict[str, Any] | None  # renders.json as written
    param_classes: dict[str, list[str]] | None  # "a|b" -> sorted classes; None without a capture
    prompt_sha256: dict[str, dict[str, str]] = field(default_factory=dict)  # backend -> case -> sha of prompt ids
    notes: list[str] = field(default_factory=list)

    @property
    def backend_names(self) -> list[str]:
        return sorted(set(self.labels["backend"]) | set(self.backends))

    @property
    def case_ids(self) -> set[str]:
        return set(self.labels["case_id"])


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HarnessError(f"{path.parent} is not a run folder (no {path.name}): run `harness compare` first") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise HarnessError(f"{path} is not readable {what} ({type(exc).__name__})") from None


def load_run(path: str | Path) -> RunData:
    """Everything a baseline or a check needs from one run folder; one HarnessError line when it is unusable."""
    run_dir = Path(path)
    if not run_dir.is_dir():
        raise HarnessError(f"run folder not found: {run_dir}")
    info = _read_json(run_dir / "run.json", "JSON")
    if not isinstance(info, dict) or not isinstance(info.get("scenario"), dict):
        raise HarnessError(f"{run_dir / 'run.json'} has no scenario: not written by `harness compare`")
    labels = _read_labels(run_dir / "labels.csv")
    renders_path = run_dir / "renders.json"
    renders = _read_json(renders_path, "JSON") if renders_path.exists() else None
    notes: list[str] = []
    providers, prompt_sha = _from_store(run_dir / "results.sqlite", labels, notes)
    pinned = {name: ((entry or {}).get("config") or {}).get("provider")
              for name, entry in (info.get("backends") or {}).items()}
    param_classes = _param_classes(run_dir, info.get("capture_dir"), pinned, notes)
    return RunData(path=run_dir, scenario=info["scenario"], date=info.get("date"), repeats=info.get("repeats"),
                   backends=info.get("backends") or {}, environment=info.get("environment") or {},
                   labels=labels, providers=providers, renders=renders, param_classes=param_classes,
                   prompt_sha256=prompt_sha, notes=notes)


def _read_labels(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise HarnessError(f"{path.parent} is not a run folder (no labels.csv): run `harness compare` first")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise HarnessError(f"{path} is not a readable CSV file ({type(exc).__name__})") from None
    missing = [c for c in ("case_id", "backend", "repeat", "label") if c not in frame.columns]
    if missing:
        raise HarnessError(f"{path}: missing column(s) {','.join(missing)}")
    frame = frame[frame["label"].str.strip() != ""]  # an empty label is a call that errored: no answer
    repeats = pd.to_numeric(frame["repeat"], errors="coerce")
    if repeats.isna().any():
        raise HarnessError(f"{path}: repeat must be an integer (got {frame['repeat'][repeats.isna()].iloc[0]!r})")
    return pd.DataFrame({"case_id": frame["case_id"].str.strip(), "backend": frame["backend"].str.strip(),
                         "repeat": repeats.astype(int), "label": frame["label"].str.strip()}).reset_index(drop=True)


def _from_store(path: Path, labels: pd.DataFrame, notes: list[str]):
    """Providers per backend and sha256 of each backend's exposed prompt ids per case (repeat 0)."""
    providers: dict[str, set[str]] = {}
    prompt_sha: dict[str, dict[str, str]] = {}
    if not path.exists():
        notes.append("no results.sqlite: serving providers unknown")
        return {}, {}
    from harness.report._load import run_records

    # Only the rows this run's labels.csv was written from: a cached store may hold older keys.
    wanted = set(zip(labels["case_id"], labels["backend"], labels["repeat"]))
    try:
        records = run_records(path.parent, notes)  # the store's rows for the run keys records.csv names
    except (sqlite3.DatabaseError, TypeError, KeyError, ValueError) as exc:  # not a store, or not ours
        raise HarnessError(f"{path} is not a readable result store ({type(exc).__name__})") from None
    latest = {}
    for record in records:
        latest[(record.case_id, record.backend, record.repeat)] = record  # write order: the last one wins
    for (case_id, backend, repeat), record in latest.items():
        completion = record.completion
        if completion is None or (wanted and (case_id, backend, repeat) not in wanted):
            continue
        if completion.served_provider:
            providers.setdefault(backend, set()).add(completion.served_provider)
        else:
            providers.setdefault(backend, set())
        if repeat == 0 and completion.prompt_token_ids:
            ids = json.dumps(list(completion.prompt_token_ids), separators=(",", ":"))
            prompt_sha.setdefault(backend, {})[case_id] = hashlib.sha256(ids.encode()).hexdigest()
    return {b: sorted(p) for b, p in providers.items()}, prompt_sha


def _param_classes(run_dir: Path, capture_dir: str | None, pinned: dict[str, str | None],
                   notes: list[str]) -> dict[str, list[str]] | None:
    """Request-parameter classes between every backend pair, over the calls of the same (case, repeat)."""
    if not capture_dir:
        return None
    candidates = [Path(capture_dir), run_dir / capture_dir, run_dir.parent / capture_dir,
                  run_dir / "flows.jsonl"]
    found = next((p for p in candidates if (p / "flows.jsonl").exists() or p.suffix == ".jsonl" and p.exists()),
                 None)
    if found is None:
        notes.append(f"capture folder {capture_dir} not found: parameter classes not compared")
        return None
    from harness.capture.calls import calls_by_case
    from harness.capture.params import compare_payloads, finding_classes
    from harness.capture.proxy import read_flows

    classes: dict[str, set[str]] = {}
    for by_backend in calls_by_case(read_flows(found)).values():
        for a, b in combinations(sorted(by_backend), 2):
            found_classes = finding_classes(compare_payloads(by_backend[a], by_backend[b], pinned=pinned.get(a)))
            classes.setdefault(f"{a}|{b}", set()).update(found_classes)
    return {pair: sorted(c) for pair, c in sorted(classes.items())}

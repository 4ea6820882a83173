"""Read a run folder written by `harness compare` into one typed bundle. Missing optional parts are None; a
folder that is not a run is one clear HarnessError."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.records import RunRecord


@dataclass
class RunFolder:
    path: Path
    run: dict[str, Any]
    labels: Any  # pandas DataFrame: case_id, backend, repeat, label ("" for an errored call), gold
    stats: dict[str, Any]
    renders: dict[str, Any] | None
    records: list[RunRecord]
    flows: list[dict[str, Any]] | None
    flows_path: Path | None
    notes: list[str] = field(default_factory=list)


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HarnessError(f"{path}: not readable JSON ({exc.__class__.__name__})") from None


def load_run(run_dir: str | Path) -> RunFolder:
    path = Path(run_dir)
    if not path.is_dir():
        raise HarnessError(f"no run folder at {path}")
    for required in ("run.json", "labels.csv"):
        if not (path / required).is_file():
            raise HarnessError(f"{path} is not a run folder: {required} is missing (run `harness compare` first)")
    run = _json(path / "run.json")
    if not isinstance(run, dict):
        raise HarnessError(f"{path / 'run.json'}: expected a JSON object")
    notes: list[str] = []
    labels = _labels(path / "labels.csv")
    if (path / "stats.json").is_file():
        stats = _json(path / "stats.json")
    else:
        stats = _compute_stats(labels)
        notes.append("stats.json was missing: statistics recomputed from labels.csv")
    renders = _json(path / "renders.json") if (path / "renders.json").is_file() else None
    if renders is None:
        notes.append("renders.json is missing: no render classes or token diffs")
    records = run_records(path, notes)
    flows, flows_path = _flows(path, run, notes)
    return RunFolder(path, run, labels, stats, renders, records, flows, flows_path, notes)


def _labels(path: Path):
    import pandas as pd

    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as exc:  # noqa: BLE001 - any parse error is bad input
        raise HarnessError(f"{path}: not a readable CSV ({exc.__class__.__name__})") from None
    missing = {"case_id", "backend", "label"} - set(frame.columns)
    if missing:
        raise HarnessError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
    if "repeat" not in frame.columns:
        frame["repeat"] = "0"
    if "gold" not in frame.columns:
        frame["gold"] = ""
    frame["repeat"] = pd.to_numeric(frame["repeat"], errors="coerce").fillna(0).astype(int)
    return frame


def _compute_stats(labels) -> dict[str, Any]:
    from harness.stats import compute_stats

    usable = labels[labels["label"] != ""].copy()
    usable["gold"] = usable["gold"].replace("", None)
    return compute_stats(usable).to_json()


def run_records(path: Path, notes: list[str]) -> list[RunRecord]:
    """The records of this run: the store's latest rows for the run keys records.csv names (the store may hold
    rows of earlier runs with other settings); records.csv alone when the store is gone."""
    import pandas as pd

    csv_path, store_path = path / "records.csv", path / "results.sqlite"
    keys = None
    frame = None
    if csv_path.is_file():
        frame = pd.read_csv(csv_path, dtype={"case_id": str, "backend": str})
        if "run_key" in frame.columns:
            keys = set(frame["run_key"].dropna().astype(str))
    if store_path.is_file():
        from harness.run.store import ResultStore

        with ResultStore(store_path) as store:
            return store.latest(keys)
    if frame is None:
        notes.append("no results.sqlite and no records.csv: no latency, token or output sections")
        return []
    notes.append("results.sqlite is missing: records read from records.csv (no tool calls)")
    return [_record_from_row(row) for row in frame.to_dict("records")]


def _record_from_row(row: dict[str, Any]) -> RunRecord:
    from harness.records import Completion, Usage

    def value(key: str) -> Any:
        item = row.get(key)
        return None if item is None or (isinstance(item, float) and math.isnan(item)) else item

    def ids(key: str) -> list[int] | None:
        raw = value(key)
        return json.loads(raw) if isinstance(raw, str) else None

    def count(key: str) -> int | None:
        raw = value(key)
        return int(raw) if raw is not None else None

    completion = None
    if value("error_cause") is None:
        completion = Completion(
            text=str(value("text") or ""), reasoning=value("reasoning"), reasoning_field=value("reasoning_field"),
            finish_reason=value("finish_reason"),
            usage=Usage(count("prompt_tokens"), count("completion_tokens"), count("reasoning_tokens")),
            prompt_token_ids=ids("prompt_token_ids"), output_token_ids=ids("output_token_ids"),
            served_provider=value("served_provider"), request_id=value("request_id"))
    return RunRecord(run_key=str(value("run_key") or ""), case_id=str(row["case_id"]), backend=str(row["backend"]),
                     repeat=int(row.get("repeat") or 0), request={}, completion=completion,
                     error_cause=value("error_cause"), error_message=value("error_message"),
                     latency_s=value("latency_s"), attempts=int(value("attempts") or 1),
                     label=None if value("label") is None else str(value("label")),
                     label_ok=None if value("label_ok") is None else bool(value("label_ok")))


def _flows(path: Path, run: dict[str, Any], notes: list[str]) -> tuple[list[dict] | None, Path | None]:
    capture_dir = run.get("capture_dir")
    if not capture_dir:
        return None, None
    from harness.capture.proxy import read_flows

    relative = Path(capture_dir)
    # capture_dir was written relative to the directory compare ran in; look there, then near the run folder
    for candidate in (relative, path / relative, path.parent / relative, path.parent.parent / relative):
        flows_file = candidate / "flows.jsonl"
        if flows_file.is_file():
            return read_flows(flows_file), flows_file
    notes.append(f"capture folder {capture_dir} not found: request parameters come from the recorded bodies")
    return None, None

"""Append-only SQLite (WAL) result store in the run folder, keyed on what changes the answer.

Every attempt-series that ends (with a completion or an error) is one new row, written the moment it arrives.
Nothing is updated or deleted. A rerun of the same command asks `completed_keys()` and sends only what is
missing; a key whose latest row is an error is missing, so failures are retried on rerun.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Self

from harness.records import Completion, RunRecord, Usage

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    run_key TEXT NOT NULL,
    case_id TEXT NOT NULL,
    backend TEXT NOT NULL,
    repeat INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    written_at REAL NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_key ON records(run_key);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def run_key(backend_fingerprint: dict[str, Any], request_body: dict[str, Any], repeat: int) -> str:
    """sha256 over the backend fingerprint (kind, url, provider, model, revision, template, harmony version,
    sampling, effort), the request as rendered input (messages, tools, effort) and the repeat index."""
    material = canonical_json({"backend": backend_fingerprint, "request": request_body, "repeat": repeat})
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


class ResultStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def append(self, record: RunRecord) -> None:
        payload = canonical_json(record.to_dict())
        with self._lock:
            self._db.execute(
                "INSERT INTO records (run_key, case_id, backend, repeat, ok, written_at, record) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (record.run_key, record.case_id, record.backend, record.repeat,
                 int(record.completion is not None), time.time(), payload))

    def completed_keys(self) -> set[str]:
        with self._lock:
            rows = self._db.execute("SELECT DISTINCT run_key FROM records WHERE ok = 1").fetchall()
        return {row[0] for row in rows}

    def answered_backends(self) -> set[str]:
        """The backend names with at least one stored answer."""
        with self._lock:
            rows = self._db.execute("SELECT DISTINCT backend FROM records WHERE ok = 1").fetchall()
        return {row[0] for row in rows}

    def set_meta(self, key: str, value: Any) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, canonical_json(value)))

    def get_meta(self, key: str, default: Any = None) -> Any:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def latest(self, keys: set[str] | None = None) -> list[RunRecord]:
        """The latest row per key (a success wins over a later failure of a duplicate), in write order."""
        with self._lock:
            rows = self._db.execute("SELECT run_key, ok, record FROM records ORDER BY seq").fetchall()
        chosen: dict[str, tuple[int, str]] = {}
        for key, ok, payload in rows:
            if keys is not None and key not in keys:
                continue
            if key in chosen and chosen[key][0] and not ok:
                continue
            chosen[key] = (ok, payload)
        return [record_from_dict(json.loads(payload)) for _, payload in chosen.values()]

    def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM records").fetchone()[0]


def record_from_dict(data: dict[str, Any]) -> RunRecord:
    completion = data.get("completion")
    if completion is not None:
        usage = Usage(**(completion.pop("usage", None) or {}))
        completion = Completion(usage=usage, **completion)
    return RunRecord(**{**data, "completion": completion})


def records_frame(records: list[RunRecord]):
    """One row per record, flat columns, for CSV/parquet export and statistics."""
    import pandas as pd

    from harness.explain.probabilities import near_tie

    rows = []
    for record in records:
        completion = record.completion
        usage = asdict(completion.usage) if completion else {}
        rows.append({
            "case_id": record.case_id, "backend": record.backend, "repeat": record.repeat,
            "label": record.label, "label_ok": record.label_ok, "label_detail": record.label_detail,
            "fine_label": record.fine_label, "label_score": record.label_score,
            "label_metadata": json.dumps(record.label_metadata, sort_keys=True) if record.label_metadata else None,
            "label_probs": json.dumps(record.label_probs, sort_keys=True) if record.label_probs is not None else None,
            "label_margin": record.label_margin,
            "near_tie": near_tie(record.label_margin),
            "label_probs_exposed": record.label_probs_exposed,
            "text": completion.text if completion else None,
            "reasoning": completion.reasoning if completion else None,
            "reasoning_field": completion.reasoning_field if completion else None,
            "finish_reason": completion.finish_reason if completion else None,
            "prompt_tokens": usage.get("prompt_tokens"), "completion_tokens": usage.get("completion_tokens"),
            "reasoning_tokens": usage.get("reasoning_tokens"),
            "served_provider": completion.served_provider if completion else None,
            "request_id": completion.request_id if completion else None,
            "prompt_token_ids": json.dumps(completion.prompt_token_ids) if completion and
            completion.prompt_token_ids is not None else None,
            "output_token_ids": json.dumps(completion.output_token_ids) if completion and
            completion.output_token_ids is not None else None,
            "latency_s": record.latency_s, "attempts": record.attempts,
            "error_cause": record.error_cause, "error_message": record.error_message,
            "run_key": record.run_key,
        })
    return pd.DataFrame(rows)

"""The async orchestrator: every (case, backend, repeat) through its backend, retried, stored as it arrives.

- bounded concurrency per backend (its `concurrency`), local model backends get batches instead;
- retries with exponential backoff and full jitter on retryable errors (429, 5xx, timeouts, dropped connections),
  honouring Retry-After;
- each finished item is appended to the store at once, so an interrupted run loses nothing and a rerun resumes.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.backends.base import Backend
from harness.errors import BackendError
from harness.records import Completion, RunRecord
from harness.request import ChatRequest
from harness.run.store import ResultStore, run_key

MAX_RETRY_AFTER_S = 120.0


@dataclass(frozen=True)
class WorkItem:
    case_id: str
    repeat: int
    backend: str
    request: ChatRequest
    key: str


@dataclass
class RunSummary:
    planned: int = 0
    skipped: int = 0  # already in the store
    completed: int = 0
    failed: int = 0
    retries: int = 0
    failures_by_cause: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0


# (case_id, completion) -> (label, ok, detail) or (label, ok, detail, extras); extras may hold `fine_label`,
# `score`, `metadata` and the label probabilities (`label_probs`, `label_margin`, `label_probs_exposed`), stored on
# the record beside the label
Labeler = Callable[[str, Completion], tuple]


def plan(backends: dict[str, Backend], requests: Sequence[tuple[str, ChatRequest]], repeats: int) -> list[WorkItem]:
    items = []
    for name, backend in backends.items():
        fingerprint = backend.fingerprint()
        for repeat in range(repeats):
            for case_id, request in requests:
                key = run_key(fingerprint, request.to_body(), repeat)
                items.append(WorkItem(case_id, repeat, name, request, key))
    return items


@dataclass
class Orchestrator:
    backends: dict[str, Backend]
    store: ResultStore
    labeler: Labeler | dict[str, Labeler] | None = None
    backoff_base_s: float | None = None  # None: each backend's own retry policy (`config.backoff_base_s`)
    backoff_max_s: float = 30.0
    progress: Any = None  # a rich Progress, or None for silence
    seed: int | None = None
    summary: RunSummary = field(default_factory=RunSummary)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._tasks: dict[str, Any] = {}

    async def run(self, items: Sequence[WorkItem]) -> RunSummary:
        started = time.perf_counter()
        done_keys = self.store.completed_keys()
        todo = [item for item in items if item.key not in done_keys]
        self.summary.planned = len(items)
        self.summary.skipped = len(items) - len(todo)
        by_backend: dict[str, list[WorkItem]] = {}
        for item in todo:
            by_backend.setdefault(item.backend, []).append(item)
        if self.progress is not None:
            for name in self.backends:
                count = len(by_backend.get(name, []))
                self._tasks[name] = self.progress.add_task(name, total=count or 1, completed=0 if count else 1)
        await asyncio.gather(*(self._run_backend(self.backends[name], queue) for name, queue in by_backend.items()))
        self.summary.wall_s = time.perf_counter() - started
        return self.summary

    async def _run_backend(self, backend: Backend, items: list[WorkItem]) -> None:
        config = backend.config
        if backend.max_batch > 1:
            size = max(1, min(backend.max_batch, config.batch_size))
            for start in range(0, len(items), size):
                await self._run_batch(backend, items[start:start + size])
            return
        semaphore = asyncio.Semaphore(config.concurrency)

        async def one(item: WorkItem) -> None:
            async with semaphore:
                await self._run_one(backend, item)

        await asyncio.gather(*(one(item) for item in items))

    async def _run_one(self, backend: Backend, item: WorkItem) -> None:
        config = backend.config
        started_at = time.time()
        attempts = 0
        while True:
            attempts += 1
            began = time.perf_counter()
            try:
                completion = await asyncio.wait_for(
                    backend.complete(item.request, correlation=f"{item.case_id}/{item.repeat}/{item.backend}"),
                    timeout=config.timeout)
            except TimeoutError:
                error = BackendError("timeout", f"no answer within {config.timeout:g}s", retryable=True)
            except BackendError as exc:
                error = exc
            except Exception as exc:  # noqa: BLE001 -- a backend bug must not end the run: it is this item's outcome
                error = BackendError("internal", f"{type(exc).__name__}: {exc}")
            else:  # labelling and storing happen outside the try: their failures are never retried as calls
                self._finish(item, completion, None, time.perf_counter() - began, attempts, started_at)
                return
            if not error.retryable or attempts > config.max_retries:
                self._finish(item, None, error, time.perf_counter() - began, attempts, started_at)
                return
            self.summary.retries += 1
            base = self.backoff_base_s if self.backoff_base_s is not None else config.backoff_base_s
            await asyncio.sleep(self._delay(attempts, error.retry_after, base))

    async def _run_batch(self, backend: Backend, batch: list[WorkItem]) -> None:
        started_at = time.time()
        began = time.perf_counter()
        try:
            results: list[Any] = await asyncio.wait_for(
                backend.complete_batch([item.request for item in batch]),
                timeout=backend.config.timeout * len(batch))
        except TimeoutError:
            results = [BackendError("timeout", "batch timed out")] * len(batch)
        except BackendError as exc:
            results = [exc] * len(batch)
        except Exception as exc:  # noqa: BLE001 -- as in _run_one
            results = [BackendError("internal", f"{type(exc).__name__}: {exc}")] * len(batch)
        latency = (time.perf_counter() - began) / max(1, len(batch))
        if len(results) != len(batch):  # a backend bug must not silently drop items
            error = BackendError("internal", f"backend returned {len(results)} results for {len(batch)} requests")
            results = [error] * len(batch)
        for item, result in zip(batch, results, strict=True):
            if isinstance(result, BackendError):
                self._finish(item, None, result, latency, 1, started_at)
            else:
                self._finish(item, result, None, latency, 1, started_at)

    def _delay(self, attempt: int, retry_after: float | None, base: float) -> float:
        if retry_after is not None:
            return min(max(0.0, retry_after), MAX_RETRY_AFTER_S)
        ceiling = min(self.backoff_max_s, base * (2 ** (attempt - 1)))
        return self._random.uniform(0, ceiling)  # full jitter: spreads retries of a burst of 429s

    def _finish(self, item: WorkItem, completion: Completion | None, error: BackendError | None, latency: float,
                attempts: int, started_at: float) -> None:
        label = label_ok = label_detail = None
        extras: dict = {}
        labeler = self.labeler
        if isinstance(labeler, dict):  # one labeler per backend (e.g. each knows its backend's model)
            labeler = labeler.get(item.backend)
        if completion is not None and labeler is not None:
            try:
                label, label_ok, label_detail, *more = labeler(item.case_id, completion)
                extras = dict(more[0] or {}) if more else {}
            except Exception as exc:  # noqa: BLE001 -- a broken parser is this case's parse failure, not a crash
                label, label_ok, label_detail = None, False, f"label parser raised {type(exc).__name__}: {exc}"
        record = RunRecord(run_key=item.key, case_id=item.case_id, backend=item.backend, repeat=item.repeat,
                           request=item.request.to_body(), completion=completion,
                           error_cause=error.cause if error else None, error_message=str(error) if error else None,
                           latency_s=latency, attempts=attempts, started_at=started_at, label=label,
                           label_ok=label_ok, label_detail=label_detail, fine_label=extras.get("fine_label"),
                           label_score=extras.get("score"), label_metadata=extras.get("metadata"),
                           label_probs=extras.get("label_probs"), label_margin=extras.get("label_margin"),
                           label_probs_exposed=extras.get("label_probs_exposed"))
        self.store.append(record)
        if error is None:
            self.summary.completed += 1
        else:
            self.summary.failed += 1
            self.summary.failures_by_cause[error.cause] = self.summary.failures_by_cause.get(error.cause, 0) + 1
        if self.progress is not None and item.backend in self._tasks:
            self.progress.advance(self._tasks[item.backend])

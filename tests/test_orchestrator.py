"""Orchestrator and store: retries, Retry-After, timeouts, resume, append-only records.

The backend here is a scripted in-process implementation of the Backend protocol (no HTTP): it isolates the
orchestrator's own logic. The same behaviour over real HTTP is covered with the fault server in test_compare*.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from pydantic import ValidationError

from harness.backends.base import BackendConfig, backend
from harness.errors import BackendError
from harness.records import Completion
from harness.request import ChatRequest
from harness.run.orchestrator import Orchestrator, plan
from harness.run.store import ResultStore


@backend("scripted", "test-only: answers from a script")
def _scripted_factory(config, context):
    return ScriptedBackend(config.name, {})


class ScriptedBackend:
    """Answers per case from a script of outcomes: "ok", "429", "500", "hang", "fatal", "crash"."""

    def __init__(self, name: str, script: dict[str, list[str]], *, timeout: float = 5.0, max_retries: int = 3,
                 concurrency: int = 4, batch: int = 1):
        self.config = BackendConfig(name=name, kind="scripted", timeout=timeout, max_retries=max_retries,
                                    concurrency=concurrency, batch_size=max(batch, 1))
        self.script = {case: list(outcomes) for case, outcomes in script.items()}
        self.calls: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._batch = batch

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def max_batch(self) -> int:
        return self._batch

    def fingerprint(self) -> dict:
        return {"kind": "scripted", "name": self.config.name}

    async def complete(self, request: ChatRequest, *, correlation: str | None = None) -> Completion:
        case = request.messages[-1].content
        self.calls.append(case)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            outcome = self.script.get(case, ["ok"]).pop(0) if self.script.get(case) else "ok"
            await asyncio.sleep(0.01)
            if outcome == "429":
                raise BackendError("rate-limit", "429 Too Many Requests", retryable=True, retry_after=0.2, status=429)
            if outcome == "500":
                raise BackendError("server-error", "500", retryable=True, status=500)
            if outcome == "hang":
                await asyncio.sleep(60)
            if outcome == "fatal":
                raise BackendError("bad-request", "400 Bad Request", status=400)
            if outcome == "crash":
                raise RuntimeError("backend bug")
            return Completion(text=f'{{"violation": {len(case) % 2}}}')
        finally:
            self.in_flight -= 1

    async def complete_batch(self, requests):
        return [await self.complete(r) for r in requests]

    async def aclose(self) -> None:
        pass


def requests_for(cases):
    return [(case, ChatRequest.from_body({"messages": [{"role": "user", "content": case}]})) for case in cases]


def labeler(case_id, completion):
    return ("1" if "1" in completion.text else "0"), True, None


def run(backends, cases, store, repeats=1):
    orchestrator = Orchestrator(backends={b.name: b for b in backends}, store=store, labeler=labeler,
                                backoff_base_s=0.01, seed=1)
    items = plan(orchestrator.backends, requests_for(cases), repeats)
    return asyncio.run(orchestrator.run(items))


def test_faults_are_retried_or_recorded_with_their_cause(tmp_path):
    backend = ScriptedBackend("b", {"c429": ["429", "ok"], "c500": ["500", "500", "ok"], "chang": ["hang", "ok"],
                                    "cfatal": ["fatal"], "ccrash": ["crash"]}, timeout=0.3)
    with ResultStore(tmp_path / "results.sqlite") as store:
        started = time.perf_counter()
        summary = run([backend], ["c429", "c500", "chang", "cfatal", "ccrash", "fine"], store)
        elapsed = time.perf_counter() - started
        records = {r.case_id: r for r in store.latest()}
    assert summary.completed == 4 and summary.failed == 2
    assert summary.failures_by_cause == {"bad-request": 1, "internal": 1}
    assert records["c429"].attempts == 2 and records["c429"].completion is not None
    assert records["c500"].attempts == 3
    assert records["chang"].attempts == 2 and records["chang"].completion is not None
    assert records["cfatal"].error_cause == "bad-request" and records["cfatal"].attempts == 1
    assert records["ccrash"].error_message == "RuntimeError: backend bug"
    assert elapsed >= 0.2  # Retry-After honoured


def test_rerun_sends_only_what_is_missing(tmp_path):
    path = tmp_path / "results.sqlite"
    first = ScriptedBackend("b", {"c2": ["fatal"]})
    with ResultStore(path) as store:
        run([first], ["c1", "c2", "c3"], store, repeats=2)
    assert sorted(first.calls) == ["c1", "c1", "c2", "c2", "c3", "c3"]
    second = ScriptedBackend("b", {})
    with ResultStore(path) as store:
        summary = run([second], ["c1", "c2", "c3"], store, repeats=2)
        latest = store.latest()
        total_rows = store.count()
    assert second.calls == ["c2"]  # only the failed repeat-0 of c2 (c2 repeat 1 succeeded: script was used up)
    assert summary.skipped == 5 and summary.completed == 1
    assert len(latest) == 6 and all(r.completion is not None for r in latest)
    assert total_rows == 7  # append-only: the failure row is kept


def test_concurrency_is_bounded_per_backend(tmp_path):
    backend = ScriptedBackend("b", {}, concurrency=3)
    with ResultStore(tmp_path / "r.sqlite") as store:
        run([backend], [f"case{i}" for i in range(20)], store)
    assert backend.max_in_flight == 3


def test_batching_backends_get_batches(tmp_path):
    backend = ScriptedBackend("local", {}, batch=4)
    with ResultStore(tmp_path / "r.sqlite") as store:
        summary = run([backend], [f"case{i}" for i in range(10)], store)
        labels = sorted((r.case_id, r.label) for r in store.latest())
    assert summary.completed == 10
    assert labels[0] == ("case0", "1")  # len("case0") odd -> violation 1


def test_different_backend_fingerprints_give_different_keys(tmp_path):
    a, b = ScriptedBackend("a", {}), ScriptedBackend("b", {})
    items = plan({"a": a, "b": b}, requests_for(["x"]), repeats=2)
    assert len({item.key for item in items}) == 4


@pytest.mark.parametrize("bad", [0, 2000])
def test_backend_config_validates_concurrency(bad):
    with pytest.raises(ValidationError):
        BackendConfig(name="x", kind="scripted", concurrency=bad)


def test_a_raising_label_parser_is_a_parse_failure_not_a_retry(tmp_path):
    backend = ScriptedBackend("b", {})

    def broken(case_id, completion):
        raise ValueError("bad parser")

    with ResultStore(tmp_path / "r.sqlite") as store:
        orchestrator = Orchestrator(backends={"b": backend}, store=store, labeler=broken, backoff_base_s=0.01)
        summary = asyncio.run(orchestrator.run(plan(orchestrator.backends, requests_for(["x"]), 1)))
        (record,) = store.latest()
    assert backend.calls == ["x"] and summary.completed == 1 and summary.retries == 0
    assert record.label_ok is False and "bad parser" in record.label_detail


def test_a_batch_with_the_wrong_number_of_results_is_recorded_not_dropped(tmp_path):
    backend = ScriptedBackend("local", {}, batch=4)

    async def short_batch(requests):
        return [Completion(text="{}")]  # one result for several requests: a backend bug

    backend.complete_batch = short_batch
    with ResultStore(tmp_path / "r.sqlite") as store:
        orchestrator = Orchestrator(backends={"local": backend}, store=store)
        summary = asyncio.run(orchestrator.run(plan(orchestrator.backends, requests_for(["a", "b", "c"]), 1)))
        records = store.latest()
    assert summary.failed == 3 and len(records) == 3
    assert all(r.error_cause == "internal" and "1 results for 3 requests" in r.error_message for r in records)

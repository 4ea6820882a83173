"""Orchestrator throughput and overhead: 2,000 requests to a local fault server answering after 100 ms, at
concurrency 64 (ideal: 64 / 0.1 s = 640 req/s).

Figures:
- orchestrator throughput (req/s) and its fraction of the ideal 640 req/s: informational, no target (on a 2-core
  machine it measures the machine and the SDK, not the harness);
- the harness's wall time (orchestrator + openai-compatible backend + SQLite store + labels) over a bare openai-SDK
  loop (AsyncOpenAI + asyncio.Semaphore(64)) on the same requests, measured side by side in one run, the order
  alternated, medians of 3 (target <= 1.15x).
The server is a subprocess, so it does not share the GIL with the client under test.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

REQUESTS = 2000
CONCURRENCY = 64
LATENCY = 0.1
ROUNDS = 3
IDEAL = CONCURRENCY / LATENCY


def _requests(n: int):
    from harness.request import ChatRequest

    return [(f"case-{i}", ChatRequest.from_body({"messages": [
        {"role": "system", "content": "Classify the message as spam (1) or not (0). Answer {\"violation\": 0|1}."},
        {"role": "user", "content": f"message number {i}: hello, is this spam?"}]})) for i in range(n)]


def _labeler():
    from harness.labels import get_label_parser  # the spam scenario's parser kind: a JSON field

    parser = get_label_parser({"kind": "json-field", "field": "violation", "labels": ["0", "1"]})

    def label(case_id, completion):
        result = parser.parse(completion.text)
        return result.label, result.ok, result.detail

    return label


def run_harness_once(base_url: str, requests, folder: Path, *, model: str = "fault-model",
                     concurrency: int = CONCURRENCY, sampling: dict | None = None) -> float:
    """Wall seconds for the harness path: plan, orchestrate, store every record, label it."""
    from harness.backends.base import BackendConfig, BackendContext, Sampling, create_backend
    from harness.run.orchestrator import Orchestrator, plan
    from harness.run.store import ResultStore

    config = BackendConfig(name="bench", kind="openai-compatible", base_url=base_url, model=model,
                           concurrency=concurrency, timeout=60, max_retries=2, sampling=Sampling(**(sampling or {})))
    backend = create_backend(config, BackendContext())
    with ResultStore(folder / "results.sqlite") as store:
        items = plan({"bench": backend}, requests, 1)
        labeler = _labeler()

        async def go():
            try:
                return await Orchestrator(backends={"bench": backend}, store=store, labeler=labeler).run(items)
            finally:
                await backend.aclose()

        began = time.perf_counter()
        summary = asyncio.run(go())
        wall = time.perf_counter() - began
    if summary.completed != len(requests):
        raise RuntimeError(f"harness run incomplete: {summary}")
    return wall


def run_sdk_once(base_url: str, requests, *, model: str = "fault-model", concurrency: int = CONCURRENCY,
                 sampling: dict | None = None) -> float:
    """Wall seconds for the bare SDK loop on the same bodies (and the same sampling fields)."""
    import openai

    async def go() -> int:
        client = openai.AsyncOpenAI(base_url=base_url, api_key="EMPTY", max_retries=0, timeout=60)
        semaphore = asyncio.Semaphore(concurrency)

        async def one(request) -> None:
            async with semaphore:
                body = request.to_body()
                await client.chat.completions.create(model=model, messages=body["messages"], **(sampling or {}))

        try:
            await asyncio.gather(*(one(request) for _, request in requests))
        finally:
            await client.close()
        return len(requests)

    began = time.perf_counter()
    asyncio.run(go())
    return time.perf_counter() - began


def measure(rounds: int = ROUNDS, n: int = REQUESTS) -> dict:
    from harness.servers.launch import start

    requests = _requests(n)
    harness_walls, sdk_walls = [], []
    with start("fault", subprocess=True, latency=LATENCY) as server, tempfile.TemporaryDirectory() as tmp:
        run_sdk_once(server.base_url, requests[:CONCURRENCY])  # warm-up: imports, connections, server
        for index in range(rounds):
            order = ("harness", "sdk") if index % 2 == 0 else ("sdk", "harness")
            for which in order:
                server.clear_requests()
                if which == "harness":
                    harness_walls.append(run_harness_once(server.base_url, requests, Path(tmp) / f"r{index}"))
                else:
                    sdk_walls.append(run_sdk_once(server.base_url, requests))
    ratios = [h / s for h, s in zip(harness_walls, sdk_walls)]
    harness_wall = statistics.median(harness_walls)
    return {"harness_walls": harness_walls, "sdk_walls": sdk_walls, "throughput": n / harness_wall,
            "sdk_throughput": n / statistics.median(sdk_walls), "ratio": statistics.median(ratios)}


def run() -> list[dict]:
    result = measure()
    baseline = f"bare AsyncOpenAI + Semaphore({CONCURRENCY}) loop, same {REQUESTS} requests, same server"
    return [
        # informational, no target: on 2 cores this measures the machine and the SDK more than the harness (the
        # ratio to the bare SDK below, and bench_vllm's against real vLLM, are the harness's figures)
        {"name": "orchestrator_throughput", "value": result["throughput"], "unit": "req/s",
         "target": None, "higher_is_better": True, "baseline": None},
        {"name": "orchestrator_throughput_fraction_of_ideal", "value": result["throughput"] / IDEAL,
         "unit": "fraction", "target": None, "higher_is_better": True,
         "baseline": f"ideal {IDEAL:.0f} req/s = {CONCURRENCY} concurrent / {LATENCY:g} s latency"},
        {"name": "orchestrator_wall_vs_bare_sdk", "value": result["ratio"], "unit": "x", "target": 1.15,
         "higher_is_better": False, "baseline": baseline},
        {"name": "bare_sdk_throughput", "value": result["sdk_throughput"], "unit": "req/s",
         "target": None, "higher_is_better": True, "baseline": None},
    ]


if __name__ == "__main__":
    import json

    print(json.dumps(measure(), indent=2))

"""The harness against the real vLLM server (.venv-vllm) on the tiny model, and vLLM's start-up time.

Figures:
- vLLM start-up: seconds from launch until `/health` answers (median of 2 starts);
- the harness's throughput (orchestrator + openai-compatible backend + SQLite store + labels) over a bare
  AsyncOpenAI loop on the same 96 requests at the same concurrency, against the same vLLM, measured side by side
  in one run, the order alternated, median of 3 rounds (target >= 0.95x).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from bench.bench_orchestrator import _requests, run_harness_once, run_sdk_once

REQUESTS = 96
CONCURRENCY = 8
ROUNDS = 3
STARTS = 2
SAMPLING = {"max_tokens": 24, "temperature": 0.0}


def start_seconds() -> tuple[float, object]:
    from harness.servers.launch import start

    began = time.perf_counter()
    server = start("vllm")
    return time.perf_counter() - began, server


def measure() -> dict:
    starts = []
    for _ in range(STARTS - 1):
        seconds, server = start_seconds()
        server.stop()
        starts.append(seconds)
    seconds, server = start_seconds()
    starts.append(seconds)
    requests = _requests(REQUESTS)
    kwargs = {"model": server.model, "concurrency": CONCURRENCY, "sampling": SAMPLING}
    harness_walls, sdk_walls = [], []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            run_sdk_once(server.base_url, requests[:CONCURRENCY], **kwargs)  # warm-up
            for index in range(ROUNDS):
                order = ("harness", "sdk") if index % 2 == 0 else ("sdk", "harness")
                for which in order:
                    if which == "harness":
                        harness_walls.append(run_harness_once(server.base_url, requests, Path(tmp) / f"r{index}",
                                                              **kwargs))
                    else:
                        sdk_walls.append(run_sdk_once(server.base_url, requests, **kwargs))
    finally:
        server.stop()
    ratios = [s / h for h, s in zip(harness_walls, sdk_walls)]  # throughput ratio = inverse wall ratio
    return {"starts": starts, "harness_walls": harness_walls, "sdk_walls": sdk_walls,
            "throughput_ratio": statistics.median(ratios),
            "harness_throughput": REQUESTS / statistics.median(harness_walls),
            "sdk_throughput": REQUESTS / statistics.median(sdk_walls)}


def run() -> list[dict]:
    result = measure()
    baseline = (f"bare AsyncOpenAI + Semaphore({CONCURRENCY}) loop, same {REQUESTS} requests, same vLLM server, "
                "same run")
    return [
        {"name": "vllm_startup", "value": statistics.median(result["starts"]), "unit": "s", "target": None,
         "higher_is_better": False, "baseline": f"median of {STARTS} starts: {result['starts']}"},
        {"name": "harness_vs_bare_sdk_throughput_on_vllm", "value": result["throughput_ratio"], "unit": "x",
         "target": 0.95, "higher_is_better": True, "baseline": baseline},
        {"name": "harness_throughput_on_vllm", "value": result["harness_throughput"], "unit": "req/s",
         "target": None, "higher_is_better": True, "baseline": None},
        {"name": "bare_sdk_throughput_on_vllm", "value": result["sdk_throughput"], "unit": "req/s",
         "target": None, "higher_is_better": True, "baseline": None},
    ]


if __name__ == "__main__":
    import json

    print(json.dumps(measure(), indent=2))

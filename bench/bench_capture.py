"""Capture overhead: the same 500 chat requests at concurrency 16, direct and through the proxy, side by side.

Figures (medians of several runs, direct and proxied runs interleaved so drift hits both):
- capture_proxy_ratio: proxied wall time / direct wall time against a local server (its own process) that answers
  after 100 ms, about the fastest a hosted gpt-oss answers a short classification; real calls are slower, so the
  overhead a run sees is at most this. Target <= 1.5.
- capture_proxy_ratio_zero_latency: the same against a server that answers at once: the proxy's raw cost, where
  mitmproxy's per-request CPU (one Python process) is the bottleneck.
- capture_proxy_cpu_ms: mitmdump's CPU time per proxied request (robust to other load on the machine).
- capture_write_ms: the addon's cost per flow (build the redacted record, serialize, write, flush), measured inside
  the mitmproxy venv on a realistic chat flow.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.capture.proxy import PROJECT_ROOT, ProxySession, mitmdump_path, read_flows

REQUESTS, CONCURRENCY, RUNS = 500, 16, 3
SERVER_DELAY_S = 0.100
BODY = {"model": "openai/gpt-oss-20b", "temperature": 0.0, "reasoning_effort": "low",
        "messages": [{"role": "system", "content": "Classify the message as spam (1) or not (0). " * 20},
                     {"role": "user", "content": "FREE $$$ click https://x.co/win now"}]}


async def _burst(base_url: str, client_kwargs: dict) -> float:
    import httpx

    semaphore = asyncio.Semaphore(CONCURRENCY)
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(limits=limits, timeout=60, **client_kwargs) as client:
        async def one(i: int) -> None:
            async with semaphore:
                response = await client.post(f"{base_url}/chat/completions", json=BODY,
                                             headers={"x-harness-case": f"bench-{i}/0/local"})
                response.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(REQUESTS)))
        return time.perf_counter() - started


SERVER = """
import sys
from harness.capture.chat_server import ChatServer
with ChatServer(delay_s=float(sys.argv[1])) as server:
    print(server.base_url, flush=True)
    sys.stdin.read()  # until the bench closes our stdin
"""


@contextlib.contextmanager
def _server(delay_s: float):
    """The chat server in its own process, so it does not share the client's interpreter lock."""
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(delay_s)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, cwd=PROJECT_ROOT)
    try:
        yield proc.stdout.readline().strip()
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _cpu_seconds(pid: int) -> float:
    """user + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _ratio(delay_s: float, folder: Path) -> dict:
    direct, proxied, cpu_ms = [], [], []
    flows = 0
    with _server(delay_s) as base_url:
        for run in range(RUNS):
            direct.append(asyncio.run(_burst(base_url, {"trust_env": False})))
            with ProxySession(folder / f"d{delay_s}-{run}") as proxy:
                cpu_before = _cpu_seconds(proxy.pid)
                proxied.append(asyncio.run(_burst(base_url, {"trust_env": False, "proxy": proxy.proxy_url})))
                cpu_ms.append((_cpu_seconds(proxy.pid) - cpu_before) * 1000 / REQUESTS)
            flows = len(read_flows(proxy.flows_path))
    d, p = statistics.median(direct), statistics.median(proxied)
    return {"ratio": p / d, "direct": d, "proxied": p, "flows": flows, "cpu_ms": statistics.median(cpu_ms)}


WRITE_COST = r"""
import json, statistics, sys, time
sys.path.insert(0, sys.argv[1])
import addon
from mitmproxy import http
from mitmproxy.test import tflow
body = json.loads(sys.argv[3])
capture = addon.HarnessCapture()
capture._out = open(sys.argv[2], "a", encoding="utf-8", buffering=1)
capture._path = sys.argv[2]
response = json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": "0",
                       "reasoning": "The message is spam-like. " * 20}, "finish_reason": "stop"}]}).encode()
def make():
    flow = tflow.tflow(resp=True)
    flow.request.method = "POST"
    flow.request.headers["authorization"] = "Bearer hf_secretsecretsecret"
    flow.request.headers["content-type"] = "application/json"
    flow.request.raw_content = json.dumps(body).encode()
    flow.response.headers["content-type"] = "application/json"
    flow.response.raw_content = response
    return flow
runs = []
for _ in range(5):
    flows = [make() for _ in range(500)]
    started = time.perf_counter()
    for flow in flows:
        capture.response(flow)
    runs.append((time.perf_counter() - started) * 1000 / len(flows))
print(statistics.median(runs))
"""


def _write_cost_ms(folder: Path) -> float:
    python = mitmdump_path().parent / "python"
    out = folder / "write-cost.jsonl"
    done = subprocess.run([str(python), "-c", WRITE_COST, str(PROJECT_ROOT / "harness" / "capture"), str(out),
                           json.dumps(BODY)], capture_output=True, text=True, timeout=300, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def run() -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="bench-capture-") as tmp:
        folder = Path(tmp)
        slow = _ratio(SERVER_DELAY_S, folder)
        instant = _ratio(0.0, folder)
        write_ms = _write_cost_ms(folder)
    baseline = f"{REQUESTS} requests at concurrency {CONCURRENCY}, direct (same run)"
    return [
        {"name": "capture_proxy_ratio", "value": slow["ratio"], "unit": "x", "target": 1.5,
         "higher_is_better": False,
         "baseline": f"{baseline}, server latency {SERVER_DELAY_S * 1000:.0f} ms: direct {slow['direct']:.2f}s, "
                     f"proxied {slow['proxied']:.2f}s, {slow['flows']} flows captured"},
        {"name": "capture_proxy_ratio_zero_latency", "value": instant["ratio"], "unit": "x", "target": None,
         "higher_is_better": False,
         "baseline": f"{baseline}, instant server: direct {instant['direct']:.2f}s, "
                     f"proxied {instant['proxied']:.2f}s, {instant['flows']} flows captured"},
        {"name": "capture_proxy_cpu_ms", "value": instant["cpu_ms"], "unit": "ms/request", "target": None,
         "higher_is_better": False, "baseline": "mitmdump CPU time (user+system) per proxied request"},
        {"name": "capture_write_ms", "value": write_ms, "unit": "ms/flow", "target": None, "higher_is_better": False,
         "baseline": "addon record build + redaction + JSON line write + flush, per flow"},
    ]


if __name__ == "__main__":
    for figure in run():
        print(json.dumps(figure))

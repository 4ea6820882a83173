"""Nothing outlives a kill: a SIGKILLed `harness compare` leaves no proxy, `transformers serve` or vLLM behind,
and the rerun sends only what is missing."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, run_harness

pytestmark = pytest.mark.slow
BACKENDS = "local-harmony,transformers-serve,vllm"
CASES, REPEATS = 4, 2


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def stored(store: Path) -> dict[str, int]:
    if not store.exists():
        return {}
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=1) as db:
            rows = db.execute("SELECT backend, COUNT(*) FROM records WHERE ok = 1 GROUP BY backend").fetchall()
    except sqlite3.Error:
        return {}
    return dict(rows)


def test_sigkill_mid_run_leaves_no_process_and_the_rerun_sends_only_what_is_missing(tmp_path, vllm_python):
    args = ["compare", "--profile", "offline", "--backends", BACKENDS, "--limit", str(CASES), "--repeats",
            str(REPEATS), "--capture", "--no-report", "--no-progress", "--json", "--out", str(tmp_path / "run")]
    harness = subprocess.Popen([sys.executable, "-m", "harness", *args], cwd=tmp_path, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)})
    store = tmp_path / "run" / "results.sqlite"
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline:  # mid-run: vLLM has answered, transformers serve is still going
            counts = stored(store)
            if counts.get("vllm") and counts.get("transformers-serve", 0) < CASES * REPEATS:
                break
            assert harness.poll() is None, "the run ended before it could be killed"
            time.sleep(0.2)
        else:
            pytest.fail(f"the run never got to vLLM's answers: {stored(store)}")
        children = descendants(harness.pid)
        names = {Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                 for pid in children if alive(pid)}
        assert any("mitmdump" in n for n in names) and any("vllm" in n for n in names), names
        assert any("serve" in n and "transformers" in n for n in names), names
        harness.send_signal(signal.SIGKILL)
        harness.wait(30)
        before = stored(store)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(alive(pid) for pid in children):
            time.sleep(0.5)
        left = [pid for pid in children if alive(pid)]
        assert not left, [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in left]
    finally:
        if harness.poll() is None:
            harness.kill()
    rerun = run_harness(*args, cwd=tmp_path, timeout=900)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    summary = json.loads(rerun.stdout)["summary"]
    kept = sum(before.values())
    assert summary["planned"] == 3 * CASES * REPEATS
    assert (summary["skipped"], summary["completed"], summary["failed"]) == (kept, summary["planned"] - kept, 0)

"""Kill `harness compare` mid-run (SIGKILL), rerun: the run completes and only the missing requests are sent.
Ctrl-C (SIGINT) stops cleanly with exit 130 and keeps what was collected.

The fault server runs as a subprocess with a fixed latency, so the run lasts a few seconds and the count of
requests it saw is independent of the client process that gets killed."""

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

from harness.servers.launch import start

LATENCY = 0.3
CASES = 12
REPEATS = 2
PLANNED = CASES * REPEATS


def write_config(path: Path, base_url: str) -> Path:
    path.write_text("\n".join([
        "[backends.slow]", 'kind = "openai-compatible"', f'base_url = "{base_url}"', 'model = "fault-model"',
        "timeout = 20", "max_retries = 1", "concurrency = 2", "backoff_base_s = 0.05"]) + "\n")
    return path


def compare_args(config: Path, out: Path) -> list[str]:
    return ["compare", "--config", str(config), "--scenario", "spam", "--limit", str(CASES), "--repeats",
            str(REPEATS), "--no-report", "--no-capture", "--no-progress", "--out", str(out)]


def stored_ok_keys(db_path: Path) -> set[str]:
    if not db_path.exists():
        return set()
    try:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5) as db:
            return {row[0] for row in db.execute("SELECT DISTINCT run_key FROM records WHERE ok = 1")}
    except sqlite3.OperationalError:  # the table is not created yet
        return set()


def start_and_wait_for_rows(config: Path, out: Path, rows: int, log: Path) -> subprocess.Popen:
    """Launch the CLI and return once the store holds `rows` finished items (the run is then mid-way)."""
    with open(log, "w") as handle:
        process = subprocess.Popen([sys.executable, "-m", "harness", *compare_args(config, out)], cwd=ROOT,
                                   stdout=handle, stderr=subprocess.STDOUT, env=dict(os.environ))
    deadline = time.monotonic() + 180
    while len(stored_ok_keys(out / "results.sqlite")) < rows:
        if process.poll() is not None:
            raise AssertionError(f"compare ended early ({process.returncode}): {log.read_text()[-2000:]}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"no rows within 180 s: {log.read_text()[-2000:]}")
        time.sleep(0.05)
    return process


@pytest.fixture(scope="module")
def server():
    with start("fault", subprocess=True, latency=LATENCY) as handle:
        yield handle


def chat_requests(server) -> list[dict]:
    return [r for r in server.requests_seen() if r["path"].endswith("/chat/completions")]


def test_sigkill_then_rerun_sends_only_the_missing_requests(server, tmp_path):
    server.clear_requests()
    config = write_config(tmp_path / "harness.toml", server.base_url)
    out = tmp_path / "run"
    process = start_and_wait_for_rows(config, out, rows=4, log=tmp_path / "first.log")
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    seen_first = len(chat_requests(server))
    stored = stored_ok_keys(out / "results.sqlite")
    assert 4 <= len(stored) < PLANNED  # killed mid-run
    assert seen_first >= len(stored)  # in-flight requests were seen by the server but not stored

    server.clear_requests()
    done = run_harness(*compare_args(config, out), "--json", timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)["summary"]
    rerun_sent = chat_requests(server)
    assert summary["planned"] == PLANNED
    assert summary["skipped"] == len(stored)
    assert len(rerun_sent) == PLANNED - len(stored) == summary["completed"]
    # what the rerun sent is exactly what was missing: no (case, repeat) twice, none already stored
    sent = [r["headers"]["x-harness-case"] for r in rerun_sent]
    assert len(set(sent)) == len(sent)
    final = stored_ok_keys(out / "results.sqlite")
    assert len(final) == PLANNED and stored <= final
    records = (out / "records.csv").read_text().splitlines()
    assert len(records) == PLANNED + 1


def test_sigint_stops_cleanly_with_130_and_keeps_what_was_collected(server, tmp_path):
    server.clear_requests()
    config = write_config(tmp_path / "harness.toml", server.base_url)
    out = tmp_path / "run"
    log = tmp_path / "sigint.log"
    process = start_and_wait_for_rows(config, out, rows=2, log=log)
    process.send_signal(signal.SIGINT)
    assert process.wait(60) == 130, log.read_text()[-2000:]
    text = log.read_text()
    assert "Traceback" not in text, text[-2000:]
    assert "interrupted" in text
    kept = stored_ok_keys(out / "results.sqlite")
    assert 2 <= len(kept) < PLANNED
    # the store is intact and a rerun resumes from it
    done = run_harness(*compare_args(config, out), "--json", timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["summary"]["skipped"] == len(kept)

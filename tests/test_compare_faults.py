"""`harness compare` against a real fault server over HTTP: every fault ends as a recorded outcome with its cause,
retryable ones are retried (Retry-After honoured), nothing stored is lost, and a rerun sends only what failed."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from conftest import run_harness

from harness.servers.launch import start

# marker (a piece of the case text) -> the faults its requests get, in order; then ok
RULES = {
    "FREE iPhone 16": ["429"],                    # win-iphone: rate limited once, Retry-After honoured
    "0.2 BTC": ["500"],                           # crypto-double: one 500, then ok
    "pharma-deals": ["hang:20", "hang:20"],       # pills: hangs past the timeout on every attempt
    "10,000 real followers": ["malformed", "malformed"],  # followers: truncated JSON twice
    "PRE-APPROVED": ["html", "html"],             # loan: a gateway's HTML error page twice
    "working from home": ["drop", "drop"],        # work-home: connection dropped twice
    "free-gift-cards": ["drop"],                  # repeat-link: dropped once, then ok
}
EXPECTED = {  # case_id -> (error_cause or None, attempts)
    "win-iphone": (None, 2), "crypto-double": (None, 2), "pills": ("timeout", 2),
    "followers": ("malformed-response", 2), "loan": ("malformed-response", 2), "work-home": ("connection", 2),
    "repeat-link": (None, 2), "fake-bank": (None, 1),
}
RETRY_AFTER = 0.6
TIMEOUT = 1.0


def write_config(path: Path, base_url: str, **extra: str) -> Path:
    lines = ["[backends.flaky]", 'kind = "openai-compatible"', f'base_url = "{base_url}"', 'model = "fault-model"',
             f"timeout = {TIMEOUT}", "max_retries = 1", "concurrency = 8",
             "backoff_base_s = 0.05", *(f"{k} = {v}" for k, v in extra.items())]
    path.write_text("\n".join(lines) + "\n")
    return path


def case_of(row: dict) -> str | None:
    return {k.lower(): v for k, v in row["headers"].items()}.get("x-harness-case")


@pytest.fixture(scope="module")
def faulty_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("faults")
    script = [{"marker": marker, "faults": faults} for marker, faults in RULES.items()]
    with start("fault", script=script, retry_after=RETRY_AFTER) as server:
        config = write_config(tmp / "harness.toml", server.base_url)
        args = ("compare", "--config", str(config), "--scenario", "spam", "--limit", str(len(EXPECTED)),
                "--repeats", "1", "--no-report", "--no-capture", "--out", str(tmp / "run"), "--json")
        first = run_harness(*args, timeout=300)
        seen_first = server.requests_seen()
        server.clear_requests()
        rows_first = pd.read_csv(tmp / "run" / "records.csv")
        labels_first = pd.read_csv(tmp / "run" / "labels.csv")
        second = run_harness(*args, timeout=300)
        seen_second = server.requests_seen()
    return {"tmp": tmp, "first": first, "second": second, "seen_first": seen_first, "seen_second": seen_second,
            "rows_first": rows_first, "labels_first": labels_first, "rows_second": pd.read_csv(tmp / "run" / "records.csv")}


def test_run_finishes_with_every_failure_recorded_with_its_cause(faulty_run):
    done = faulty_run["first"]
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)["summary"]
    assert summary["planned"] == len(EXPECTED)
    assert summary["completed"] == 4 and summary["failed"] == 4
    assert summary["failures_by_cause"] == {"timeout": 1, "malformed-response": 2, "connection": 1}
    rows = faulty_run["rows_first"].set_index("case_id")
    assert set(rows.index) == set(EXPECTED)
    for case_id, (cause, attempts) in EXPECTED.items():
        row = rows.loc[case_id]
        assert (None if pd.isna(row["error_cause"]) else row["error_cause"]) == cause, case_id
        assert row["attempts"] == attempts, case_id
        if cause is None:
            assert row["label"] == 0 and row["text"] == '{"violation": 0}', case_id
        else:
            assert pd.isna(row["text"]) and isinstance(row["error_message"], str), case_id
    assert "HTML" in rows.loc["loan", "error_message"]
    assert "not JSON" in rows.loc["followers", "error_message"]


def test_failed_items_are_kept_out_of_labels_as_missing(faulty_run):
    labels = faulty_run["labels_first"]
    assert list(labels.columns[:4]) == ["case_id", "backend", "repeat", "label"]
    failed = {c for c, (cause, _) in EXPECTED.items() if cause}
    for _, row in labels.iterrows():
        assert pd.isna(row["label"]) == (row["case_id"] in failed), row["case_id"]


def test_retries_hit_the_server_and_retry_after_is_honoured(faulty_run):
    seen = [r for r in faulty_run["seen_first"] if r["path"].endswith("/chat/completions")]
    by_case: dict[str, list[float]] = {}
    for row in seen:
        by_case.setdefault(case_of(row).split("/")[0], []).append(row["at"])
    assert {case: len(times) for case, times in by_case.items()} == {c: a for c, (_, a) in EXPECTED.items()}
    gap = by_case["win-iphone"][1] - by_case["win-iphone"][0]
    assert gap >= RETRY_AFTER - 0.05, gap
    # a hang ends at the client's timeout, not the server's 20 s
    pills = by_case["pills"]
    assert pills[1] - pills[0] < TIMEOUT + 3


def test_nothing_stored_is_lost_and_rerun_sends_only_the_failed(faulty_run):
    done = faulty_run["second"]
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)["summary"]
    failed = {c for c, (cause, _) in EXPECTED.items() if cause}
    assert summary["skipped"] == len(EXPECTED) - len(failed)
    assert summary["completed"] == len(failed) and summary["failed"] == 0
    sent = {case_of(r).split("/")[0] for r in faulty_run["seen_second"] if r["path"].endswith("/chat/completions")}
    assert sent == failed  # the rules' faults are used up: each failed case is sent once more and succeeds
    assert len([r for r in faulty_run["seen_second"] if r["path"].endswith("/chat/completions")]) == len(failed)
    rows = faulty_run["rows_second"]
    assert len(rows) == len(EXPECTED) and rows["error_cause"].isna().all()
    with sqlite3.connect(faulty_run["tmp"] / "run" / "results.sqlite") as db:
        stored = db.execute("SELECT case_id, ok FROM records ORDER BY seq").fetchall()
    # append-only: the first run's failures are still there, followed by the rerun's successes
    assert len(stored) == len(EXPECTED) + len(failed)
    assert sorted(c for c, ok in stored if not ok) == sorted(failed)


def test_secrets_never_reach_the_server_log_or_the_run_files(faulty_run, tmp_path, monkeypatch, capsys):
    from harness.run.compare import CompareOptions, run_compare

    secret = "sk-test-never-leaks-0123456789"
    monkeypatch.setenv("FLAKY_KEY", secret)
    with start("fault") as server:
        config = write_config(tmp_path / "harness.toml", server.base_url, api_key_env='"FLAKY_KEY"')
        result = run_compare(CompareOptions(scenario="spam", out=tmp_path / "run", repeats=1, limit=2, config=config,
                                            profile="config", capture=False, progress=False))
        seen = server.requests_seen()
    assert result.summary.completed == 2
    auth = {k.lower(): v for k, v in seen[0]["headers"].items()}["authorization"]
    assert secret not in auth and "redacted" in auth  # it was sent (and redacted in the server's own log)
    for path in (tmp_path / "run").iterdir():
        assert secret.encode() not in path.read_bytes(), path.name
    out = capsys.readouterr()
    assert secret not in out.out + out.err


def test_a_managed_server_that_dies_mid_run_ends_the_run_with_one_line_and_keeps_what_was_stored(tmp_path):
    """The run watches the servers it started: when one exits, it stops at once (no retrying every item against a
    dead port), says which server and where its log is, and the answers stored before stay for the rerun."""
    import threading

    from harness.backends.base import BackendConfig, create_backend
    from harness.errors import HarnessError
    from harness.run.compare import _execute
    from harness.run.orchestrator import plan
    from harness.run.store import ResultStore
    from harness.scenario import load_scenario

    server = start("fault", subprocess=True, script=["ok"] * 1000, latency=0.2)
    try:
        config = BackendConfig(name="managed", kind="openai-compatible", base_url=server.base_url, model="m",
                               concurrency=2, max_retries=8, timeout=5.0)
        backends = {"managed": create_backend(config)}
        requests = list(load_scenario("spam").requests())
        items = plan(backends, requests, repeats=2)
        killer = threading.Timer(1.5, lambda: server._process.kill())  # the server dies, as an engine would
        killer.start()
        with ResultStore(tmp_path / "results.sqlite") as store:
            with pytest.raises(HarnessError) as ended:
                _execute(backends, store, None, items, False, [server])
            stored = store.completed_keys()
        message = str(ended.value)
        assert "\n" not in message and "fault server exited during the run" in message
        assert str(server.log_path) in message
        assert 0 < len(stored) < len(items)  # what arrived before is kept; the rest is asked again on a rerun
        assert f"the {len(stored)} answers stored so far are kept" in message
    finally:
        server.stop()

"""`harness compare --latency-sweep`: synthetic prompts by input size and output budget through one backend, with
p50/p95 latency and tokens/s per cell, against the fault server (fixed latency) and the harmony-reference server
(real prompt and completion tokens)."""

from __future__ import annotations

import csv
import json
import random

import pytest
from conftest import assert_clean_error, run_harness

from harness.run.sweep import SweepOptions, calibrated_prompt, parse_lengths, run_sweep
from harness.servers.launch import start

LATENCY = 0.2


def write_config(path, base_url, model="m", **extra):
    lines = ["[backends.target]", 'kind = "openai-compatible"', f'base_url = "{base_url}"', f'model = "{model}"',
             "timeout = 60", "sampling = { max_tokens = 5, temperature = 0.0 }",  # the pin the sweep must lift
             *(f"{k} = {v}" for k, v in extra.items())]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_calibration_hits_the_requested_prompt_size(assets):
    from harness.render import get_renderer
    from harness.run.sweep import make_request

    renderer = get_renderer("harmony", assets)
    rng = random.Random(1)
    for target in (100, 300, 1000):
        text, count = calibrated_prompt(target, lambda r: len(renderer.render(r, date="2025-01-01")), rng)
        assert count == len(renderer.render(make_request(text, 1), date="2025-01-01"))
        assert abs(count - target) <= 2, (target, count)


def test_sweep_against_fixed_latency_server_through_the_cli(tmp_path):
    with start("fault", latency=LATENCY) as server:
        config = write_config(tmp_path / "harness.toml", server.base_url)
        done = run_harness("compare", "--latency-sweep", "--backends", "target", "--config", str(config),
                           "--input-lengths", "128,512", "--output-lengths", "8,32", "--sweep-repeats", "3",
                           "--out", str(tmp_path / "sweep"), "--json", timeout=300)
        seen = [r for r in server.requests_seen() if r["path"].endswith("/chat/completions")]
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data == json.loads((tmp_path / "sweep" / "sweep.json").read_text())
    assert len(seen) == 1 + 2 * 2 * 3  # one untimed warm-up, then every cell x repeats
    # each cell's budget went on the wire, not the backend's pinned max_tokens = 5
    sent = sorted(r["body"]["max_tokens"] for r in seen[1:])
    assert sent == [8] * 6 + [32] * 6
    assert len({r["body"]["messages"][-1]["content"] for r in seen[1:]}) == 12  # no two prompts alike
    cells = {(c["input_tokens"], c["max_tokens"]): c for c in data["cells"]}
    assert set(cells) == {(128, 8), (128, 32), (512, 8), (512, 32)}
    for cell in cells.values():
        assert cell["n"] == 3 and cell["errors"] == 0
        assert LATENCY <= cell["latency_p50_s"] <= cell["latency_p95_s"] < LATENCY + 2
        assert cell["tokens_per_s_p50"] > 0
    for row in data["rows"]:
        assert abs(row["rendered_tokens"] - row["input_tokens"]) <= 2
        assert row["tokens_per_s"] == pytest.approx(row["completion_tokens"] / row["latency_s"])
    with open(tmp_path / "sweep" / "sweep.csv") as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == 4 and {"latency_p50_s", "latency_p95_s", "tokens_per_s_p50"} <= set(table[0])


def test_a_failed_request_is_a_row_with_its_cause(tmp_path):
    with start("fault", script=["ok", "500"]) as server:  # warm-up ok, the first timed request gets a 500
        config = write_config(tmp_path / "harness.toml", server.base_url)
        result = run_sweep(SweepOptions(backend="target", out=tmp_path / "sweep", input_lengths=[64],
                                        output_lengths=[4], repeats=3, config=config, profile="config"))
    (cell,) = result.cells
    assert cell.n == 3 and cell.errors == 1
    assert [r.error_cause for r in result.rows] == ["server-error", None, None]
    assert result.rows[0].latency_s is None and result.rows[0].tokens_per_s is None


def test_sweep_against_the_harmony_reference_server_counts_real_tokens(tmp_path, assets):
    with start("harmony-reference", model=str(assets.model_dir)) as server:
        config = write_config(tmp_path / "harness.toml", server.base_url, model=str(assets.model_dir),
                              options='{ server = "vllm" }')
        result = run_sweep(SweepOptions(backend="target", out=tmp_path / "sweep", input_lengths=[128, 256],
                                        output_lengths=[4, 16], repeats=2, config=config, profile="config"))
    assert [(c.input_tokens, c.max_tokens) for c in result.cells] == [(128, 4), (128, 16), (256, 4), (256, 16)]
    for row in result.rows:
        assert row.error_cause is None, row.error_message
        # the server renders like vLLM (adds a Current date line): a few tokens off the harmony calibration
        assert abs(row.prompt_tokens - row.input_tokens) <= 16, row
        assert 1 <= row.completion_tokens <= row.max_tokens
    for cell in result.cells:
        assert cell.latency_p50_s > 0 and cell.tokens_per_s_p50 > 0


@pytest.mark.parametrize("args, message", [
    (["--latency-sweep"], "exactly one backend"),
    (["--latency-sweep", "--backends", "a,b"], "exactly one backend"),
    (["--latency-sweep", "--backends", "a", "--input-lengths", "128,x"], "--input-lengths"),
])
def test_bad_sweep_input_is_one_clear_line(tmp_path, args, message):
    config = write_config(tmp_path / "harness.toml", "http://127.0.0.1:9/v1")
    done = run_harness("compare", "--config", str(config), *args, "--out", str(tmp_path / "sweep"))
    assert_clean_error(done)
    assert message in done.stderr


def test_parse_lengths():
    assert parse_lengths("128, 512,2048", "x") == [128, 512, 2048]
    for bad in ("", "0", "-1", "a"):
        with pytest.raises(Exception, match="positive integers"):
            parse_lengths(bad, "x")

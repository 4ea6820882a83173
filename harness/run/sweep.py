"""Latency sweep: synthetic prompts of chosen input sizes and output budgets through one backend, timed.

The shape people produce with vLLM's benchmark tools: for each (input tokens, max_tokens) cell, `repeats`
requests one at a time (after one untimed warm-up, which pays connection setup and model loading), and per cell
the latency p50/p95 and, where the response's usage reports completion tokens, tokens per second.

Input sizes are calibrated with a renderer (default `harmony`): the user message is filler text sized so that the
rendered prompt has about N tokens. Each request's text is distinct (a seeded word order), so a server's prefix
cache does not turn the sweep into a cache benchmark. The output budget is `max_tokens` on the request; a
`sampling.max_tokens` pinned by the backend's config is lifted for the sweep, or it would override every cell.

Writes `sweep.json` (cells and every timed request) and `sweep.csv` (one row per cell) into the run folder.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import json
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import BackendError, HarnessError
from harness.request import ChatRequest

WORDS = ("apple river stone cloud garden window paper silver morning basket engine forest letter candle harbor "
         "meadow pencil rocket summer valley yellow bridge copper desert island lantern marble orange planet "
         "quiet saddle timber velvet winter")
WORD_LIST = tuple(WORDS.split())
SYSTEM_PROMPT = "You are a helpful assistant. Continue the list of words the user gives, one word per line."
CSV_COLUMNS = ("input_tokens", "max_tokens", "n", "errors", "prompt_tokens", "completion_tokens", "latency_p50_s",
               "latency_p95_s", "latency_mean_s", "tokens_per_s_p50")


@dataclass
class SweepOptions:
    backend: str
    out: Path
    input_lengths: list[int]
    output_lengths: list[int]
    repeats: int = 3
    config: Path | None = None
    profile: str = "auto"
    renderer: str = "harmony"  # calibrates the input sizes
    date: str | None = None
    warmup: bool = True
    seed: int = 0


@dataclass
class SweepRow:
    input_tokens: int  # the target
    rendered_tokens: int  # what the calibrating renderer counts for this prompt
    max_tokens: int
    repeat: int
    latency_s: float | None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None
    error_cause: str | None = None
    error_message: str | None = None

    @property
    def tokens_per_s(self) -> float | None:
        if self.error_cause or not self.completion_tokens or not self.latency_s:
            return None
        return self.completion_tokens / self.latency_s


@dataclass
class SweepCell:
    input_tokens: int
    max_tokens: int
    n: int
    errors: int
    prompt_tokens: float | None
    completion_tokens: float | None
    latency_p50_s: float | None
    latency_p95_s: float | None
    latency_mean_s: float | None
    tokens_per_s_p50: float | None


@dataclass
class SweepResult:
    run_dir: Path
    backend: str
    cells: list[SweepCell]
    rows: list[SweepRow]
    files: dict[str, str] = field(default_factory=dict)


def parse_lengths(text: str, what: str) -> list[int]:
    """'128,512,2048' -> [128, 512, 2048]; one clear error for anything else."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise HarnessError(f"{what}: expected comma-separated positive integers, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise HarnessError(f"{what}: expected comma-separated positive integers, got {text!r}")
    return values


def filler(words: int, rng: random.Random) -> str:
    return " ".join(rng.choice(WORD_LIST) for _ in range(words))


def make_request(text: str, max_tokens: int) -> ChatRequest:
    return ChatRequest.from_body({"messages": [{"role": "system", "content": SYSTEM_PROMPT},
                                               {"role": "user", "content": text}],
                                  "max_tokens": max_tokens, "temperature": 0.0})


def calibrated_prompt(target: int, render, rng: random.Random) -> tuple[str, int]:
    """Filler text whose rendered prompt has about `target` tokens: (text, rendered token count).

    Starts from the render's fixed overhead and corrects by the measured difference; the filler words are one
    token each after a space in o200k, so this settles in one or two steps."""
    overhead = render(make_request("", 1))
    text = filler(max(1, target - overhead), rng)
    count = render(make_request(text, 1))
    for _ in range(6):
        if count == target or (count > target and len(text.split()) == 1):
            break
        words = text.split()
        delta = target - count
        if delta > 0:
            words += filler(delta, rng).split()
        else:
            words = words[:max(1, len(words) + delta)]
        text = " ".join(words)
        count = render(make_request(text, 1))
    return text, count


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    import numpy as np

    return float(np.percentile(values, q))


def summarize(rows: list[SweepRow]) -> list[SweepCell]:
    import statistics

    cells = []
    keys = sorted({(r.input_tokens, r.max_tokens) for r in rows})
    for input_tokens, max_tokens in keys:
        group = [r for r in rows if (r.input_tokens, r.max_tokens) == (input_tokens, max_tokens)]
        ok = [r for r in group if r.error_cause is None and r.latency_s is not None]
        latencies = [r.latency_s for r in ok]
        prompt = [r.prompt_tokens for r in ok if r.prompt_tokens is not None]
        completion = [r.completion_tokens for r in ok if r.completion_tokens is not None]
        rates = [r.tokens_per_s for r in ok if r.tokens_per_s is not None]
        cells.append(SweepCell(
            input_tokens=input_tokens, max_tokens=max_tokens, n=len(group), errors=len(group) - len(ok),
            prompt_tokens=statistics.median(prompt) if prompt else None,
            completion_tokens=statistics.median(completion) if completion else None,
            latency_p50_s=percentile(latencies, 50), latency_p95_s=percentile(latencies, 95),
            latency_mean_s=statistics.fmean(latencies) if latencies else None,
            tokens_per_s_p50=statistics.median(rates) if rates else None))
    return cells


def _sweep_config(config):
    """The backend's config with its pinned output budget lifted (each cell sets max_tokens) and one request at a
    time (latency, not throughput)."""
    sampling = config.sampling.model_copy(update={"max_tokens": None})
    return config.model_copy(update={"sampling": sampling, "concurrency": 1, "batch_size": 1})


def _backend_config(options: SweepOptions, stack):
    from harness.run.profiles import backend_configs, resolve_profile, start_managed

    profile = resolve_profile(options.profile, options.config)
    configs, launches = backend_configs(profile, options.config, [options.backend])
    return start_managed(configs, launches, {options.backend}, stack, [])[options.backend]


async def _timed(backend, request: ChatRequest, timeout: float) -> tuple[float, Any, Any]:
    began = time.perf_counter()
    try:
        completion = await asyncio.wait_for(backend.complete(request, correlation="sweep"), timeout=timeout)
        return time.perf_counter() - began, completion, None
    except TimeoutError:
        return time.perf_counter() - began, None, BackendError("timeout", f"no answer within {timeout:g}s")
    except Exception as exc:  # noqa: BLE001 -- a failed request is a row with its cause, not the end of the sweep
        error = exc if isinstance(exc, BackendError) else BackendError("internal", f"{type(exc).__name__}: {exc}")
        return time.perf_counter() - began, None, error


async def _sweep(backend, prompts: dict[tuple[int, int, int], tuple[str, int]], options: SweepOptions,
                 progress=None) -> list[SweepRow]:
    timeout = backend.config.timeout
    rows: list[SweepRow] = []
    try:
        if options.warmup and prompts:
            text, _ = next(iter(prompts.values()))
            await _timed(backend, make_request(text, min(options.output_lengths)), timeout)
        for (target, max_tokens, repeat), (text, rendered) in prompts.items():
            latency, completion, error = await _timed(backend, make_request(text, max_tokens), timeout)
            usage = completion.usage if completion is not None else None
            rows.append(SweepRow(
                input_tokens=target, rendered_tokens=rendered, max_tokens=max_tokens, repeat=repeat,
                latency_s=latency if error is None else None,
                prompt_tokens=usage.prompt_tokens if usage else None,
                completion_tokens=usage.completion_tokens if usage else None,
                finish_reason=completion.finish_reason if completion is not None else None,
                error_cause=error.cause if error is not None else None,
                error_message=str(error) if error is not None else None))
            if progress is not None:
                progress()
    finally:
        await backend.aclose()
    return rows


def run_sweep(options: SweepOptions, progress=None) -> SweepResult:
    """Calibrate the prompts, time every (input, output, repeat) through the backend, write sweep.json/csv."""
    import contextlib

    from harness.backends.base import BackendContext, create_backend
    from harness.render import get_renderer

    if options.repeats < 1:
        raise HarnessError("--sweep-repeats must be at least 1")
    date = options.date or dt.date.today().isoformat()
    renderer = get_renderer(options.renderer)

    def render(request: ChatRequest) -> int:
        return len(renderer.render(request, date=date))

    rng = random.Random(options.seed)
    prompts: dict[tuple[int, int, int], tuple[str, int]] = {}
    for target in options.input_lengths:
        for max_tokens in options.output_lengths:
            for repeat in range(options.repeats):
                prompts[(target, max_tokens, repeat)] = calibrated_prompt(target, render, rng)

    run_dir = Path(options.out)
    run_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        config = _sweep_config(_backend_config(options, stack))
        backend = create_backend(config, BackendContext(run_dir=str(run_dir)))
        fingerprint = backend.fingerprint()
        rows = asyncio.run(_sweep(backend, prompts, options, progress))

    cells = summarize(rows)
    result = SweepResult(run_dir=run_dir, backend=options.backend, cells=cells, rows=rows)
    payload = {
        "backend": options.backend, "kind": config.kind, "fingerprint": fingerprint, "date": date,
        "calibrated_with": options.renderer, "repeats": options.repeats, "warmup": options.warmup,
        "input_lengths": options.input_lengths, "output_lengths": options.output_lengths,
        "cells": [asdict(c) for c in cells],
        "rows": [{**asdict(r), "tokens_per_s": r.tokens_per_s} for r in rows],
    }
    (run_dir / "sweep.json").write_text(json.dumps(payload, indent=2, default=str) + "\n")
    with open(run_dir / "sweep.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for cell in cells:
            writer.writerow({k: v for k, v in asdict(cell).items() if k in CSV_COLUMNS})
    result.files = {"sweep_json": str(run_dir / "sweep.json"), "sweep_csv": str(run_dir / "sweep.csv")}
    return result


def sweep_table(result: SweepResult):
    """A rich Table of the cells (the terminal view; the data stays in SweepResult)."""
    from rich.table import Table

    def fmt(value: float | None, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    table = Table(title=f"latency sweep: {result.backend} ({result.run_dir})")
    for column in ("input tok", "max_tokens", "n", "errors", "prompt tok", "completion tok", "p50 s", "p95 s",
                   "tok/s p50"):
        table.add_column(column, justify="right")
    for cell in result.cells:
        table.add_row(str(cell.input_tokens), str(cell.max_tokens), str(cell.n), str(cell.errors),
                      fmt(cell.prompt_tokens, ".0f"), fmt(cell.completion_tokens, ".0f"),
                      fmt(cell.latency_p50_s, ".3f"), fmt(cell.latency_p95_s, ".3f"),
                      fmt(cell.tokens_per_s_p50, ".1f"))
    return table

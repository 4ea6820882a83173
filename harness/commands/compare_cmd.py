"""`harness compare`: run a scenario through backends, store results, write labels, stats and the report."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("compare", help="same cases through every backend, repeated, stored as they arrive")
    parser.add_argument("--scenario", default="spam", help="built-in scenario name or a scenario file (default spam)")
    parser.add_argument("--backends", default=None, help="comma-separated backend names (default: all configured)")
    parser.add_argument("--repeats", type=int, default=2, help="repeats per case and backend (noise floor)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N cases")
    parser.add_argument("--cases", default=None, metavar="JSONL",
                        help="your own cases instead of the scenario's: one {\"text\": ...} object a line "
                             "(id and gold optional; other keys kept as metadata)")
    parser.add_argument("--out", default=None, help="run folder (default reports/<scenario>-<profile>)")
    parser.add_argument("--config", type=Path, default=None, help="backend config TOML (default ./harness.toml)")
    parser.add_argument("--profile", default="auto", choices=("auto", "offline", "config"),
                        help="auto: harness.toml if present, else the offline profile")
    capture = parser.add_mutually_exclusive_group()
    capture.add_argument("--capture", dest="capture", action="store_true", default=None,
                         help="route HTTP backends through the capture proxy (default: on when available)")
    capture.add_argument("--no-capture", dest="capture", action="store_false")
    parser.add_argument("--date", default=None, help="date pinned for the render diffs (YYYY-MM-DD, default today)")
    parser.add_argument("--max-tokens", type=int, default=None, help="output budget for the offline profile")
    parser.add_argument("--online", action="store_true", help="allow fetching a scenario's HF dataset")
    parser.add_argument("--no-report", action="store_true", help="skip report.md / report.html / summary.json")
    parser.add_argument("--no-explain", action="store_true",
                        help="skip attributing flips (render, sampling, server) and the replays it needs")
    parser.add_argument("--replay-backend", default=None,
                        help="the local backend flips are replayed on (default: the run's transformers-harmony)")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--json", action="store_true", help="print the run summary as JSON")
    sweep = parser.add_argument_group("latency sweep (instead of a comparison: one backend, synthetic prompts)")
    sweep.add_argument("--latency-sweep", action="store_true",
                       help="time synthetic prompts by input size and output budget through ONE backend")
    sweep.add_argument("--input-lengths", default="128,512,2048", help="prompt sizes in tokens (default 128,512,2048)")
    sweep.add_argument("--output-lengths", default="16,64", help="max_tokens budgets (default 16,64)")
    sweep.add_argument("--sweep-repeats", type=int, default=3, help="timed requests per cell (default 3)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from harness.run.compare import CompareOptions, run_compare, summary_dict
    from harness.run.profiles import resolve_profile

    profile = resolve_profile(args.profile, args.config)
    if args.latency_sweep:
        return run_latency_sweep(args, profile)
    scenario_stem = Path(args.scenario).stem
    out = Path(args.out) if args.out else Path("reports") / f"{scenario_stem}-{profile}"
    options = CompareOptions(scenario=args.scenario, out=out,
                             backends=[b.strip() for b in args.backends.split(",")] if args.backends else None,
                             repeats=args.repeats, limit=args.limit, config=args.config, profile=profile,
                             capture=args.capture, date=args.date, progress=not args.no_progress and not args.json,
                             max_tokens=args.max_tokens, online=args.online, cases=args.cases,
                             explain=not args.no_explain)
    result = run_compare(options)
    if not args.no_explain:
        from harness.errors import HarnessError
        from harness.explain.run import explain_run

        # the run is stored and its tables written: an attribution that cannot be made is a note, not a lost run
        try:
            attribution = explain_run(result.run_dir, replay_backend=args.replay_backend)
            result.files["attribution"] = str(result.run_dir / "attribution.json")
            result.notes.append(f"why labels differ: {attribution.headline()}")
        except HarnessError as exc:
            if args.replay_backend:  # asked for explicitly: bad input
                raise
            result.notes.append(f"no attribution of flips: {exc}")
        except Exception as exc:  # noqa: BLE001 -- a replay that fails (memory, torch) must not cost the report
            result.notes.append(f"no attribution of flips: {type(exc).__name__}: {exc}")
    if not args.no_report:
        from harness.report import write_reports

        result.files.update({k: str(v) for k, v in write_reports(result.run_dir).items()})
    if args.json:
        print(json.dumps(summary_dict(result), indent=2, default=str))
        return 0
    print_summary(result)
    return 0


def run_latency_sweep(args: argparse.Namespace, profile: str) -> int:
    from harness.errors import HarnessError
    from harness.run.sweep import SweepOptions, parse_lengths, run_sweep, sweep_table

    names = [b.strip() for b in (args.backends or "").split(",") if b.strip()]
    if len(names) != 1:
        raise HarnessError("--latency-sweep needs exactly one backend: --backends NAME")
    options = SweepOptions(backend=names[0], out=Path(args.out) if args.out else Path("reports") / f"sweep-{names[0]}",
                           input_lengths=parse_lengths(args.input_lengths, "--input-lengths"),
                           output_lengths=parse_lengths(args.output_lengths, "--output-lengths"),
                           repeats=args.sweep_repeats, config=args.config, profile=profile, date=args.date)
    result = run_sweep(options)
    if args.json:
        print(Path(result.files["sweep_json"]).read_text())
        return 0
    from harness.console import make_console

    console = make_console()
    console.print(sweep_table(result))
    console.print(f"sweep_json: {result.files['sweep_json']}\nsweep_csv: {result.files['sweep_csv']}")
    return 0


def print_summary(result) -> None:
    from rich.table import Table

    from harness.console import make_console

    console = make_console()
    stats = json.loads(Path(result.files["stats"]).read_text())
    table = Table(title=f"agreement ({result.profile} profile, {result.run_dir})")
    for column in ("a", "b", "n", "agreement", "95% CI (exact)", "kappa", "verdict"):
        table.add_column(column)
    for pair in stats.get("pairs", []):
        ci = pair.get("agreement_ci_exact") or [None, None]
        fmt = lambda v: "-" if v is None else f"{v:.3f}"
        table.add_row(pair["a"], pair["b"], str(pair["n"]), fmt(pair.get("agreement")),
                      f"{fmt(ci[0])}-{fmt(ci[1])}", fmt(pair.get("kappa")), str(pair.get("verdict", "-")))
    console.print(table)
    renders = json.loads(Path(result.files["renders"]).read_text())
    if renders.get("class_counts"):
        console.print("render differences: " + ", ".join(f"{k} x{v}" for k, v in
                                                         sorted(renders["class_counts"].items())))
    summary = result.summary
    console.print(f"{summary.completed} completed, {summary.failed} failed, {summary.skipped} reused from the store, "
                  f"{summary.retries} retries, {summary.wall_s:.1f}s")
    for note in result.notes:
        console.print(f"[yellow]note:[/] {note}")
    for name in ("report_md", "report_html", "summary_json", "flows"):
        if name in result.files:
            console.print(f"{name}: {result.files[name]}")

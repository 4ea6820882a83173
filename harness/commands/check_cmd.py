"""`harness baseline save RUN --to FILE` and `harness check RUN --baseline FILE`: the CI drift gate."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    baseline = subparsers.add_parser("baseline", help="keep a run's labels, classes and providers as a baseline")
    actions = baseline.add_subparsers(dest="baseline_command", metavar="ACTION", parser_class=type(baseline))
    actions.required = True
    save = actions.add_parser("save", help="write the baseline of a run folder (commit it under reports/baselines/)")
    save.add_argument("run", help="run folder written by `harness compare`")
    save.add_argument("--to", required=True, help="baseline JSON file to write")
    save.set_defaults(func=run_save)

    check = subparsers.add_parser("check", help="gate a run against a baseline: exit 1 on drift")
    check.add_argument("run", help="run folder written by `harness compare`")
    check.add_argument("--baseline", required=True, help="baseline JSON written by `harness baseline save`")
    check.add_argument("--max-disagreement", type=float, default=0.05,
                       help="margin: drift when the lower bound of the disagreement beyond the noise floor "
                            "exceeds it (default 0.05)")
    check.add_argument("--reference", default=None, help="also compare every backend against this one in the run")
    check.add_argument("--junit", default=None, help="write JUnit XML here (one testcase per backend and check)")
    check.add_argument("--confidence", type=float, default=0.95, help="interval confidence (default 0.95)")
    check.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    check.add_argument("--fail-on-cause", default=None, metavar="CAUSES",
                       help="also fail on flips between the run's backends with these causes, comma-separated "
                            "(render, server, sampling, unexplained; from `harness explain`)")
    check.add_argument("--json", action="store_true", help="print the report as one JSON object")
    check.set_defaults(func=run_check)


def run_save(args: argparse.Namespace) -> int:
    from harness.check import save_baseline

    path = save_baseline(args.run, args.to)
    print(f"baseline written: {path}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    from harness.check import check_run, markdown, rich_table, write_junit
    from harness.errors import DriftFound

    causes = tuple(c.strip() for c in (args.fail_on_cause or "").split(",") if c.strip())
    report = check_run(args.run, args.baseline, margin=args.max_disagreement, confidence=args.confidence,
                       reference=args.reference, seed=args.seed, fail_on_causes=causes)
    # Outputs first, verdict last: a failing gate still leaves its evidence behind.
    if args.junit:
        write_junit(report, args.junit)
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_file:
        with Path(summary_file).open("a", encoding="utf-8") as handle:
            handle.write(markdown(report))
    if args.json:
        print(json.dumps(report.to_json(), indent=2, allow_nan=False))
    else:
        from harness.console import make_console

        console = make_console()
        console.print(rich_table(report))
        for note in report.notes:
            console.print(f"[yellow]note:[/] {note}")
        console.print(report.summary())
    if report.failures:
        raise DriftFound(report.summary())
    return 0

"""`harness report RUN`: write report.md, report.html and summary.json for a compare run folder."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("report", help="write report.md / report.html / summary.json for a run folder")
    parser.add_argument("run", type=Path, help="run folder written by `harness compare`")
    parser.add_argument("--json", action="store_true", help="print summary.json instead of the file paths")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from harness.report import write_reports

    paths = write_reports(args.run)
    if args.json:
        print(paths["summary_json"].read_text(encoding="utf-8"), end="")
        return 0
    summary = json.loads(paths["summary_json"].read_text(encoding="utf-8"))
    for verdict in summary["verdicts"]:
        print(f"{verdict['a']} vs {verdict['b']}: {verdict['verdict']}")
    for key, path in paths.items():
        print(f"{key}: {path}")
    return 0

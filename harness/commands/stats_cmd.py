"""`harness stats LABELS.csv`: agreement, noise floor, distributions and gold metrics for a labels table."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("stats", help="agreement statistics for a case_id,backend,label[,repeat][,gold] CSV")
    parser.add_argument("labels", help="CSV with columns case_id,backend,label and optional repeat, gold")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--confidence", type=float, default=0.95, help="interval confidence (default 0.95)")
    parser.add_argument("--margin", type=float, default=0.05,
                        help="largest excess disagreement over the noise floor still called equivalent (default 0.05)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from harness.stats import compute_stats, load_labels_csv

    result = compute_stats(load_labels_csv(args.labels), confidence=args.confidence, margin=args.margin,
                           seed=args.seed)
    if args.json:
        print(result.dumps())
        return 0
    from harness.console import make_console
    from harness.stats.view import tables

    console = make_console()
    for table in tables(result):
        console.print(table)
    for note in result.notes:
        console.print(f"note: {note}")
    return 0

"""`harness scenarios`: list the built-in scenarios, or validate a scenario file (exit 0 ok, 2 with file:line)."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("scenarios", help="list built-in scenarios or validate a scenario file")
    parser.add_argument("--validate", metavar="FILE", default=None,
                        help="load FILE (or a built-in name) and report the first error as file:line")
    parser.add_argument("--online", action="store_true", help="allow hub datasets to be downloaded")
    parser.add_argument("--cases", default=None, metavar="JSONL",
                        help="with --validate: check these cases (one {\"text\": ...} object a line) under the scenario")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=run)


def _summary(scenario) -> dict:
    parser = scenario.label_parser()
    return {"name": scenario.name, "path": str(scenario.path), "cases": len(scenario.cases),
            "prompt_format": ",".join(scenario.prompt_formats) or scenario.prompt_format,
            "reasoning_effort": scenario.reasoning_effort, "label_kind": scenario.label.get("kind"),
            "labels": list(parser.labels) if parser.labels else None, "ordinal": parser.ordinal,
            "gold": sum(c.gold is not None for c in scenario.cases), "tools": len(scenario.tools),
            "dataset": (scenario.dataset or {}).get("id"), "fingerprint": scenario.fingerprint()}


def run(args: argparse.Namespace) -> int:
    from harness.errors import HarnessError
    from harness.scenario import available_scenarios, load_scenario

    if args.cases and not args.validate:
        raise HarnessError("--cases needs --validate SCENARIO")
    if args.validate:
        info = _summary(load_scenario(args.validate, online=args.online, cases_file=args.cases))
        if args.json:
            print(json.dumps({"ok": True, **info}, indent=2))
        else:
            print(f"ok: {info['path']}: scenario {info['name']!r}, {info['cases']} cases, "
                  f"{info['prompt_format']}, label {info['label_kind']}")
        return 0
    rows = [_summary(load_scenario(name, online=args.online)) for name in available_scenarios()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    from rich.table import Table

    from harness.console import make_console

    table = Table(title="built-in scenarios")
    for column in ("name", "cases", "gold", "prompt format", "effort", "label", "labels", "dataset"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["name"], str(row["cases"]), str(row["gold"]), row["prompt_format"],
                      row["reasoning_effort"] or "-", row["label_kind"] + (" (ordinal)" if row["ordinal"] else ""),
                      ",".join(row["labels"] or []) or "-", row["dataset"] or "-")
    make_console().print(table)
    return 0

"""The `harness` command: parse arguments, call the library, print. Nothing else lives here."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from harness.errors import DriftFound, HarnessError

# Each command module defines `register(subparsers)`, which adds its parser and sets `func(args) -> int`.
# Command modules import only light things at module level; heavy work is imported inside `func`.
COMMAND_MODULES = [
    "harness.commands.assets_cmd",
    "harness.commands.diff_cmd",
    "harness.commands.parse_cmd",
    "harness.commands.capture_cmd",
    "harness.commands.scenario_cmd",
    "harness.commands.serve_cmd",
    "harness.commands.report_cmd",
    "harness.commands.explain_cmd",
    "harness.commands.compare_cmd",
    "harness.commands.stats_cmd",
    "harness.commands.fingerprint_cmd",
    "harness.commands.check_cmd",
]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse prints usage + exits 2; keep it to one line
        sys.stderr.write(f"harness: error: {message}\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="harness", description="Backend-equivalence harness for gpt-oss.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    # transformers and huggingface_hub progress bars ("Loading weights") would bury the harness's own output
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except HarnessError as exc:
        sys.stderr.write(f"harness: error: {exc}\n")
        return exc.exit_code
    except DriftFound as exc:
        sys.stderr.write(f"harness: drift: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("harness: interrupted; everything collected so far is kept (rerun to resume)\n")
        return 130
    except BrokenPipeError:
        return 0

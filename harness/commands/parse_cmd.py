"""`harness parse FILE [--json]`: the messages (and unparsed spans) of a token file or of Harmony text."""

from __future__ import annotations

import argparse
import json

CONTENT_PREVIEW = 120  # characters of content shown per row in the table view


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("parse", help="parse token ids or Harmony text into messages (never fails on "
                                                 "malformed input)")
    parser.add_argument("file", metavar="FILE",
                        help="JSON array of token ids, object with `token_ids`, whitespace-separated ids, "
                             "or Harmony text with special tokens")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--completion", action="store_true", default=None,
                        help="treat the input as a model completion (starts after `<|start|>assistant`); "
                             "default: detect")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from harness.render.parser import parse_tokens
    from harness.tokens_io import load_tokens_or_text

    ids = load_tokens_or_text(args.file)
    result = parse_tokens(ids, completion=args.completion)
    if args.json:
        print(json.dumps({"tokens": len(ids), **result.to_json()}, indent=2, ensure_ascii=False))
        return 0
    _print_table(result, len(ids), args.file)
    return 0


def _print_table(result, n_tokens: int, name: str) -> None:
    from rich.table import Table
    from rich.text import Text

    from harness.console import make_console

    table = Table(title=f"{name}: {n_tokens} tokens, {len(result.messages)} messages, "
                        f"{len(result.unparsed)} unparsed spans")
    for column in ("tokens", "role", "to", "channel", "type", "end"):
        table.add_column(column, no_wrap=column in ("tokens", "end"), overflow="fold")
    table.add_column("content", overflow="fold", min_width=24, ratio=1)
    table.add_column("anomalies", overflow="fold")
    rows = [(m.start, "message", m) for m in result.messages] + [(u.start, "unparsed", u) for u in result.unparsed]
    for _, kind, item in sorted(rows, key=lambda row: row[0]):
        if kind == "unparsed":
            table.add_row(f"{item.start}-{item.end}", Text("unparsed", style="bold red"), "", "", "", "",
                          Text(_preview(item.text), style="red"), "")
            continue
        table.add_row(f"{item.start}-{item.end}", Text(item.role or "-"), Text(item.recipient or ""),
                      Text(item.channel or ""), Text(item.content_type or ""), Text(item.terminator or "-"),
                      Text(_preview(item.content)), Text(", ".join(item.anomalies), style="yellow"))
    make_console().print(table)


def _preview(text: str) -> str:
    text = text.replace("\n", "\\n")
    return text if len(text) <= CONTENT_PREVIEW else text[:CONTENT_PREVIEW] + "..."

"""`harness tokens-diff A B` and `harness render-diff --request FILE`: token diffs named with TAXONOMY.md ids.

Both exit 0 whether or not the sides differ (a difference is a finding to read, not a failure) and 2 on bad input.
"""

from __future__ import annotations

import argparse
import datetime
import json
from pathlib import Path

DEFAULT_RENDERERS = "harmony,hf-template,vllm"


def register(subparsers: argparse._SubParsersAction) -> None:
    tokens = subparsers.add_parser("tokens-diff", help="diff two token id files and name each difference")
    tokens.add_argument("a", metavar="A", help="JSON array of token ids, or an object with `token_ids` / "
                                               "`prompt_token_ids`")
    tokens.add_argument("b", metavar="B", help="the same, for the other side")
    tokens.add_argument("--json", action="store_true", help="print one JSON object")
    tokens.set_defaults(func=run_tokens_diff)

    render = subparsers.add_parser("render-diff", help="render one request through several renderers and diff "
                                                       "every pair")
    source = render.add_mutually_exclusive_group(required=True)
    source.add_argument("--request", metavar="FILE", help="one OpenAI chat-completions request body (JSON)")
    source.add_argument("--scenario", metavar="FILE", help="a scenario: every case's request is rendered and diffed")
    render.add_argument("--renderers", default=DEFAULT_RENDERERS,
                        help=f"comma-separated renderer names, at least two (default: {DEFAULT_RENDERERS})")
    render.add_argument("--date", default=None, help="the date every renderer writes, YYYY-MM-DD (default: today)")
    render.add_argument("--json", action="store_true", help="print one JSON object")
    render.set_defaults(func=run_render_diff)


def run_tokens_diff(args: argparse.Namespace) -> int:
    from harness.diff import diff_tokens
    from harness.tokens_io import load_token_ids

    a, b = load_token_ids(args.a), load_token_ids(args.b)
    diff = diff_tokens(a, b)
    if args.json:
        print(json.dumps(diff.to_json(), ensure_ascii=False))
        return 0
    from harness.console import make_console
    from harness.diff.view import token_diff_view

    make_console().print(token_diff_view(diff, Path(args.a).name, Path(args.b).name))
    return 0


def run_render_diff(args: argparse.Namespace) -> int:
    from harness.diff import render_diff

    names = _renderer_names(args.renderers)
    date = args.date or datetime.date.today().isoformat()
    from harness.lint import lint_all

    if args.request:
        request = _load_request(args.request)
        result = render_diff(request, names, date=date)
        lint = lint_all(request, result.tokens)  # the request itself, and the effort each render wrote
        if args.json:
            print(json.dumps({**result.to_json(), "lint": [f.to_json() for f in lint]}, ensure_ascii=False))
            return 0
        from harness.console import make_console
        from harness.diff.view import render_diff_view

        console = make_console()
        console.print(render_diff_view(result))
        _print_lint(console, [(None, f) for f in lint])
        return 0
    cases = [(case_id, render_diff(request, names, date=date), request)
             for case_id, request in _scenario_requests(args.scenario)]
    lints = {case_id: lint_all(request, result.tokens) for case_id, result, request in cases}
    cases = [(case_id, result) for case_id, result, _ in cases]
    summary = _scenario_summary(names, cases)
    if args.json:
        print(json.dumps({"date": date, "renderers": names, "pairs": summary,
                          "lint": [{"case_id": case_id, **f.to_json()} for case_id, found in lints.items()
                                   for f in found],
                          "cases": [{"case_id": case_id, **result.to_json(),
                                     "lint": [f.to_json() for f in lints[case_id]]} for case_id, result in cases]},
                         ensure_ascii=False))
        return 0
    _print_scenario(date, summary, cases)
    from harness.console import make_console

    _print_lint(make_console(), [(case_id, f) for case_id, found in lints.items() for f in found])
    return 0


def _print_lint(console, findings: list) -> None:
    """`lint: <code> <message>` lines, one per finding (per case in a scenario), under the diff."""
    from rich.markup import escape

    for case_id, finding in findings:
        where = f"{case_id}: " if case_id else ""
        console.print(f"[bold yellow]lint[/] {escape(finding.code)} {escape(where + finding.message)}")


# ---------------------------------------------------------------------------------------------------------------


def _renderer_names(text: str) -> list[str]:
    from harness.errors import HarnessError

    names = list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    if len(names) < 2:
        raise HarnessError(f"--renderers needs at least two distinct names, got {text!r}")
    return names


def _load_request(path: str):
    from harness.errors import HarnessError
    from harness.request import ChatRequest

    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HarnessError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise HarnessError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HarnessError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    try:
        return ChatRequest.from_body(body)
    except HarnessError as exc:
        raise HarnessError(f"{path}: {exc}") from None


def _scenario_requests(path: str):
    from harness.errors import HarnessError
    from harness.scenario import load_scenario

    requests = list(load_scenario(path).requests())
    if not requests:
        raise HarnessError(f"{path}: the scenario has no cases")
    return requests


def _scenario_summary(names: list[str], cases: list) -> list[dict]:
    """One row per renderer pair over all cases: how many identical, which classes, where they first differ."""
    rows = []
    for k, (a, b) in enumerate((x, y) for i, x in enumerate(names) for y in names[i + 1:]):
        pairs = [result.pairs[k] for _, result in cases]
        divergences = [p.first_divergence for p in pairs if p.first_divergence is not None]
        class_counts: dict[str, int] = {}
        for p in pairs:
            for cls in p.classes:
                class_counts[cls] = class_counts.get(cls, 0) + 1
        rows.append({"a": a, "b": b, "identical": all(p.identical for p in pairs), "cases": len(pairs),
                     "identical_cases": sum(p.identical for p in pairs), "classes": sorted(class_counts),
                     "class_counts": dict(sorted(class_counts.items())),
                     "first_divergence": min(divergences) if divergences else None})
    return rows


def _print_scenario(date: str, summary: list[dict], cases: list) -> None:
    from rich.table import Table

    from harness.console import make_console

    table = Table(title=f"render diff over {len(cases)} case(s) (date {date})")
    for column in ("a", "b", "identical cases", "classes (cases)"):
        table.add_column(column)
    for row in summary:
        table.add_row(row["a"], row["b"], f"{row['identical_cases']}/{row['cases']}",
                      ", ".join(f"{c} ({n})" for c, n in row["class_counts"].items()) or "-")
    make_console().print(table)

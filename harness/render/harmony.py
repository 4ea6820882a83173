"""`harmony`: the request rendered with openai-harmony the way OpenAI documents the Harmony format.

Also holds `HarmonyKit`, the small set of openai-harmony builders the vLLM renderers share (vLLM renders gpt-oss
chat requests with openai-harmony too; only its mapping of chat messages differs).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

from harness.errors import HarnessError
from harness.render.base import check_date, renderer
from harness.request import ChatMessage, ChatRequest, ToolSpec

DEFAULT_EFFORT = "medium"
_CACHE_LIMIT = 4096  # distinct rendered messages kept per process (a scenario's system/policy messages)
ALL_CHANNELS = ("analysis", "commentary", "final")
_CHAT_ROLES = ("system", "developer", "user", "assistant")


class HarmonyKit:
    """openai-harmony builders over the offline encoding, imported and loaded once."""

    def __init__(self) -> None:
        import openai_harmony as oh

        from harness.assets import harmony_encoding

        self.oh = oh
        self.encoding = harmony_encoding()
        self.efforts = {"low": oh.ReasoningEffort.LOW, "medium": oh.ReasoningEffort.MEDIUM,
                        "high": oh.ReasoningEffort.HIGH}
        self._cache: dict[str, tuple[int, ...]] = {}
        self._completion_tail = tuple(self.encoding.encode("<|start|>assistant", allowed_special="all"))

    def system(self, *, date: str, effort: str | None, channels: Sequence[str] | None = None) -> Any:
        """System message: SystemContent.new() defaults, `Current date:` and `Reasoning:` (None keeps the default)."""
        oh = self.oh
        content = oh.SystemContent.new().with_conversation_start_date(date)
        if effort is not None:
            content = content.with_reasoning_effort(self.efforts[effort])
        if channels is not None:
            content = content.with_channel_config(oh.ChannelConfig.require_channels(list(channels)))
        return oh.Message.from_role_and_content(oh.Role.SYSTEM, content)

    def developer(self, *, instructions: str | None, tools: Sequence[ToolSpec]) -> Any:
        """Developer message: `# Instructions` (when not None) and `# Tools` (functions namespace, when any)."""
        oh = self.oh
        content = oh.DeveloperContent.new()
        if instructions is not None:
            content = content.with_instructions(instructions)
        if tools:
            content = content.with_function_tools([self.tool_description(t) for t in tools])
        return oh.Message.from_role_and_content(oh.Role.DEVELOPER, content)

    def tool_description(self, tool: ToolSpec) -> Any:
        return self.oh.ToolDescription.new(tool.name, tool.description or "", parameters=tool.parameters)

    def text(self, role: str, text: str, *, channel: str | None = None, recipient: str | None = None,
             content_type: str | None = None) -> Any:
        message = self.oh.Message.from_role_and_content(self.oh.Role(role), text)
        return _with_header(message, channel, recipient, content_type)

    def text_parts(self, role: str, parts: Sequence[str], *, channel: str | None = None) -> Any:
        """One message whose content is several text contents (each tokenized on its own when rendered)."""
        oh = self.oh
        message = oh.Message.from_role_and_contents(oh.Role(role), [oh.TextContent(text=part) for part in parts])
        return _with_header(message, channel, None, None)

    def tool_result(self, tool_name: str, text: str, *, recipient: str | None = "assistant",
                    channel: str | None = "commentary") -> Any:
        oh = self.oh
        message = oh.Message.from_author_and_content(oh.Author.new(oh.Role.TOOL, f"functions.{tool_name}"), text)
        return _with_header(message, channel, recipient, None)

    def render_direct(self, messages: Iterable[Any]) -> list[int]:
        """render_conversation_for_completion(conv, Role.ASSISTANT) with harmony's default render config."""
        conversation = self.oh.Conversation.from_messages(list(messages))
        return list(self.encoding.render_conversation_for_completion(conversation, self.oh.Role.ASSISTANT))

    def render(self, messages: Iterable[Any]) -> list[int]:
        """Same ids as `render_direct`, assembled from per-message renders that are cached.

        Tokenizing is most of harmony's cost (~2 ms per 1k tokens) and a scenario repeats the same system and
        policy messages for every case, so each distinct message is rendered once. The assembly mirrors
        harmony's `render_conversation_for_completion`: the leading system (+ developer) messages are rendered as
        a conversation (the system message's `Calls to these tools...` line depends on the developer's tools),
        the rest message by message after harmony's auto-drop rule (when the last assistant message is `final`,
        drop `analysis` messages before the first `final` one), then `<|start|>assistant`. The tests check it
        against `render_direct`.
        """
        messages = list(messages)
        oh = self.oh
        head_len = 2 if len(messages) > 1 and messages[1].author.role == oh.Role.DEVELOPER else 1
        if any(_has_function_tools(m) for m in messages[head_len:]):  # would change the system message: be exact
            return self.render_direct(messages)
        head = messages[:head_len]
        head_key = "\x1e".join(m.to_json() for m in head)
        ids = list(self._cached(head_key, lambda: self.encoding.render_conversation(
            oh.Conversation.from_messages(head))))
        for message in _auto_drop_analysis(messages)[head_len:]:
            ids.extend(self._cached(message.to_json(), lambda m=message: self.encoding.render(m)))
        ids.extend(self._completion_tail)
        return ids

    def oss_harmony_tool_result_headers(self, ids: Sequence[int]) -> list[int]:
        """Rewrite tool-result headers to the order the `oss-harmony` fork renders (vLLM 0.31+ depends on it).

        openai-harmony 0.0.8: `<|start|>functions.x to=assistant<|channel|>commentary<|message|>`;
        oss-harmony 0.0.11: `<|start|>functions.x<|channel|>commentary to=assistant<|message|>`. The same tokens,
        the ` to=RECIPIENT` run moved after the channel; only headers whose author is not a chat role (a tool)
        and that carry a recipient before `<|channel|>` are touched.
        """
        start, channel, message = (self._special(s) for s in ("<|start|>", "<|channel|>", "<|message|>"))
        out = list(ids)
        for i, token in enumerate(out):
            if token != start:
                continue
            try:
                header_end = out.index(message, i + 1)
                channel_at = out.index(channel, i + 1, header_end)
            except ValueError:
                continue
            split = next((j for j in range(i + 2, channel_at)
                          if self.encoding.decode(out[j:channel_at]).startswith(" to=")), None)
            if split is None or self.encoding.decode(out[i + 1:split]) in _CHAT_ROLES:
                continue
            out[i + 1:header_end] = out[i + 1:split] + out[channel_at:header_end] + out[split:channel_at]
        return out

    def _special(self, text: str) -> int:
        (token,) = self.encoding.encode(text, allowed_special="all")
        return token

    def _cached(self, key: str, make) -> list[int]:
        found = self._cache.get(key)
        if found is None:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            found = self._cache[key] = tuple(make())
        return found


def _with_header(message: Any, channel: str | None, recipient: str | None, content_type: str | None) -> Any:
    if channel is not None:
        message = message.with_channel(channel)
    if recipient is not None:
        message = message.with_recipient(recipient)
    if content_type is not None:
        message = message.with_content_type(content_type)
    return message


def _has_function_tools(message: Any) -> bool:
    return any(getattr(part, "tools", None) for part in message.content)


def _auto_drop_analysis(messages: list[Any]) -> list[Any]:
    """openai-harmony's rule (encoding.rs, render_conversation with auto_drop_analysis=True)."""
    last_assistant = next((m for m in reversed(messages) if m.author.role.value == "assistant"), None)
    if last_assistant is None or last_assistant.channel != "final":
        return messages
    first_final = next((i for i, m in enumerate(messages) if m.channel == "final"), None)
    if first_final is None:
        return messages
    return [m for i, m in enumerate(messages) if not (i < first_final and m.channel == "analysis")]


@functools.lru_cache(maxsize=1)
def harmony_kit() -> HarmonyKit:
    return HarmonyKit()


def split_instructions(request: ChatRequest) -> tuple[str | None, tuple[ChatMessage, ...]]:
    """A leading system/developer message becomes the instructions; the rest of the conversation follows."""
    messages = request.messages
    if messages and messages[0].role in ("system", "developer"):
        return messages[0].content, messages[1:]
    return None, messages


def tool_call_names(request: ChatRequest) -> dict[str, str]:
    """tool_call_id -> function name, over every assistant tool call in the request."""
    return {call.id: call.name for message in request.messages for call in message.tool_calls if call.id}


class HarmonyRenderer:
    """openai-harmony as OpenAI documents the format.

    - System: `SystemContent.new()` (identity, knowledge cutoff, all three channels) with
      `.with_conversation_start_date(date)` and `.with_reasoning_effort(effort)`, effort `medium` when unset.
    - A leading system or developer message becomes the developer message's `# Instructions`; the request's tools
      become its `# Tools` (`functions` namespace). No developer message when there is neither.
    - A second (or any later) system/developer message is NOT dropped: harmony has no notion of dropping, so it
      is rendered in place as an additional developer message with its own `# Instructions`.
    - User -> user. Assistant: `reasoning` -> an `analysis` message; content -> a `final` message (or, on a turn
      with tool calls, a `commentary` preamble when non-empty); each tool call -> `assistant to=functions.NAME`,
      channel `commentary`, content type `<|constrain|>json`, the arguments string verbatim.
    - Tool result -> author `functions.NAME` to `assistant` on `commentary`, content verbatim; NAME comes from
      the call with the matching `tool_call_id`, else the message's `name`, else the latest call before it.
    - `render_conversation_for_completion(conv, Role.ASSISTANT)` with harmony's default config, so harmony's own
      rule for dropping earlier analysis applies (it drops the analysis of a turn that ended in a final message).
    """

    name = "harmony"
    description = "openai-harmony as OpenAI documents the format (reference render)"

    def __init__(self, kit: HarmonyKit) -> None:
        self.kit = kit

    def render(self, request: ChatRequest, *, date: str) -> list[int]:
        check_date(date)
        kit = self.kit
        instructions, rest = split_instructions(request)
        messages = [kit.system(date=date, effort=request.reasoning_effort or DEFAULT_EFFORT)]
        if instructions is not None or request.tools:
            messages.append(kit.developer(instructions=instructions, tools=request.tools))
        names = tool_call_names(request)
        latest_call: str | None = None
        for message in rest:
            if message.role in ("system", "developer"):
                messages.append(kit.developer(instructions=message.content, tools=()))
            elif message.role == "user":
                messages.append(kit.text("user", message.content))
            elif message.role == "assistant":
                messages.extend(self._assistant(message))
                if message.tool_calls:
                    latest_call = message.tool_calls[-1].name
            else:  # tool
                name = names.get(message.tool_call_id or "") or message.name or latest_call
                if name is None:
                    raise HarnessError("a tool message has no matching tool call (no tool_call_id match, no name, "
                                       "no earlier assistant tool call)")
                messages.append(kit.tool_result(name, message.content))
        return kit.render(messages)

    def _assistant(self, message: ChatMessage) -> list[Any]:
        kit = self.kit
        out = []
        if message.reasoning:
            out.append(kit.text("assistant", message.reasoning, channel="analysis"))
        if message.tool_calls:
            if message.content:
                out.append(kit.text("assistant", message.content, channel="commentary"))
            for call in message.tool_calls:
                out.append(kit.text("assistant", call.arguments, channel="commentary",
                                    recipient=f"functions.{call.name}", content_type="<|constrain|>json"))
        elif message.content or not message.reasoning:
            out.append(kit.text("assistant", message.content, channel="final"))
        return out


@renderer("harmony", HarmonyRenderer.description)
def _harmony(assets) -> HarmonyRenderer:
    return HarmonyRenderer(harmony_kit())

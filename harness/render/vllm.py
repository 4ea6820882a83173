"""`vllm` / `vllm-0.33`, `vllm-0.14` and `vllm-0.10`: how vLLM's OpenAI server renders a chat request for gpt-oss.

For `model_type == gpt_oss` vLLM ignores the Jinja template and builds openai-harmony messages itself
(`_make_request_with_harmony` in the chat-completions serving code, helpers in `harmony_utils.py`). These
renderers re-implement that mapping (written from reading vLLM's source, not copied) on top of the same
openai-harmony encoding. Sources read (vllm-project/vllm, public):
- current: `vllm/entrypoints/openai/chat_completion/serving.py` (`_make_request_with_harmony` with
  `extract_instructions_from_messages` + `build_harmony_preamble`) and the harmony utils module it imports
  (`parse_chat_inputs_to_harmony_messages`, `auto_drop_analysis_messages`, `get_system_or_developer_message`).
- 0.10 era: `vllm/entrypoints/openai/serving_chat.py` (`get_system_message` + an unconditional
  `get_developer_message(tools=request.tools)`, then `parse_chat_input` per message) and
  `vllm/entrypoints/harmony_utils.py` of that era. The full git history could not be fetched here (the
  snapshot is over the size limit), so these versions were read from the stored file index, not at the
  `v0.10.2` tag itself; the channel rule (commentary listed only with tools) follows the project's REFERENCE.
- 0.14: the current mapping, except that `commentary` is left out of the valid channels when the request has no
  tools (0.20+ lists it always), per the project's REFERENCE notes on vLLM's version drift.
The date is what `VLLM_SYSTEM_START_DATE` (or the server clock) would give; here it is the pinned `date`.
"""

from __future__ import annotations

from typing import Any

from harness.render.base import check_date, renderer
from harness.render.harmony import ALL_CHANNELS, HarmonyKit, harmony_kit, split_instructions, tool_call_names
from harness.request import ChatMessage, ChatRequest

# vLLM sends tool calls with content type `json` (plain text ` json` in the header), not `<|constrain|>json`:
# its source says there is no clear evidence the constrain token helps accuracy.
VLLM_TOOL_CONTENT_TYPE = "json"


class VllmRenderer:
    """vLLM's current chat-completions Harmony path (mirrors the newest vLLM source read, ~0.33).

    - System: `SystemContent.new()` + `Current date:` + `Reasoning:` (the request's effort; harmony's default
      `medium` when unset); all three channels listed, with or without tools.
    - A leading system/developer message -> developer `# Instructions`; the developer message exists only when
      there are instructions or tools (tools -> `# Tools`).
    - Later system/developer messages -> separate developer messages with `# Instructions`, in place.
    - Assistant with tool calls: content (if any) -> `commentary` message, then reasoning (if any) -> `analysis`,
      then each call -> `to=functions.NAME`, `commentary`, content type `json` (no `<|constrain|>`).
      Assistant without tool calls: reasoning -> `analysis`, non-empty content -> `final`.
    - Tool result -> author `functions.NAME` (NAME from the call whose id matches `tool_call_id`, else empty),
      channel `commentary`, recipient `assistant`.
    - Every `analysis` message before the last assistant `final` is dropped (vLLM's own rule), then harmony
      renders for completion (its default config).
    """

    name = "vllm"
    description = "vLLM (~0.33, current) chat-completions Harmony rendering"

    def __init__(self, kit: HarmonyKit, name: str = "vllm", *, commentary_without_tools: bool = True) -> None:
        self.kit = kit
        self.name = name
        self.commentary_without_tools = commentary_without_tools  # False: 0.14's two-channel list without tools

    def render(self, request: ChatRequest, *, date: str) -> list[int]:
        check_date(date)
        kit = self.kit
        instructions, rest = split_instructions(request)
        channels = None if self.commentary_without_tools or request.tools else ("analysis", "final")
        messages: list[Any] = [kit.system(date=date, effort=request.reasoning_effort, channels=channels)]
        if instructions or request.tools:
            messages.append(kit.developer(instructions=instructions, tools=request.tools))
        names = tool_call_names(request)
        conversation: list[Any] = []
        for message in rest:
            conversation.extend(self._message(message, names))
        messages.extend(_drop_analysis_before_last_final(conversation))
        return kit.render(messages)

    def _message(self, message: ChatMessage, names: dict[str, str]) -> list[Any]:
        kit = self.kit
        if message.role in ("system", "developer"):
            return [kit.developer(instructions=message.content, tools=())]
        if message.role == "user":
            return [kit.text("user", message.content)]
        if message.role == "tool":
            return [kit.tool_result(names.get(message.tool_call_id or "", ""), message.content)]
        out = []
        if message.tool_calls:
            if message.content:
                out.append(kit.text("assistant", message.content, channel="commentary"))
            if message.reasoning:
                out.append(kit.text("assistant", message.reasoning, channel="analysis"))
            for call in message.tool_calls:
                out.append(kit.text("assistant", call.arguments, channel="commentary",
                                    recipient=f"functions.{call.name}", content_type=VLLM_TOOL_CONTENT_TYPE))
            return out
        if message.reasoning:
            out.append(kit.text("assistant", message.reasoning, channel="analysis"))
        if message.content:
            out.append(kit.text("assistant", message.content, channel="final"))
        return out


def _drop_analysis_before_last_final(messages: list[Any]) -> list[Any]:
    last_final = max((i for i, m in enumerate(messages)
                      if m.author.role.value == "assistant" and m.channel == "final"), default=-1)
    return [m for i, m in enumerate(messages) if not (i < last_final and m.channel == "analysis")]


class Vllm010Renderer:
    """vLLM 0.10.2's chat-completions Harmony path (0.10-era `serving_chat.py` + `harmony_utils.py`).

    - System: `SystemContent.new()` + `Current date:` + `Reasoning:`; channels `analysis, final` only, with
      `commentary` listed only when the request has tools.
    - A developer message is ALWAYS added (empty when there are no tools; tools -> `# Tools`); it never carries
      instructions.
    - Every request message is then converted one by one: a system message becomes a second, raw `system`
      message (its text verbatim, no `# Instructions`); a developer message a raw `developer` message.
    - Assistant with tool calls: only the calls (`to=functions.NAME`, `commentary`, content type `json`); the
      turn's content and reasoning are dropped. Assistant without tool calls: its content with no channel at all;
      reasoning dropped.
    - Tool result -> author `functions.NAME` with NAME from the tool message's `name` field (empty when the
      client sends none, as OpenAI clients do), channel `commentary`, no recipient.
    """

    name = "vllm-0.10"
    description = "vLLM 0.10.2 chat-completions Harmony rendering (raw second system message, 2-channel list)"

    def __init__(self, kit: HarmonyKit) -> None:
        self.kit = kit

    def render(self, request: ChatRequest, *, date: str) -> list[int]:
        check_date(date)
        kit = self.kit
        channels = ALL_CHANNELS if request.tools else ("analysis", "final")
        messages: list[Any] = [kit.system(date=date, effort=request.reasoning_effort, channels=channels),
                               kit.developer(instructions=None, tools=request.tools)]
        for message in request.messages:
            messages.extend(self._message(message))
        return kit.render(messages)

    def _message(self, message: ChatMessage) -> list[Any]:
        kit = self.kit
        if message.role == "tool":
            return [kit.tool_result(message.name or "", message.content, recipient=None)]
        if message.role == "assistant" and message.tool_calls:
            return [kit.text("assistant", call.arguments, channel="commentary", recipient=f"functions.{call.name}",
                             content_type=VLLM_TOOL_CONTENT_TYPE) for call in message.tool_calls]
        return [kit.text(message.role, message.content)]


@renderer("vllm", VllmRenderer.description)
def _vllm(assets) -> VllmRenderer:
    return VllmRenderer(harmony_kit())


@renderer("vllm-0.33", "vLLM 0.33 chat-completions Harmony rendering (same as `vllm`)")
def _vllm_033(assets) -> VllmRenderer:
    return VllmRenderer(harmony_kit(), name="vllm-0.33")


@renderer("vllm-0.14", "vLLM 0.14 chat-completions Harmony rendering (commentary listed only with tools)")
def _vllm_014(assets) -> VllmRenderer:
    return VllmRenderer(harmony_kit(), name="vllm-0.14", commentary_without_tools=False)


@renderer("vllm-0.10", Vllm010Renderer.description)
def _vllm_010(assets) -> Vllm010Renderer:
    return Vllm010Renderer(harmony_kit())

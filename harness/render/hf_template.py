"""`hf-template`: the model's Jinja chat template through transformers' own chat-template environment.

What `tokenizer.apply_chat_template(messages, tools=..., add_generation_prompt=True, reasoning_effort=...)` feeds
the model, with one change: the template's `strftime_now(...)` (the `Current date:` line) returns the pinned date
instead of the clock. transformers strips callables out of template kwargs, so the date cannot be passed through
`apply_chat_template`; instead the template is compiled by transformers (`_compile_jinja_template`: its sandbox, its
`tojson`, `raise_exception`, loop controls) and rendered with `strftime_now` shadowed in the render context.
The text is then tokenized with the model's fast tokenizer (special tokens recognised, no BOS added).

Tool-call `arguments` go to the template as the request carries them: the JSON *string* of the OpenAI wire format.
The gpt-oss template `tojson`s them, so `apply_chat_template` (and `pipeline(...)`) given the body unchanged writes
the arguments double-encoded (`"{\\"url\\": ...}"`); `hf-template` shows exactly that. `hf-template-parsed-args`
is the same template with each arguments string parsed first (`json.loads`, into the `dict` shape transformers'
chat-template docs use): what `transformers serve` does with a request before templating it, and what a user who
converts the body first gets. The two differ only on requests with tool calls.
"""

from __future__ import annotations

import json
import re
from datetime import date as _date
from typing import Any

from harness.errors import HarnessError
from harness.render.base import check_date, renderer
from harness.request import ChatMessage, ChatRequest

_SPECIAL_LIKE = re.compile(r"(<\|[^<>|\s]+\|>)")
_CACHE_LIMIT = 4096  # distinct text pieces kept per process
PARSED_ARGS = "hf-template-parsed-args"
PARSED_ARGS_DESCRIPTION = ("hf-template with each tool call's arguments string parsed first, as transformers serve "
                           "does (the dict shape transformers documents: the arguments written once)")


def template_message(message: ChatMessage, *, parse_arguments: bool = False) -> dict[str, Any]:
    """One request message in the shape HF chat templates read.

    `reasoning` -> `thinking` (the gpt-oss template's field); tool calls -> `tool_calls: [{type, function: {name,
    arguments}}]` with `arguments` the string the client sent (the template `tojson`s it: double encoding). With
    `parse_arguments`, an arguments string that is JSON is parsed first, as `transformers serve` does (the shape
    transformers documents; the template then writes it once).
    """
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.reasoning is not None:
        out["thinking"] = message.reasoning
    if message.tool_calls:
        out["tool_calls"] = [{"type": "function", **({"id": c.id} if c.id else {}),
                              "function": {"name": c.name, "arguments": (_arguments(c.arguments) if parse_arguments
                                                                       else c.arguments)}}
                             for c in message.tool_calls]
    if message.tool_call_id:
        out["tool_call_id"] = message.tool_call_id
    if message.name:
        out["name"] = message.name
    return out


def _arguments(arguments: str) -> Any:
    """The value an arguments string holds, as `transformers serve` parses it (`json.loads`, any JSON value);
    a string that is not JSON stays as sent (serve would refuse the request)."""
    try:
        return json.loads(arguments)
    except ValueError:
        return arguments


def template_tools(request: ChatRequest) -> list[dict[str, Any]] | None:
    if not request.tools:
        return None
    return [t.to_body() for t in request.tools]


class HfTemplateRenderer:
    """The chat template (assets.template_path) via transformers' Jinja environment, date pinned, then tokenized.

    What this template does (and so what this renderer shows): `Current date:` from the clock (pinned here), the
    FIRST message if it is system/developer -> developer `# Instructions` followed by `\\n\\n`; later
    system/developer messages silently dropped; earlier assistant turns final-channel only (their `thinking`
    dropped, except on a tool-call turn not yet followed by a final answer); tool calls as
    `to=functions.x<|channel|>commentary json` with `tojson` arguments (the arguments string quoted again, unless
    `parse_arguments`); tool results `tojson`-quoted; only the
    first tool call of a turn rendered. When the template refuses a request (`raise_exception`), HarnessError
    carries the template's message.
    """

    name = "hf-template"
    description = ("transformers apply_chat_template with the model's Jinja chat template, the request's messages "
                   "as sent (tool-call arguments double-encoded by the template; date pinned)")

    def __init__(self, template_text: str, tokenizer_json: str, *, parse_arguments: bool = False) -> None:
        from tokenizers import Tokenizer

        self.parse_arguments = parse_arguments
        if parse_arguments:
            self.name, self.description = PARSED_ARGS, PARSED_ARGS_DESCRIPTION

        try:
            from transformers.utils.chat_template_utils import _compile_jinja_template
        except ImportError as exc:  # the private helper moved: fail with one clear line
            raise HarnessError(f"this transformers has no chat-template compiler to reuse ({exc})") from exc
        self.template = _compile_jinja_template(template_text)
        self.tokenizer = Tokenizer.from_file(tokenizer_json)
        self._date_functions: dict[str, Any] = {}
        self._pieces: dict[str, tuple[int, ...]] = {}
        # Special tokens that are matched whole in text; any stripping behaviour would break piece-wise encoding.
        self._special_ids = {token.content: token_id
                             for token_id, token in self.tokenizer.get_added_tokens_decoder().items()
                             if token.special and not (token.lstrip or token.rstrip)}

    def render_text(self, request: ChatRequest, *, date: str) -> str:
        import jinja2

        check_date(date)
        kwargs: dict[str, Any] = {}
        if request.reasoning_effort is not None:
            kwargs["reasoning_effort"] = request.reasoning_effort
        try:
            return self.template.render(messages=self.messages(request),
                                        tools=template_tools(request), documents=None, add_generation_prompt=True,
                                        strftime_now=self._strftime(date), **kwargs)
        except jinja2.TemplateError as exc:
            raise HarnessError(f"the chat template cannot render this request: {exc}") from exc
        except (TypeError, AttributeError, KeyError) as exc:  # e.g. a field of the wrong type inside the template
            raise HarnessError(f"the chat template failed on this request: {exc}") from exc

    def messages(self, request: ChatRequest) -> list[dict[str, Any]]:
        """The `messages` this renderer hands the template."""
        return [template_message(m, parse_arguments=self.parse_arguments) for m in request.messages]

    def render(self, request: ChatRequest, *, date: str) -> list[int]:
        return self.encode(self.render_text(request, date=date))

    def encode_direct(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def encode(self, text: str) -> list[int]:
        """Same ids as `encode_direct`, with the text between special tokens tokenized once per distinct piece.

        The tokenizer splits on its special tokens before anything else, so the pieces between them tokenize
        independently; a scenario repeats its system and policy pieces for every case, and tokenizing is ~2 ms
        per 1k tokens. A `<|...|>` that is not a special token falls back to tokenizing the whole text.
        """
        ids: list[int] = []
        for index, piece in enumerate(_SPECIAL_LIKE.split(text)):
            if index % 2:  # a `<|...|>` match
                special = self._special_ids.get(piece)
                if special is None:
                    return self.encode_direct(text)
                ids.append(special)
            elif piece:
                found = self._pieces.get(piece)
                if found is None:
                    if len(self._pieces) >= _CACHE_LIMIT:
                        self._pieces.clear()
                    found = self._pieces[piece] = tuple(self.encode_direct(piece))
                ids.extend(found)
        return ids

    def _strftime(self, date: str):
        function = self._date_functions.get(date)
        if function is None:
            pinned = _date.fromisoformat(date)

            def function(format: str) -> str:
                return pinned.strftime(format)

            self._date_functions[date] = function
        return function


@renderer("hf-template", HfTemplateRenderer.description)
def _hf_template(assets) -> HfTemplateRenderer:
    return HfTemplateRenderer(assets.template, _tokenizer_json(assets))


@renderer(PARSED_ARGS, PARSED_ARGS_DESCRIPTION)
def _hf_template_parsed_args(assets) -> HfTemplateRenderer:
    return HfTemplateRenderer(assets.template, _tokenizer_json(assets), parse_arguments=True)


def _tokenizer_json(assets) -> str:
    tokenizer_json = assets.tokenizer_dir / "tokenizer.json"
    if not tokenizer_json.exists():
        raise HarnessError(f"{assets.tokenizer_dir} has no tokenizer.json")
    return str(tokenizer_json)

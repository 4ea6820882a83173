"""Request lint: what in a request will not do what its author thinks.

    lint_request(body_or_request) -> [LintFinding]          the request alone
    lint_served(body_or_request, prompt_ids, source=...)    what a served (or rendered) prompt did with it

Codes:
- `reasoning-line-in-text`: a `Reasoning: low|medium|high` line typed into a system, developer or user message
  (the policy or system text) while the request's `reasoning_effort` says another effort or is absent. Only the
  `Reasoning:` line of the Harmony *system* message sets the effort, and renderers write that line from
  `reasoning_effort` (default medium); a typed line ends up as plain text inside the instructions.
- `effort-not-honoured`: the served prompt's system message says another `Reasoning:` than the effort sent
  (`medium`, Harmony's default, when none was sent); the same rule `harness.capture.params` applies to wire
  captures (`reasoning-effort-param` "not honoured").

Every finding names the message (`message_index`: its index in the request's `messages`, or in the served prompt's
parsed messages for `effort-not-honoured`) and the 1-based `line` inside that message's content.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from harness.capture.params import DEFAULT_EFFORT, effort_matches
from harness.request import ChatRequest

# A line that reads as an effort setting: `Reasoning: high`, `reasoning effort: low`, `# Reasoning: medium`.
_TYPED_EFFORT = re.compile(r"^\s*(?:#+\s*)?reasoning(?:[ _-]effort)?\s*[:=]\s*(low|medium|high)\b",
                           re.IGNORECASE)
# The Harmony system message's own line (as harness.capture.params reads it).
_SERVED_EFFORT = re.compile(r"^Reasoning:\s*(\S+)\s*$")
LINTED_ROLES = ("system", "developer", "user")  # where a policy or system text can sit


@dataclass(frozen=True)
class LintFinding:
    code: str  # `reasoning-line-in-text` | `effort-not-honoured`
    message: str  # one readable sentence
    message_index: int | None  # which message (see the module docstring)
    line: int | None  # 1-based line inside that message's content
    source: str = "request"  # "request", or the renderer / backend whose prompt was checked

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _request(body_or_request: Any) -> ChatRequest:
    return body_or_request if isinstance(body_or_request, ChatRequest) else ChatRequest.from_body(body_or_request)


def _sent(effort: str | None) -> str:
    return f"reasoning_effort={effort}" if effort else f"no reasoning_effort (Harmony default {DEFAULT_EFFORT})"


def lint_request(body_or_request: Any) -> list[LintFinding]:
    """Findings on the request alone (a body dict or a ChatRequest; a bad body raises HarnessError)."""
    request = _request(body_or_request)
    sent = request.reasoning_effort
    findings = []
    for index, message in enumerate(request.messages):
        if message.role not in LINTED_ROLES:
            continue
        for number, text in enumerate(message.content.splitlines(), start=1):
            typed = _TYPED_EFFORT.match(text)
            if typed is None:
                continue
            said = typed.group(1).lower()
            if sent is not None and said == sent.lower():
                continue
            findings.append(LintFinding(
                "reasoning-line-in-text",
                f"messages[{index}] ({message.role}) line {number} {text.strip()!r} sets no effort: only "
                f"`reasoning_effort` does, and the request has {_sent(sent)}"
                + (" (the same effort by chance)" if sent is None and said == DEFAULT_EFFORT else ""),
                index, number))
    return findings


def served_effort_line(prompt_ids: Sequence[int]) -> tuple[int, int, str] | None:
    """(message index, 1-based line, effort) of the `Reasoning:` line in the prompt's first system message, or None
    when the prompt has no system message or no such line (or no vocab here to read the ids with)."""
    from harness.errors import HarnessError
    from harness.render.parser import parse_tokens

    try:
        messages = parse_tokens(list(prompt_ids)).messages
    except HarnessError:  # nothing to judge by
        return None
    for index, message in enumerate(messages):
        if message.role != "system":
            continue
        for number, text in enumerate(message.content.splitlines(), start=1):
            found = _SERVED_EFFORT.match(text)
            if found:
                return index, number, found.group(1).lower()
        return None
    return None


def lint_served(body_or_request: Any, prompt_ids: Sequence[int], *, source: str,
                effort: str | None = None) -> list[LintFinding]:
    """`effort-not-honoured` when the prompt `source` rendered or served says another effort than was sent.
    `effort`: the effort actually sent, when a backend pins its own (default: the request's)."""
    request = _request(body_or_request)
    sent = effort if effort is not None else request.reasoning_effort
    found = served_effort_line(prompt_ids)
    if found is None:
        return []
    index, number, served = found
    if effort_matches(sent, served):
        return []
    return [LintFinding("effort-not-honoured",
                        f"{source}: the prompt's system message line {number} says Reasoning: {served}, but the "
                        f"request sent {_sent(sent)} (not honoured)", index, number, source)]


def lint_all(body_or_request: Any, prompts: dict[str, Sequence[int]] | None = None,
             efforts: dict[str, str | None] | None = None) -> list[LintFinding]:
    """`lint_request` plus `lint_served` on each named prompt (renderer or backend -> prompt ids)."""
    request = _request(body_or_request)
    findings = lint_request(request)
    for source, ids in (prompts or {}).items():
        findings += lint_served(request, ids, source=source, effort=(efforts or {}).get(source))
    return findings

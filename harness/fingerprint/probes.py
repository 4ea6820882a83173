"""Probe requests built so that candidate renderers feed the model a DIFFERENT NUMBER of prompt tokens.

Most hosted backends expose only `usage.prompt_tokens`, so a probe is useful when at least two renderers disagree
on that count for it. `check_probes` renders every probe with every candidate renderer and says which ones
separate something (by count, and by exact ids for servers that expose them); `select_probes` keeps the ones that
separate by count and flags the rest. Each probe sends `max_tokens = 1`: only the prompt matters.

Texts avoid a trailing full stop on purpose: `.` followed by `\\n\\n` is one o200k token, which would hide the
chat template's extra `\\n\\n` after `# Instructions`. Every render carries the `Current date:` line; the date
is searched over candidates (the server's clock is unknown), and it changes ids, rarely counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.request import ChatRequest

if TYPE_CHECKING:
    from harness.assets import Assets

PROBE_MAX_TOKENS = 1
POLICY = "Label a message as one if it is spam and as zero otherwise"
SECOND = "Answer with a single digit and nothing else"
USER = {"role": "user", "content": "Is this spam? Buy cheap watches now at my shop"}
FOLLOW_UP = {"role": "user", "content": "And this one? See you at lunch tomorrow"}
TOOLS = [{"type": "function", "function": {
    "name": "lookup_url", "description": "Look up the reputation of a URL",
    "parameters": {"type": "object", "properties": {"url": {"type": "string"}}, "required": ["url"]}}}]
TOOL_CALL = {"id": "call_1", "type": "function",
             "function": {"name": "lookup_url", "arguments": '{"url": "shop.example"}'}}


@dataclass(frozen=True)
class Probe:
    name: str
    targets: str  # the render difference it is built to expose
    body: dict[str, Any]

    def request(self) -> ChatRequest:
        return ChatRequest.from_body({**self.body, "max_tokens": PROBE_MAX_TOKENS})


def _probe(name: str, targets: str, messages: list[dict], **extra: Any) -> Probe:
    return Probe(name, targets, {"messages": messages, **extra})


PROBES: tuple[Probe, ...] = (
    _probe("user-only", "an always-present developer message / channel list (vLLM 0.10)", [USER]),
    _probe("system-instructions", "policy in a system message: `# Instructions` whitespace, raw system (0.10)",
           [{"role": "system", "content": POLICY}, USER]),
    _probe("developer-instructions", "policy in a developer message (instruction-role)",
           [{"role": "developer", "content": POLICY}, USER]),
    _probe("second-instruction", "a second instruction message: dropped (template), kept (harmony, vLLM)",
           [{"role": "system", "content": POLICY}, {"role": "system", "content": SECOND}, USER]),
    _probe("trailing-newlines", "instructions ending in blank lines (content-whitespace)",
           [{"role": "system", "content": POLICY + "\n\n"}, USER]),
    _probe("effort-low", "reasoning_effort low (reasoning-effort)", [USER], reasoning_effort="low"),
    _probe("effort-high", "reasoning_effort high (reasoning-effort)", [USER], reasoning_effort="high"),
    _probe("tools", "tool declarations (tool-namespace)", [USER], tools=TOOLS),
    _probe("tool-call-history", "an earlier tool call and result (constrain-token, tool-result-serialization)",
           [USER, {"role": "assistant", "content": "", "tool_calls": [TOOL_CALL]},
            {"role": "tool", "tool_call_id": "call_1", "content": "known scam shop"}], tools=TOOLS),
    _probe("reasoning-history", "an earlier assistant turn with reasoning (analysis-retention)",
           [USER, {"role": "assistant", "content": "1", "reasoning": "It advertises cheap watches"}, FOLLOW_UP]),
)


@dataclass(frozen=True)
class ProbeCheck:
    """What one probe separates among the candidate renderers (at one date)."""

    probe: Probe
    date: str
    counts: dict[str, int]  # renderer -> prompt tokens
    count_groups: list[list[str]] = field(default_factory=list)  # renderers sharing a count, largest count first
    id_groups: list[list[str]] = field(default_factory=list)  # renderers rendering identical ids
    error: str | None = None  # the probe cannot be rendered by some renderer

    @property
    def separates_by_count(self) -> bool:
        return len(self.count_groups) >= 2

    @property
    def separates_by_ids(self) -> bool:
        return len(self.id_groups) >= 2

    def to_json(self) -> dict[str, Any]:
        return {"probe": self.probe.name, "targets": self.probe.targets, "date": self.date, "counts": self.counts,
                "count_groups": self.count_groups, "id_groups": self.id_groups,
                "separates_by_count": self.separates_by_count, "separates_by_ids": self.separates_by_ids,
                "error": self.error}


def check_probes(probes: Sequence[Probe], renderers: Sequence[str], *, date: str,
                 assets: Assets | None = None) -> list[ProbeCheck]:
    """Render each probe with each renderer and group the renderers by count and by ids."""
    from harness.errors import HarnessError
    from harness.render import render_all

    checks = []
    for probe in probes:
        try:
            rendered = render_all(probe.request(), list(renderers), date=date, assets=assets)
        except HarnessError as exc:
            checks.append(ProbeCheck(probe, date, {}, error=str(exc)))
            continue
        counts = {name: len(ids) for name, ids in rendered.items()}
        checks.append(ProbeCheck(probe, date, counts, _groups(counts), _groups({n: tuple(v) for n, v in
                                                                                rendered.items()})))
    return checks


def select_probes(probes: Sequence[Probe], renderers: Sequence[str], *, date: str,
                  assets: Assets | None = None, by_ids: bool = False) -> tuple[list[ProbeCheck], list[ProbeCheck]]:
    """(kept, dropped): kept probes separate at least two renderers by prompt-token count, or, for a backend
    that exposes its prompt ids (`by_ids`), by the ids themselves (vLLM releases often differ in order only)."""
    checks = check_probes(probes, renderers, date=date, assets=assets)
    kept, dropped = [], []
    for check in checks:
        separates = check.separates_by_count or (by_ids and check.separates_by_ids)
        (kept if check.error is None and separates else dropped).append(check)
    return kept, dropped


def _groups(values: dict[str, Any]) -> list[list[str]]:
    groups: dict[Any, list[str]] = {}
    for name, value in values.items():
        groups.setdefault(value, []).append(name)
    ordered = sorted(groups.items(), key=lambda item: -item[0] if isinstance(item[0], int) else 0)
    return [names for _, names in ordered]


__all__ = ["PROBES", "PROBE_MAX_TOKENS", "Probe", "ProbeCheck", "check_probes", "select_probes"]

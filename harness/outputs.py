"""Output checks: the Output classes of TAXONOMY.md, found in each completion a backend returned.

- `control-token-leak`: a Harmony control token (`<|channel|>`, `<|message|>`...) or header text
  (`assistant<|channel|>analysis`, `to=functions.x`, `assistantfinal`) inside content, reasoning, a tool call name
  or a role; or, in exposed output ids, a header the tolerant parser flags (channel inside a role, text after
  `<|constrain|>`).
- `reasoning-field`: where reasoning came from (`reasoning`, `reasoning_content`, the analysis channel, inline in
  the content, or nowhere); a finding when it is inline or missing.
- `finish-length`: the output budget ran out.
- `parse-failure`: the label could not be parsed (kept as its own outcome).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from harness.records import Completion

CONTROL_TOKEN = re.compile(r"<\|(?:start|end|message|channel|constrain|return|call|startoftext|endoftext|"
                           r"reserved_\d+)\|>")
# Header text that only appears when a rendered header leaked into text (special tokens dropped or spelled out).
HEADER_TEXT = re.compile(r"(?:^|\W)(?:assistant|analysis|commentary)(?:final|analysis|commentary)\b|"
                         r"\bto=functions\.[\w.-]+|<\|channel\|>|\bassistant<\|")
ROLE_NAMES = {"system", "developer", "user", "assistant", "tool"}
PARSER_LEAK_ANOMALIES = {"channel-in-role", "special-in-role", "special-in-recipient", "text-after-constrain",
                         "special-in-content"}


@dataclass(frozen=True)
class OutputFinding:
    cls: str
    where: str  # "content", "reasoning", "tool_call.name", "role", "output_ids", "finish_reason", "label"
    detail: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def leaks_in_text(text: str | None) -> list[str]:
    """Control tokens or leaked header text inside free text (content, reasoning)."""
    if not text:
        return []
    found = [m.group(0) for m in CONTROL_TOKEN.finditer(text)]
    found += [m.group(0).strip() for m in HEADER_TEXT.finditer(text) if m.group(0).strip() not in found]
    return found


def leaks_in_name(name: str | None) -> list[str]:
    """Tool names and roles must be plain identifiers: any control token or channel text is a leak."""
    if not name:
        return []
    found = [m.group(0) for m in CONTROL_TOKEN.finditer(name)]
    if not found and re.search(r"(?:analysis|commentary|final)$", name) and "." in name and not name.endswith(
            (".analysis", ".commentary", ".final")):
        found.append(name)  # e.g. "functions.bashcommentary": the channel glued on after its token was dropped
    return found


def check_completion(completion: Completion | None, *, role: str | None = "assistant", label_ok: bool | None = None,
                     ) -> list[OutputFinding]:
    """Every Output-class finding for one completion (None means the call failed: nothing to check)."""
    if completion is None:
        return []
    findings: list[OutputFinding] = []
    for where, text in (("content", completion.text), ("reasoning", completion.reasoning)):
        for leak in leaks_in_text(text):
            findings.append(OutputFinding("control-token-leak", where, f"{leak!r} in {where}"))
    for call in completion.tool_calls:
        for leak in leaks_in_name(str(call.get("name", ""))):
            findings.append(OutputFinding("control-token-leak", "tool_call.name",
                                          f"tool name {call.get('name')!r} holds {leak!r}"))
    if role and (role not in ROLE_NAMES or leaks_in_name(role)):
        findings.append(OutputFinding("control-token-leak", "role", f"role {role!r}"))
    findings += _output_id_findings(completion.output_token_ids)
    field = reasoning_source(completion)
    if field in ("inline", "none"):
        findings.append(OutputFinding("reasoning-field", "reasoning",
                                      "reasoning inline in the content" if field == "inline"
                                      else "no reasoning returned"))
    if completion.finish_reason == "length":
        findings.append(OutputFinding("finish-length", "finish_reason", "output truncated by the token budget"))
    if label_ok is False:
        findings.append(OutputFinding("parse-failure", "label", "the label could not be parsed"))
    return findings


def reasoning_source(completion: Completion) -> str:
    """Where the reasoning came from: the recorded field, `inline` when it ran into the content, or `none`."""
    if completion.reasoning:
        return completion.reasoning_field or "reasoning"
    text = completion.text or ""
    # pipeline output decoded with skip_special_tokens runs analysis and final together: "analysis...assistantfinal"
    if re.match(r"\s*analysis\S", text) or "assistantfinal" in text or "<|channel|>analysis" in text:
        return "inline"
    return "none"


def _output_id_findings(output_ids: list[int] | None) -> list[OutputFinding]:
    if not output_ids:
        return []
    from harness.render.parser import parse_tokens

    parsed = parse_tokens(output_ids, completion=True)
    findings = []
    for message in parsed.messages:
        for anomaly in message.anomalies:
            if anomaly in PARSER_LEAK_ANOMALIES:
                findings.append(OutputFinding("control-token-leak", "output_ids",
                                              f"{anomaly} in message role={message.role!r} "
                                              f"recipient={message.recipient!r}"))
    return findings


def summarize(findings_by_backend: dict[str, list[tuple[str, list[OutputFinding]]]], examples: int = 3
              ) -> dict[str, Any]:
    """Counts per backend and class, with a few examples: {backend: {cls: {"count", "examples": [...]}}}."""
    summary: dict[str, Any] = {}
    for backend, rows in findings_by_backend.items():
        per_class: dict[str, Any] = {}
        for case_id, findings in rows:
            for cls in sorted({f.cls for f in findings}):
                entry = per_class.setdefault(cls, {"count": 0, "examples": []})
                entry["count"] += 1
                if len(entry["examples"]) < examples:
                    first = next(f for f in findings if f.cls == cls)
                    entry["examples"].append({"case_id": case_id, "where": first.where, "detail": first.detail})
        summary[backend] = per_class
    return summary

"""Name the request-parameter differences between two captured chat calls (TAXONOMY.md "Request parameters").

`compare_payloads(a, b)` takes two flow records (from `read_flows`) or two bare request bodies and returns one
`Finding` per difference: `sampling-params`, `reasoning-effort-param`, `max-tokens`, `stop-tokens`,
`provider-routing`, `unexpected-field`, and `other` for a differing field none of those explains. Messages, tools
and the model id are left to the render diff (they change the prompt tokens, not the request parameters).

A reasoning effort is also checked against what the server did with it, where the response shows the prompt it
served (vLLM's `prompt_token_ids`): the `Reasoning:` line of that prompt's system message must say the effort that
was sent (`medium` when none was: Harmony's default). A server that ignores or overrides it gives
`reasoning-effort-param` "not honoured", even when both sides sent the same value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from harness.capture.calls import (
    pinned_provider,
    reasoning_effort,
    request_json,
    response_json,
    served_provider,
)

SAMPLING = ("temperature", "top_p", "top_k", "min_p", "seed", "frequency_penalty", "presence_penalty",
            "repetition_penalty", "logit_bias")
MAX_TOKENS = ("max_tokens", "max_completion_tokens", "max_output_tokens")
STOP = ("stop", "stop_token_ids")
REASONING = ("reasoning_effort", "reasoning")
RENDER_FIELDS = ("messages", "tools", "model")  # compared by the render diff, not here
UNSET = "unset"
DEFAULT_EFFORT = "medium"  # what Harmony's system message says when no effort is given


@dataclass(frozen=True)
class Finding:
    class_id: str  # a TAXONOMY.md id
    detail: str
    field: str | None = None


def _as_flow(item: dict) -> dict:
    """A flow record as is; a bare request body wrapped as one."""
    if isinstance(item.get("request"), dict) and "body" in item["request"]:
        return item
    return {"request": {"body": {"json": item}}, "response": None}


def _show(value: Any) -> str:
    return UNSET if value is None else json.dumps(value, sort_keys=True)


def _budget(body: dict) -> tuple[str | None, Any]:
    for key in MAX_TOKENS:
        if body.get(key) is not None:
            return key, body[key]
    return None, None


def _stops(body: dict) -> tuple[Any, Any]:
    stop = body.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    return (sorted(stop) if isinstance(stop, list) else stop), body.get("stop_token_ids")


def _finish_reason(flow: dict) -> str | None:
    response = response_json(flow) or {}
    choices = response.get("choices") or []
    return choices[0].get("finish_reason") if choices and isinstance(choices[0], dict) else None


def compare_payloads(a_flow: dict, b_flow: dict, *, pinned: str | None = None) -> list[Finding]:
    """Findings between two chat calls; `pinned` is the provider both should have been served by, if any."""
    a_flow, b_flow = _as_flow(a_flow), _as_flow(b_flow)
    a, b = request_json(a_flow) or {}, request_json(b_flow) or {}
    findings: list[Finding] = []

    for key in SAMPLING:
        if a.get(key) != b.get(key):
            note = " (the server's default stands in for the unset one)" if None in (a.get(key), b.get(key)) else ""
            findings.append(Finding("sampling-params", f"{key}: {_show(a.get(key))} vs {_show(b.get(key))}{note}",
                                    key))

    a_effort, b_effort = reasoning_effort(a), reasoning_effort(b)
    if a_effort != b_effort:
        findings.append(Finding("reasoning-effort-param", f"reasoning effort: {_show(a_effort)} vs {_show(b_effort)}",
                                "reasoning_effort"))
    for side, flow in (("a", a_flow), ("b", b_flow)):
        findings += effort_honoured(flow, side=side)

    (a_key, a_budget), (b_key, b_budget) = _budget(a), _budget(b)
    if a_budget != b_budget:
        findings.append(Finding("max-tokens", f"output budget: {a_key or 'max_tokens'}={_show(a_budget)} vs "
                                              f"{b_key or 'max_tokens'}={_show(b_budget)}", a_key or b_key))
    a_finish, b_finish = _finish_reason(a_flow), _finish_reason(b_flow)
    if (a_finish == "length") != (b_finish == "length") and a_finish and b_finish:
        findings.append(Finding("max-tokens", f"finish_reason: {a_finish} vs {b_finish}", "finish_reason"))

    (a_stop, a_ids), (b_stop, b_ids) = _stops(a), _stops(b)
    if a_stop != b_stop:
        findings.append(Finding("stop-tokens", f"stop: {_show(a_stop)} vs {_show(b_stop)}", "stop"))
    if a_ids != b_ids:
        findings.append(Finding("stop-tokens", f"stop_token_ids: {_show(a_ids)} vs {_show(b_ids)}",
                                "stop_token_ids"))

    findings += _routing(a_flow, b_flow, pinned)

    owned = set(SAMPLING) | set(MAX_TOKENS) | set(STOP) | set(REASONING) | set(RENDER_FIELDS)
    for key in sorted((set(a) | set(b)) - owned):
        if (key in a) != (key in b):
            side = "a" if key in a else "b"
            value = a.get(key, b.get(key))
            findings.append(Finding("unexpected-field", f"{key}={_show(value)} sent only by {side}", key))
        elif a[key] != b[key]:
            findings.append(Finding("other", f"{key}: {_show(a[key])} vs {_show(b[key])}", key))
    return findings


def served_effort(flow: dict) -> str | None:
    """The effort in the `Reasoning:` line of the served prompt's system message, when the response carries the
    prompt ids (None when it does not, or the prompt has no such line)."""
    ids = (response_json(flow) or {}).get("prompt_token_ids")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, int) for i in ids):
        return None
    from harness.lint import served_effort_line

    found = served_effort_line(ids)
    return found[2] if found else None


def effort_matches(sent: Any, served: str) -> bool:
    """Whether a served `Reasoning:` line says the effort sent (Harmony's default when none was sent)."""
    wanted = sent.lower() if isinstance(sent, str) else DEFAULT_EFFORT
    return served == wanted


def effort_honoured(flow: dict, *, side: str = "a") -> list[Finding]:
    """`reasoning-effort-param` when the served prompt says another effort than the request sent."""
    served = served_effort(flow)
    sent = reasoning_effort(request_json(flow) or {})
    if served is None or effort_matches(sent, served):
        return []
    what = f"reasoning_effort={sent}" if sent is not None else "no reasoning_effort (Harmony default medium)"
    return [Finding("reasoning-effort-param", f"{side} sent {what}, but its served prompt says Reasoning: {served} "
                                              "(not honoured)", "reasoning_effort")]


def _routing(a_flow: dict, b_flow: dict, pinned: str | None) -> list[Finding]:
    findings = []
    a_served, b_served = served_provider(a_flow), served_provider(b_flow)
    if a_served and b_served and a_served != b_served:
        findings.append(Finding("provider-routing", f"served by {a_served} vs {b_served}", "provider"))
    for side, flow, served in (("a", a_flow, a_served), ("b", b_flow, b_served)):
        wanted = pinned or pinned_provider(flow)
        if wanted and served and served != wanted:
            findings.append(Finding("provider-routing", f"{side} pinned {wanted} but was served by {served}",
                                    "provider"))
    return findings


def finding_classes(findings: list[Finding]) -> list[str]:
    return sorted({f.class_id for f in findings})

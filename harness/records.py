"""Typed records that flow forward: backend completion -> stored record -> labels -> statistics -> report."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Usage:
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning_tokens: int | None = None


@dataclass
class Completion:
    """What one backend answered to one request (before labels): the backend's own view of the exchange."""

    text: str  # final-channel content (what a label parser reads)
    reasoning: str | None = None  # analysis channel / `reasoning` / `reasoning_content`
    reasoning_field: str | None = None  # where reasoning came from: "reasoning", "reasoning_content", "channel", ...
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    prompt_token_ids: list[int] | None = None  # what the model was fed, where the backend exposes it
    output_token_ids: list[int] | None = None
    served_provider: str | None = None  # e.g. x-inference-provider from the HF router
    request_id: str | None = None
    sent_body: dict[str, Any] | None = None  # the request body as sent (never headers, never secrets)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # [{"name", "arguments"}] as returned
    raw: dict[str, Any] | None = None  # the response body, for evidence
    # Per output token, OpenAI's shape: {"token": str, "logprob": float, "top_logprobs": [{"token", "logprob"}]}
    # (special tokens spelled as text, "<|channel|>"); None where the backend exposes none (or was not asked).
    output_logprobs: list[dict[str, Any]] | None = None


@dataclass
class RunRecord:
    """One stored attempt-series for (case, backend, repeat): the completion or the error that ended it."""

    run_key: str  # fingerprint of everything that changes the answer (see harness.run.store)
    case_id: str
    backend: str
    repeat: int
    request: dict[str, Any]
    completion: Completion | None
    error_cause: str | None = None
    error_message: str | None = None
    latency_s: float | None = None
    attempts: int = 1
    started_at: float | None = None
    label: str | None = None
    label_ok: bool | None = None
    label_detail: str | None = None
    fine_label: str | None = None  # the parser's finer label ("SP2.a", a rating, a dict as sorted JSON)
    label_score: float | None = None  # the parser's score (a module's float_label/score/confidence)
    label_metadata: dict[str, Any] | None = None  # what a policy module returned beside its labels
    # P(label) at the token that decides the answer (harness.explain.probabilities), for each candidate label
    label_probs: dict[str, float] | None = None
    label_margin: float | None = None  # top-1 minus top-2 of label_probs
    label_probs_exposed: bool | None = None  # False: the backend exposes no logprobs (never guessed); None: unknown

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

"""Wire analysis: which renderer produced the prompt a backend actually fed its model?

For one chat request and what the backend reported about its prompt (`Observed`: exact `prompt_token_ids` where
the server exposes them, vLLM-style, else the `usage.prompt_tokens` count), `match_prompt` renders the request with
every candidate renderer and says which match exactly, which match by count, and which is closest (by token diff
classes when ids are known, by count distance otherwise).

`analyse_flows(flows, renderers, date)` does that for every captured chat request: flow records from a capture's
`flows.jsonl` (`harness.capture.proxy.read_flows`), or stored `RunRecord`s (their `completion.sent_body`), or the
dict form of either. `date` may be several candidate dates; each flow is then judged at the first date that gives
an exact match, else a count match, else the first date.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.assets import Assets
    from harness.records import Completion


@dataclass(frozen=True)
class Observed:
    """What a backend told about the prompt it fed the model."""

    prompt_tokens: int | None = None
    prompt_token_ids: tuple[int, ...] | None = None

    @property
    def count(self) -> int | None:
        return len(self.prompt_token_ids) if self.prompt_token_ids is not None else self.prompt_tokens

    @property
    def has_evidence(self) -> bool:
        return self.count is not None

    @property
    def kind(self) -> str | None:
        """"ids" (exact token ids), "count" (usage.prompt_tokens only) or None."""
        if self.prompt_token_ids is not None:
            return "ids"
        return "count" if self.prompt_tokens is not None else None

    @classmethod
    def from_completion(cls, completion: Completion) -> Observed:
        ids = completion.prompt_token_ids
        return cls(prompt_tokens=completion.usage.prompt_tokens if completion.usage else None,
                   prompt_token_ids=tuple(ids) if ids else None)

    @classmethod
    def from_response_body(cls, body: dict[str, Any] | None) -> Observed:
        """A chat-completions response (vLLM's `prompt_token_ids`, `usage.prompt_tokens`) or a vLLM
        `/chat/completions/render` answer (`token_ids`)."""
        if not isinstance(body, dict):
            return cls()
        choices = body.get("choices") if isinstance(body.get("choices"), list) else []
        first = choices[0] if choices and isinstance(choices[0], dict) else {}
        ids = body.get("prompt_token_ids") or first.get("prompt_token_ids")
        if ids is None and "choices" not in body:
            ids = body.get("token_ids")  # the render endpoint
        usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
        count = usage.get("prompt_tokens")
        good_ids = isinstance(ids, list) and ids and all(isinstance(i, int) for i in ids)
        return cls(prompt_tokens=count if isinstance(count, int) else None,
                   prompt_token_ids=tuple(ids) if good_ids else None)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "prompt_tokens": self.prompt_tokens,
                "prompt_token_ids": list(self.prompt_token_ids) if self.prompt_token_ids is not None else None}


@dataclass(frozen=True)
class RendererMatch:
    """One renderer's render of the request against what the backend reported."""

    renderer: str
    expected_tokens: int
    count_match: bool | None  # None: the backend reported no count
    exact: bool | None  # None: the backend exposed no ids
    delta: int | None  # observed count - expected count
    classes: tuple[str, ...] | None = None  # token diff classes render -> observed (ids only)
    first_divergence: int | None = None
    changed_tokens: int | None = None

    @property
    def consistent(self) -> bool:
        """Exact ids when the backend exposed them, else the same count."""
        return bool(self.exact) if self.exact is not None else bool(self.count_match)

    def to_json(self) -> dict[str, Any]:
        return {"renderer": self.renderer, "expected_tokens": self.expected_tokens, "count_match": self.count_match,
                "exact": self.exact, "delta": self.delta,
                "classes": list(self.classes) if self.classes is not None else None,
                "first_divergence": self.first_divergence, "changed_tokens": self.changed_tokens}


@dataclass(frozen=True)
class PromptMatch:
    """Every candidate renderer against one observed prompt, at one date."""

    date: str
    observed: Observed
    renderers: tuple[RendererMatch, ...]

    def _names(self, predicate) -> list[str]:
        return [m.renderer for m in self.renderers if predicate(m)]

    @property
    def exact(self) -> list[str]:
        return self._names(lambda m: m.exact)

    @property
    def by_count(self) -> list[str]:
        return self._names(lambda m: m.count_match)

    @property
    def consistent(self) -> list[str]:
        return self._names(lambda m: m.consistent)

    @property
    def closest(self) -> RendererMatch | None:
        """Exact first; then fewest diff classes and changed tokens (ids), or smallest count distance."""
        if not self.renderers:
            return None

        def key(m: RendererMatch) -> tuple:
            if m.exact is not None:
                return (not m.exact, len(m.classes or ()) if m.classes is not None else 99,
                        m.changed_tokens if m.changed_tokens is not None else 1 << 30)
            return (0, abs(m.delta) if m.delta is not None else 1 << 30, 0)

        return min(self.renderers, key=key)

    def get(self, renderer: str) -> RendererMatch | None:
        return next((m for m in self.renderers if m.renderer == renderer), None)

    def to_json(self) -> dict[str, Any]:
        closest = self.closest
        return {"date": self.date, "observed": self.observed.kind, "observed_tokens": self.observed.count,
                "exact": self.exact, "by_count": self.by_count, "consistent": self.consistent,
                "closest": closest.renderer if closest else None,
                "closest_classes": list(closest.classes) if closest and closest.classes is not None else None,
                "renderers": [m.to_json() for m in self.renderers]}


def match_prompt(rendered: dict[str, list[int]], observed: Observed, *, date: str) -> PromptMatch:
    """Compare each renderer's ids with what the backend reported (diffing ids when it exposed them)."""
    from harness.diff import diff_tokens

    diffs: dict[tuple[int, ...], Any] = {}  # renderers that agree (vllm, vllm-0.33) share one diff
    matches = []
    for name, ids in rendered.items():
        count = observed.count
        row = RendererMatch(renderer=name, expected_tokens=len(ids),
                            count_match=None if count is None else count == len(ids), exact=None,
                            delta=None if count is None else count - len(ids))
        if observed.prompt_token_ids is not None:
            key = tuple(ids)
            if key not in diffs:
                try:
                    diffs[key] = diff_tokens(key, observed.prompt_token_ids)
                except (HarnessError, ValueError, IndexError, KeyError):  # ids outside this vocab
                    diffs[key] = None
            diff = diffs[key]
            exact = key == observed.prompt_token_ids
            changed = None if diff is None else sum(max(s.a_end - s.a_start, s.b_end - s.b_start)
                                                    for s in diff.segments if s.op != "equal")
            row = RendererMatch(renderer=name, expected_tokens=len(ids), count_match=row.count_match, exact=exact,
                                delta=row.delta, classes=tuple(diff.classes) if diff is not None else ("other",),
                                first_divergence=diff.first_divergence if diff is not None else 0,
                                changed_tokens=changed)
        matches.append(row)
    return PromptMatch(date, observed, tuple(matches))


def match_request(request: Any, observed: Observed, renderers: Sequence[str], dates: str | Sequence[str], *,
                  assets: Assets | None = None) -> PromptMatch:
    """`match_prompt` at the best of the candidate dates (exact match, else count match, else the first date)."""
    from harness.render import render_all

    candidates = [dates] if isinstance(dates, str) else list(dates)
    if not candidates:
        raise HarnessError("no candidate date to render with")
    results = [match_prompt(render_all(request, list(renderers), date=d, assets=assets), observed, date=d)
               for d in candidates]
    for test in (lambda m: m.exact, lambda m: m.by_count):
        for result in results:
            if test(result):
                return result
    return results[0]


@dataclass
class FlowVerdict:
    """The verdict for one captured chat request."""

    source: str  # "flow" or "record"
    id: str | None  # flow id, or "<case>/<repeat>/<backend>" for a record
    case: str | None
    endpoint: str | None
    match: PromptMatch | None = None
    error: str | None = None  # why no verdict (no answer, unrenderable request, no prompt evidence)
    notes: list[str] = field(default_factory=list)

    @property
    def exact(self) -> list[str]:
        return self.match.exact if self.match else []

    @property
    def by_count(self) -> list[str]:
        return self.match.by_count if self.match else []

    @property
    def closest(self) -> str | None:
        closest = self.match.closest if self.match else None
        return closest.renderer if closest else None

    @property
    def closest_classes(self) -> list[str] | None:
        closest = self.match.closest if self.match else None
        return list(closest.classes) if closest and closest.classes is not None else None

    @property
    def date(self) -> str | None:
        return self.match.date if self.match else None

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "id": self.id, "case": self.case, "endpoint": self.endpoint,
                "error": self.error, "exact": self.exact, "by_count": self.by_count, "closest": self.closest,
                "closest_classes": self.closest_classes, "date": self.date,
                "match": self.match.to_json() if self.match else None, "notes": self.notes}


def analyse_flows(flows: Iterable[Any], renderers: Sequence[str], date: str | Sequence[str], *,
                  assets: Assets | None = None) -> list[FlowVerdict]:
    """One `FlowVerdict` per captured chat request (flow records or RunRecords); other traffic is skipped."""
    from harness.render import check_date

    for d in [date] if isinstance(date, str) else list(date):
        check_date(d)
    verdicts = []
    for item in flows:
        extracted = _extract(item)
        if extracted is None:
            continue
        verdict, body, observed = extracted
        if verdict.error is None:
            try:
                from harness.request import ChatRequest

                request = ChatRequest.from_body(body)
                verdict.match = match_request(request, observed, renderers, date, assets=assets)
            except HarnessError as exc:
                verdict.error = f"cannot render the request: {exc}"
        verdicts.append(verdict)
    return verdicts


def _extract(item: Any) -> tuple[FlowVerdict, dict[str, Any], Observed] | None:
    """(verdict shell, request body, observed) for a chat request; None for anything else."""
    from harness.records import RunRecord

    if isinstance(item, RunRecord):
        item = item.to_dict()
    if not isinstance(item, dict):
        return None
    if "request" in item and "completion" in item and "run_key" in item:  # a RunRecord
        completion = item.get("completion") or {}
        body = completion.get("sent_body") or item.get("request")
        if not isinstance(body, dict) or "messages" not in body:
            return None
        verdict = FlowVerdict("record", f"{item.get('case_id')}/{item.get('repeat')}/{item.get('backend')}",
                              item.get("case_id"), None)
        if not item.get("completion"):
            verdict.error = f"no completion ({item.get('error_cause') or 'failed'})"
            return verdict, body, Observed()
        usage = completion.get("usage") or {}
        ids = completion.get("prompt_token_ids")
        observed = Observed(prompt_tokens=usage.get("prompt_tokens"), prompt_token_ids=tuple(ids) if ids else None)
        if not completion.get("sent_body"):
            verdict.notes.append("no sent body stored: rendered the canonical request instead")
        return _needs_evidence(verdict, observed), body, observed
    from harness.capture.calls import request_json, response_json

    body = request_json(item)
    if body is None or not isinstance(body.get("messages"), list):
        return None
    request = item.get("request") or {}
    url = urlsplit(request.get("url") or "")
    verdict = FlowVerdict("flow", item.get("id"), (item.get("case") or {}).get("raw"), f"{url.netloc}{url.path}")
    response = item.get("response")
    if response is None:
        verdict.error = f"no response ({(item.get('error') or {}).get('message', 'failed')})"
        return verdict, body, Observed()
    status = response.get("status")
    if not isinstance(status, int) or status >= 400:
        verdict.error = f"no answer (HTTP {status})"
        return verdict, body, Observed()
    observed = Observed.from_response_body(response_json(item))
    return _needs_evidence(verdict, observed), body, observed


def _needs_evidence(verdict: FlowVerdict, observed: Observed) -> FlowVerdict:
    if not observed.has_evidence:
        verdict.error = "the response exposes neither prompt_token_ids nor usage.prompt_tokens"
    return verdict


__all__ = ["FlowVerdict", "Observed", "PromptMatch", "RendererMatch", "analyse_flows", "match_prompt",
           "match_request"]

"""Fingerprint a live backend: send the probes (max_tokens=1), compare what it reports with every renderer.

    result = asyncio.run(fingerprint_backend(config, renderers=["harmony", "hf-template", "vllm"]))
    result.verdict          # "hf-template", "harmony, vllm", or "none"

A renderer is consistent with the backend when, at one candidate date, it agrees with every answered probe:
exact ids where the backend exposes `prompt_token_ids`, else the `usage.prompt_tokens` count. The server's date is
unknown, so today (UTC), yesterday and tomorrow are tried unless one date is pinned. Expected renders come from
the body as it went on the wire (`Completion.sent_body`), so a backend's pinned reasoning effort is accounted for.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError
from harness.fingerprint.analysis import Observed, PromptMatch, match_prompt
from harness.fingerprint.probes import PROBE_MAX_TOKENS, PROBES, Probe, ProbeCheck, select_probes

if TYPE_CHECKING:
    from harness.assets import Assets
    from harness.backends.base import BackendConfig, BackendContext


def candidate_dates(now: datetime.datetime | None = None) -> list[str]:
    """Today in UTC first, then yesterday and tomorrow (a server's local date may sit across midnight)."""
    today = (now or datetime.datetime.now(datetime.UTC)).date()
    return [d.isoformat() for d in (today, today - datetime.timedelta(days=1), today + datetime.timedelta(days=1))]


@dataclass
class ProbeResult:
    check: ProbeCheck
    sent_body: dict[str, Any] | None = None
    observed: Observed | None = None
    matches: dict[str, PromptMatch] = field(default_factory=dict)  # candidate date -> match
    error: str | None = None  # the backend failed, or reported no prompt evidence

    @property
    def probe(self) -> Probe:
        return self.check.probe

    @property
    def answered(self) -> bool:
        return self.error is None and bool(self.matches)


@dataclass
class FingerprintResult:
    backend: str
    renderers: list[str]
    dates: list[str]
    probes: list[ProbeResult]
    dropped: list[ProbeCheck]
    matches: list[str]  # renderers consistent with every answered probe at one date
    date: str | None  # the (first candidate) date at which the matches hold
    dates_by_renderer: dict[str, list[str]]  # renderer -> every candidate date at which it is consistent
    ruled_out: dict[str, list[str]]  # renderer -> probes that ruled it out (at its best date)
    evidence: str  # "ids" when every answered probe exposed ids, "count" when any gave only a count
    best_dates: dict[str, str] = field(default_factory=dict)  # renderer -> date with the fewest failing probes

    @property
    def verdict(self) -> str:
        return ", ".join(self.matches) if self.matches else "none"

    @property
    def vllm_releases(self) -> list[dict[str, str]]:
        """The vLLM release ranges whose rendering matches (one per matching release renderer, oldest first)."""
        from harness.render.vllm import rules_for

        found: dict[str, dict[str, str]] = {}
        for name in self.matches:
            try:
                rules = rules_for(name)
            except HarnessError:  # not a vLLM release renderer (harmony, hf-template, vllm@URL)
                continue
            found.setdefault(rules.name, {"renderer": rules.name, "first": rules.first_release,
                                          "last": rules.last_release})
        return sorted(found.values(), key=lambda r: [int(p) for p in r["first"].split(".")])

    @property
    def date_pinned(self) -> bool:
        """False when counts fit several dates equally (counts rarely depend on the date)."""
        return bool(self.matches) and len(self.dates_by_renderer.get(self.matches[0], [])) == 1

    def evidence_date(self) -> str:
        """The date whose renders the per-probe evidence shows: the match date, else the first candidate."""
        return self.date or self.dates[0]

    def to_json(self) -> dict[str, Any]:
        shown = self.evidence_date()
        probes = []
        for result in self.probes:
            match = result.matches.get(shown)
            probes.append({
                "probe": result.probe.name, "targets": result.probe.targets, "error": result.error,
                "observed": result.observed.to_json() if result.observed else None,
                "expected": {m.renderer: m.expected_tokens for m in match.renderers} if match else None,
                "exact": match.exact if match and result.observed and result.observed.kind == "ids" else None,
                "by_count": match.by_count if match else None,
                "consistent": match.consistent if match else None,
                "closest": match.closest.renderer if match and match.closest else None,
                "rules_out": [r for r in self.renderers if result.probe.name in self.ruled_out.get(r, [])],
                "sent_body": result.sent_body,
                "match": match.to_json() if match else None})
        return {"backend": self.backend, "verdict": self.verdict, "matches": self.matches,
                "vllm_releases": self.vllm_releases, "date": self.date,
                "date_pinned": self.date_pinned, "evidence": self.evidence, "dates_tried": self.dates,
                "renderers": self.renderers, "dates_by_renderer": self.dates_by_renderer,
                "ruled_out": self.ruled_out, "best_dates": self.best_dates, "evidence_date": shown, "probes": probes,
                "dropped": [{**c.to_json(), "reason": c.error or "separates no renderer by prompt-token count"}
                            for c in self.dropped]}


async def fingerprint_backend(config: BackendConfig, *, renderers: Sequence[str], dates: Sequence[str] | None = None,
                              probes: Sequence[Probe] = PROBES, context: BackendContext | None = None,
                              assets: Assets | None = None) -> FingerprintResult:
    """Send the probes that separate `renderers` by count through the backend and judge every renderer."""
    from harness.backends.base import create_backend

    renderers = list(dict.fromkeys(renderers))
    if not renderers:
        raise HarnessError("no renderers to fingerprint against")
    dates = list(dates) if dates else candidate_dates()
    sampling = config.sampling.model_copy(update={"max_tokens": PROBE_MAX_TOKENS})
    backend = create_backend(config.model_copy(update={"sampling": sampling}), context)
    by_ids = bool(getattr(backend, "return_token_ids", False))  # it answers with the prompt ids themselves
    kept, dropped = select_probes(probes, renderers, date=dates[0], assets=assets, by_ids=by_ids)
    if not kept:
        await backend.aclose()
        raise HarnessError(f"no probe separates the renderers {', '.join(renderers)} by prompt-token count"
                           + (" or ids" if by_ids else ""))
    gate = asyncio.Semaphore(max(1, min(config.concurrency, 4)))

    async def send(check: ProbeCheck) -> ProbeResult:
        from harness.errors import BackendError

        async with gate:
            try:
                completion = await backend.complete(check.probe.request(), correlation=f"fingerprint/{check.probe.name}")
            except BackendError as exc:
                return ProbeResult(check, error=f"{exc.cause}: {exc}")
        return ProbeResult(check, sent_body=completion.sent_body, observed=Observed.from_completion(completion))

    try:
        results = list(await asyncio.gather(*(send(c) for c in kept)))
    finally:
        await backend.aclose()
    _judge_probes(results, renderers, dates, assets)
    answered = [r for r in results if r.answered]
    if not answered:
        errors = [r.error for r in results if r.error]
        raise HarnessError(f"backend {config.name!r} answered no probe usefully: {errors[0] if errors else '?'}")
    return _verdict(config.name, renderers, dates, results, dropped)


def _judge_probes(results: list[ProbeResult], renderers: list[str], dates: list[str],
                  assets: Assets | None) -> None:
    from harness.render import render_all
    from harness.request import ChatRequest

    for result in results:
        if result.error is not None or result.observed is None:
            continue
        if not result.observed.has_evidence:
            result.error = "the backend reported neither prompt_token_ids nor usage.prompt_tokens"
            continue
        try:  # what went on the wire; the probe itself when the backend cannot say
            request = ChatRequest.from_body(result.sent_body) if result.sent_body else result.probe.request()
            for date in dates:
                rendered = render_all(request, renderers, date=date, assets=assets)
                result.matches[date] = match_prompt(rendered, result.observed, date=date)
        except HarnessError as exc:
            result.error = f"cannot render what was sent: {exc}"
            result.matches.clear()


def _verdict(backend: str, renderers: list[str], dates: list[str], results: list[ProbeResult],
             dropped: list[ProbeCheck]) -> FingerprintResult:
    answered = [r for r in results if r.answered]
    failing: dict[tuple[str, str], list[str]] = {}
    for renderer in renderers:
        for date in dates:
            failing[renderer, date] = [r.probe.name for r in answered
                                       if not r.matches[date].get(renderer).consistent]
    dates_by_renderer = {r: [d for d in dates if not failing[r, d]] for r in renderers}
    matches = [r for r in renderers if dates_by_renderer[r]]
    best = {r: min(dates, key=lambda d: (len(failing[r, d]), dates.index(d))) for r in renderers}
    ruled_out = {r: failing[r, best[r]] for r in renderers if r not in matches}
    date = None
    if matches:  # the first candidate date at which the most matching renderers hold
        date = max(dates, key=lambda d: (sum(d in dates_by_renderer[r] for r in matches), -dates.index(d)))
    evidence = "ids" if answered and all(r.observed.kind == "ids" for r in answered) else "count"
    return FingerprintResult(backend, renderers, dates, results, dropped, matches, date, dates_by_renderer,
                             ruled_out, evidence, best)


__all__ = ["FingerprintResult", "ProbeResult", "candidate_dates", "fingerprint_backend"]

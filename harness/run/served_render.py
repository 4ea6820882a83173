"""Which render a backend that hides its prompt ids served: probed while the run's servers are up.

A backend that returns only `usage.prompt_tokens` leaves its prompt unknown whenever two renders of a request have
the same length (harmony and the chat template often do: a trailing `\\n\\n` against none). `harness explain` needs
the prompt to replay a flip, so the run fingerprints such a backend once, against every renderer
(`harness.fingerprint`: probes that separate the renderers by count, max_tokens=1, sent around the capture proxy so
they never mix with the cases' flows), at the run's date first, and keeps the verdict in run.json
(`backends.<name>.served_render`) and in the store, keyed by what changes the backend's answers: a rerun with the
same backend does not probe again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

from harness.errors import HarnessError

META_PREFIX = "served_render:"
SAMPLE = 20  # distinct requests looked at: a probe costs ~10 short calls, rendering every case of a big run more


def has_ambiguous_count(backend_name: str, records, renderers: list[str], date: str) -> bool:
    """Whether an HTTP backend's answers (hiding their prompt ids) include a prompt-token count that two different
    renders of its request share, among its first SAMPLE distinct requests: those prompts only a fingerprint
    can name."""
    from harness.render import render_all
    from harness.request import ChatRequest

    seen: set[tuple[str, int]] = set()
    for record in records:
        completion = record.completion
        if record.backend != backend_name or completion is None or completion.prompt_token_ids:
            continue
        count = completion.usage.prompt_tokens if completion.usage else None
        key = (json.dumps(record.request, sort_keys=True), int(count or 0))
        if not count or key in seen:
            continue
        seen.add(key)
        try:
            rendered = render_all(ChatRequest.from_body(record.request), renderers, date=date)
        except HarnessError:
            continue
        if len({tuple(ids) for ids in rendered.values() if len(ids) == count}) > 1:
            return True
        if len(seen) >= SAMPLE:
            return False
    return False


def pending(backends: dict[str, Any], records, store, *, date: str) -> set[str]:
    """The HTTP backends with a prompt that its count cannot name and no verdict stored for what they are now."""
    from harness.render import available_renderers

    renderers = available_renderers()
    return {name for name, backend in backends.items()
            if backend.speaks_http and _stored(store, name, _key(backend, renderers, date)) is None
            and has_ambiguous_count(name, records, renderers, date)}


def served_renders(backends: dict[str, Any], configs: dict[str, Any], records, store, *, date: str, live: set[str],
                   notes: list[str], context=None) -> dict[str, dict[str, Any]]:
    """Backend name -> {"matches", "date", "evidence", "probes", "ruled_out"} for each HTTP backend with a prompt
    that its count cannot name, judged against every renderer: from the store when this backend was probed before,
    else probed now if its server is `live` (reachable)."""
    from harness.render import available_renderers

    renderers = available_renderers()
    found: dict[str, dict[str, Any]] = {}
    for name, backend in backends.items():
        if not backend.speaks_http or not has_ambiguous_count(name, records, renderers, date):
            continue
        key = _key(backend, renderers, date)
        stored = _stored(store, name, key)
        if stored is not None:
            found[name] = stored
            continue
        if name not in live:
            notes.append(f"{name}: which render it served is unknown (its server was not started by this run)")
            continue
        try:
            result = _probe(configs[name], renderers, date, context)
        except HarnessError as exc:
            notes.append(f"{name}: which render it served is unknown ({exc})")
            continue
        except Exception as exc:  # noqa: BLE001 -- the answers are stored: a failed probe must not cost the run
            notes.append(f"{name}: which render it served is unknown ({type(exc).__name__}: {exc})")
            continue
        store.set_meta(META_PREFIX + name, {"key": key, "result": result})
        found[name] = result
    return found


def _key(backend, renderers: list[str], date: str) -> str:
    from harness.run.store import canonical_json

    material = {"backend": backend.fingerprint(), "renderers": sorted(renderers), "date": date}
    return hashlib.sha256(canonical_json(material).encode()).hexdigest()


def _stored(store, name: str, key: str) -> dict[str, Any] | None:
    stored = store.get_meta(META_PREFIX + name)
    return stored["result"] if isinstance(stored, dict) and stored.get("key") == key else None


def _probe(config, renderers: list[str], date: str, context) -> dict[str, Any]:
    from harness.fingerprint import candidate_dates, fingerprint_backend

    dates = list(dict.fromkeys([date, *candidate_dates()]))  # the run's date first: the server's own may differ
    result = asyncio.run(fingerprint_backend(config.model_copy(update={"capture": False}), renderers=renderers,
                                             dates=dates, context=context))
    answered = [p for p in result.probes if p.answered]
    return {"matches": result.matches, "date": result.date, "evidence": result.evidence,
            "probes": len(answered), "ruled_out": result.ruled_out}

"""What changes an answer: ONE definition of a backend's part of the result-store key.

The key material is the backend's whole configuration (every `BackendConfig` field and every option) minus an
explicit list of what cannot change an answer (`NOT_IN_KEY`, each with its reason), plus what the backend
resolves when it runs (`Backend.resolved()`: the model revision and chat template it loaded, the harmony version,
the request fields it adds, the date its prompts carry). A server the harness started itself listens on a free
port that changes every run, so it is keyed by what it serves (`options.managed_server` plus the date its
prompts carry) instead of its URL. A new option is in the key the day it is added; leaving one out is a line
here, with its reason.
"""

from __future__ import annotations

from typing import Any

# Config fields that change how, how fast or how often the harness asks, never what the model answers.
NOT_IN_KEY = {
    "name": "a label: the same backend under another name gives the same answers",
    "concurrency": "how many requests are in flight",
    "timeout": "how long the harness waits for an answer",
    "max_retries": "how often a failed call is retried",
    "backoff_base_s": "how long the harness waits between retries",
    "capture": "the capture proxy forwards the bytes unchanged",
    "api_key_env": "which environment variable holds the key",
}
# Options represented otherwise in the key.
OPTIONS_NOT_IN_KEY = {
    "managed_server": "a managed server is keyed by what it serves (below), not by this record's spelling",
}


def key_material(config, resolved: dict[str, Any]) -> dict[str, Any]:
    """The backend's part of the store key (and of run.json's `fingerprint`): config minus `NOT_IN_KEY`, then
    what the backend resolved at run time, which wins where both name a field (e.g. the model revision)."""
    from harness.backends.base import prompt_date

    data = config.model_dump(mode="json")
    for name in NOT_IN_KEY:
        data.pop(name, None)
    options = data.pop("options") or {}
    data["options"] = {k: v for k, v in sorted(options.items()) if k not in OPTIONS_NOT_IN_KEY}
    data["sampling"] = {k: v for k, v in (data.get("sampling") or {}).items() if v is not None}
    managed = config.options.get("managed_server")
    if managed:
        data["base_url"] = f"harness-managed:{managed['name']}"
        data["managed_server"] = {**managed, "date": prompt_date()}
    data.update({k: v for k, v in resolved.items() if v is not None or k not in data})
    return data


def options_missing_from_key(read: set[str], options: dict[str, Any], material: dict[str, Any]) -> set[str]:
    """Options a backend read (and was given) that its key material does not carry: a stored answer could then be
    reused for a request it does not match. An option read but not given is its default, the same every run."""
    carried = set(material.get("options") or {}) | set(OPTIONS_NOT_IN_KEY)  # those stand in the key otherwise
    return (set(read) & set(options)) - carried


def key_changes(before: dict[str, Any] | None, after: dict[str, Any]) -> list[str]:
    """The fields of two key materials that differ (`options.X` for options): why stored answers are not
    reused."""
    if before is None or before == after:
        return []
    changed = []
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if name == "options" and isinstance(old, dict) and isinstance(new, dict):
            changed += [f"options.{k}" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
        elif old != new:
            changed.append(name)
    return changed

"""A captured request as a curl command anyone can rerun, with every credential redacted (twice: the capture
already redacted it; this module redacts again so a report can never carry a secret)."""

from __future__ import annotations

import json
import shlex
from typing import Any

from harness.capture.addon import CASE_HEADER, redact_header_value, redact_json, redact_text, redact_url

# Headers curl sets itself, or that only describe this one transfer.
SKIP_HEADERS = {"host", "content-length", "connection", "accept-encoding", "proxy-connection", CASE_HEADER}


def curl_from_flow(flow: dict[str, Any]) -> str:
    """`curl` for a flow record of flows.jsonl: method, URL, headers (redacted) and the JSON body."""
    request = flow.get("request") or {}
    body = (request.get("body") or {})
    headers = [(name, value) for name, value in request.get("headers") or []
               if name.lower() not in SKIP_HEADERS]
    payload = body.get("json") if body.get("json") is not None else body.get("text")
    return curl_command(request.get("method") or "POST", request.get("url") or "", headers, payload)


def curl_from_body(url: str, body: dict[str, Any], api_key_env: str | None = None) -> str:
    """`curl` for a request body recorded by a backend (no capture): the key is named by its variable only."""
    headers = [("Content-Type", "application/json")]
    if api_key_env:
        headers.append(("Authorization", f"Bearer ${api_key_env}"))
    return curl_command("POST", url, headers, body)


def curl_command(method: str, url: str, headers: list[tuple[str, str]], payload: Any) -> str:
    parts = ["curl", "-sS"]
    if method.upper() != "POST" or payload is None:
        parts += ["-X", method.upper()]
    parts.append(shlex.quote(redact_url(url)))
    lines = [" ".join(parts)]
    for name, value in headers:
        shown = value if value.startswith("Bearer $") else redact_header_value(name, value)
        # a "$VAR" reference must stay expandable, so it goes in double quotes
        quoted = f'"{name}: {shown}"' if shown.startswith("Bearer $") else shlex.quote(f"{name}: {shown}")
        lines.append(f"  -H {quoted}")
    if payload is not None:
        text = redact_text(payload) if isinstance(payload, str) else json.dumps(redact_json(payload), indent=2,
                                                                                ensure_ascii=False)
        lines.append(f"  --data-binary {shlex.quote(text)}")
    return " \\\n".join(lines)

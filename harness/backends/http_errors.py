"""One mapping from HTTP failures to `BackendError`, shared by the HTTP backends (openai SDK, huggingface_hub).

Causes and whether the orchestrator may retry:
- 429 -> "rate-limit", retryable, `retry_after` from the Retry-After header (seconds or an HTTP date);
- 408, 5xx -> "server-error", retryable (Retry-After honoured when a 503 sends one), except that a 5xx whose body
  is an HTML page (a proxy or load balancer answering instead of the API) -> "malformed-response", retryable;
- other 4xx -> "client-error", not retryable (the same request would fail the same way);
- timeouts -> "timeout", connection failures -> "connection", both retryable;
- a 2xx body that is not the expected JSON (an HTML page from a gateway, a truncated body) -> "malformed-response",
  retryable: in practice these come from proxies and load balancers in trouble and pass; the orchestrator's
  `max_retries` bounds the cost when a server is consistently broken.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Mapping
from typing import Any

from harness.errors import BackendError

MAX_DETAIL = 200


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    value = (headers or {}).get("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def from_status(status: int, body: str | None, headers: Mapping[str, str] | None, where: str) -> BackendError:
    detail = _short(body)
    retry_after = retry_after_seconds(headers)
    if status == 429:
        return BackendError("rate-limit", f"{where}: HTTP 429 rate limited{detail}", retryable=True,
                            retry_after=retry_after, status=status)
    if status >= 500 and _is_html(body, headers):
        return BackendError("malformed-response", f"{where}: HTTP {status} with an HTML page instead of JSON{detail}",
                            retryable=True, retry_after=retry_after, status=status)
    if status >= 500 or status == 408:
        return BackendError("server-error", f"{where}: HTTP {status}{detail}", retryable=True,
                            retry_after=retry_after, status=status)
    return BackendError("client-error", f"{where}: HTTP {status}{detail}", retryable=False, status=status)


def timeout(where: str, exc: BaseException | None = None) -> BackendError:
    return BackendError("timeout", f"{where}: timed out{_exc(exc)}", retryable=True)


def connection(where: str, exc: BaseException | None = None) -> BackendError:
    return BackendError("connection", f"{where}: connection failed{_exc(exc)}", retryable=True)


def malformed(where: str, body: str | None, status: int | None = None, why: str = "not a JSON object") -> BackendError:
    return BackendError("malformed-response", f"{where}: malformed response ({why}){_short(body)}", retryable=True,
                        status=status)


def parse_json_object(text: str, where: str, status: int | None = None) -> dict[str, Any]:
    """The body as a JSON object, or a `malformed-response` error that quotes the start of what came back."""
    try:
        data = json.loads(text)
    except ValueError:
        raise malformed(where, text, status, "not JSON") from None
    if not isinstance(data, dict):
        raise malformed(where, text, status)
    return data


def _is_html(body: str | None, headers: Mapping[str, str] | None) -> bool:
    content_type = (headers or {}).get("content-type", "")
    return "html" in content_type or (body or "").lstrip()[:1] == "<"


def _short(body: str | None) -> str:
    if not body:
        return ""
    text = " ".join(body.split())
    return f": {text[:MAX_DETAIL]}{'...' if len(text) > MAX_DETAIL else ''}"


def _exc(exc: BaseException | None) -> str:
    if exc is None:
        return ""
    text = str(exc) or type(exc).__name__
    return f" ({text[:MAX_DETAIL]})"

"""mitmproxy addon: one redacted JSON line per flow, written (and flushed) as soon as the flow completes.

Runs INSIDE `mitmdump -s addon.py --set harness_capture_out=FILE`; it imports only the standard library and
mitmproxy, and mitmproxy only inside the hooks, so the harness can also import the pure helpers below
(`redact_text`, `redact_headers`, `reassemble_sse`) without having mitmproxy installed.

Each line holds: ids and timestamps, the correlation `x-harness-case: <case_id>/<repeat>/<backend>` (recorded,
then stripped before forwarding so the upstream sees exactly what the client would have sent), method, URL,
headers (secrets redacted), the request body (raw text and parsed JSON), the response status, headers and body
(server-sent event streams are streamed through and reassembled into the final message), and the error of a
failed flow.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
import time
import zlib
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

if TYPE_CHECKING:  # pragma: no cover - types only; mitmproxy lives in its own venv
    from mitmproxy import http

CASE_HEADER = "x-harness-case"
SCHEMA = "harness.flow/1"
REDACTED = "[REDACTED]"
# Headers whose whole value is a credential (the auth scheme word is kept: "Bearer [REDACTED]").
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key", "api-key", "cookie", "set-cookie",
                            "x-goog-api-key", "ocp-apim-subscription-key"})
# Query parameters whose value is a credential whatever it looks like.
SECRET_KEYS = frozenset({"api_key", "apikey", "api-key", "key", "token", "access_token", "auth", "password",
                         "secret", "client_secret", "authorization", "x-api-key"})
# JSON members likewise; narrower, since chat payloads use `token`, `key`... for content (logprobs, schemas).
SECRET_JSON_KEYS = frozenset({"api_key", "apikey", "api-key", "access_token", "password", "client_secret",
                              "authorization", "x-api-key", "hf_token"})
# Token shapes: Hugging Face (hf_), OpenAI (sk-, sk-proj-...), Groq (gsk_), bearer-ish JWTs are left alone.
TOKEN_RE = re.compile(r"(?<![A-Za-z0-9])(?:hf_|gsk_|sk-)[A-Za-z0-9_\-]{6,}")
# `"api_key": "..."` style members in JSON text (the raw body is kept as text, so redact it there too).
_JSON_KEYS_ALT = "|".join(re.escape(k) for k in sorted(SECRET_JSON_KEYS))
JSON_SECRET_RE = re.compile(r'("(?:' + _JSON_KEYS_ALT + r')"\s*:\s*")((?:[^"\\]|\\.)*)(")', re.IGNORECASE)
BODY_TEXT_LIMIT = 8 << 20  # bodies larger than this are recorded by hash and size only


# ---------------------------------------------------------------------------------------------------------------
# pure helpers (stdlib only; imported by the harness too)


def redact_text(text: str) -> str:
    """Replace hf_/sk-/gsk_ style tokens and credential-named JSON string members; keeps JSON valid."""
    # cheap substring checks first: most text holds neither, and this runs on every header and body
    if '"' in text and any(key in text.lower() for key in SECRET_JSON_KEYS):
        text = JSON_SECRET_RE.sub(lambda m: m.group(1) + REDACTED + m.group(3), text)
    if "hf_" in text or "sk-" in text or "gsk_" in text:
        text = TOKEN_RE.sub(REDACTED, text)
    return text


def redact_url(url: str) -> str:
    """Redact tokens anywhere in the URL and the values of credential-named query parameters."""
    parts = urlsplit(url)
    if parts.query:
        pairs = []
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            pairs.append(f"{key}={REDACTED if key.lower() in SECRET_KEYS else value}")
        # keep the query readable (no re-quoting): it is a record, not a URL to replay
        url = parts._replace(query="&".join(pairs)).geturl()
    if parts.username or parts.password:
        url = url.replace(f"{parts.netloc.rsplit('@', 1)[0]}@", f"{REDACTED}@", 1)
    return redact_text(url)


def redact_header_value(name: str, value: str) -> str:
    if name.lower() in SECRET_HEADERS:
        scheme = value.split(" ", 1)[0] if " " in value.strip() and name.lower().endswith("authorization") else ""
        return f"{scheme} {REDACTED}" if scheme else REDACTED
    return redact_text(value)


def redact_headers(pairs: list[tuple[str, str]]) -> list[list[str]]:
    """Headers as ordered [name, value] pairs (repeats kept), credentials redacted."""
    return [[name, redact_header_value(name, value)] for name, value in pairs]


def redact_json(value: Any) -> Any:
    """Credential-named keys and token-shaped strings anywhere in a parsed JSON value."""
    if isinstance(value, dict):
        return {k: (REDACTED if isinstance(k, str) and k.lower() in SECRET_JSON_KEYS and isinstance(v, str)
                    else redact_json(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_json(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def decode_body(raw: bytes, content_encoding: str) -> bytes:
    """Undo gzip/deflate content-encoding (what the client saw after decoding); anything else stays raw."""
    encoding = content_encoding.strip().lower()
    try:
        if encoding in ("gzip", "x-gzip"):
            return gzip.decompress(raw)
        if encoding == "deflate":
            try:
                return zlib.decompress(raw)
            except zlib.error:
                return zlib.decompress(raw, -zlib.MAX_WBITS)
    except (OSError, EOFError, zlib.error):
        pass
    return raw


def body_record(raw: bytes | None, content_encoding: str = "") -> dict[str, Any]:
    """size, sha256 of the bytes on the wire, redacted text (or base64), parsed JSON when it is JSON."""
    if raw is None:
        return {"size": 0, "sha256": None, "text": None, "json": None}
    record: dict[str, Any] = {"size": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}
    if content_encoding:
        record["content_encoding"] = content_encoding
    decoded = decode_body(raw, content_encoding) if content_encoding else raw
    if len(decoded) > BODY_TEXT_LIMIT:
        record.update(text=None, json=None, truncated=True)
        return record
    try:
        text = decoded.decode("utf-8")
    except UnicodeDecodeError:
        record.update(text=None, base64=base64.b64encode(decoded).decode("ascii"), json=None)
        return record
    redacted = redact_text(text)
    record["text"] = redacted
    record["redacted"] = redacted != text
    try:
        record["json"] = redact_json(json.loads(text)) if text.strip() else None
    except ValueError:
        record["json"] = None
    return record


def reassemble_sse(text: str) -> dict[str, Any]:
    """Server-sent events -> the final chat message (content, reasoning, tool calls, finish reason, usage)."""
    events: list[Any] = []
    done = False
    for block in re.split(r"\r?\n\r?\n", text):
        data_lines = [line[5:].lstrip(" ") for line in block.splitlines() if line.startswith("data:")]
        if not data_lines:
            continue
        data = "\n".join(data_lines)
        if data.strip() == "[DONE]":
            done = True
            continue
        try:
            events.append(json.loads(data))
        except ValueError:
            events.append({"unparsed": data})
    message: dict[str, Any] = {"role": "assistant", "content": ""}
    reasoning: dict[str, str] = {}
    tool_calls: dict[int, dict[str, Any]] = {}
    result: dict[str, Any] = {"events": len(events), "done": done, "message": message, "finish_reason": None}
    for event in events:
        if not isinstance(event, dict):
            continue
        for key in ("id", "model", "system_fingerprint", "usage"):
            if event.get(key) is not None:
                result[key] = event[key]
        for choice in event.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if delta.get("role"):
                message["role"] = delta["role"]
            if isinstance(delta.get("content"), str):
                message["content"] += delta["content"]
            for field in ("reasoning", "reasoning_content"):  # vLLM/Groq: reasoning; older vLLM: reasoning_content
                if isinstance(delta.get(field), str):
                    reasoning[field] = reasoning.get(field, "") + delta[field]
            for call in delta.get("tool_calls") or []:
                slot = tool_calls.setdefault(call.get("index", len(tool_calls)),
                                             {"id": None, "type": "function",
                                              "function": {"name": "", "arguments": ""}})
                slot["id"] = call.get("id") or slot["id"]
                function = call.get("function") or {}
                slot["function"]["name"] += function.get("name") or ""
                slot["function"]["arguments"] += function.get("arguments") or ""
            if choice.get("finish_reason"):
                result["finish_reason"] = choice["finish_reason"]
    message.update(reasoning)
    if tool_calls:
        message["tool_calls"] = [tool_calls[i] for i in sorted(tool_calls)]
    return result


def parse_case(value: str | None) -> dict[str, Any] | None:
    """`<case_id>/<repeat>/<backend>` (case ids may hold slashes; the last two parts are repeat and backend)."""
    if value is None:
        return None
    parts = value.rsplit("/", 2)
    if len(parts) != 3:
        return {"raw": value, "case_id": value, "repeat": None, "backend": None}
    case_id, repeat, backend = parts
    return {"raw": value, "case_id": case_id, "repeat": int(repeat) if repeat.isdigit() else repeat,
            "backend": backend}


# ---------------------------------------------------------------------------------------------------------------
# the addon


class HarnessCapture:
    """Event-named hooks; options declared in `load`; one JSON line per finished (or failed) flow."""

    def __init__(self) -> None:
        self._out = None
        self._path = ""

    def load(self, loader) -> None:
        loader.add_option("harness_capture_out", str, "", "JSONL file the harness capture appends one line per flow to")

    def configure(self, updated) -> None:
        from mitmproxy import ctx

        if "harness_capture_out" in updated and ctx.options.harness_capture_out != self._path:
            self._close()
            self._path = ctx.options.harness_capture_out
            if self._path:
                # line-buffered append: each record reaches the file when its flow completes
                self._out = open(self._path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - kept open

    def request(self, flow: http.HTTPFlow) -> None:
        case = flow.request.headers.get(CASE_HEADER)
        if case is not None:
            flow.metadata["harness_case"] = case
            del flow.request.headers[CASE_HEADER]  # the upstream must see exactly what the client would send

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        content_type = flow.response.headers.get("content-type", "")
        if content_type.startswith("text/event-stream"):
            # stream SSE through untouched (buffering would swallow the stream's timing) and keep a copy
            chunks: list[bytes] = []
            flow.metadata["harness_sse_chunks"] = chunks

            def tee(data: bytes) -> bytes:
                chunks.append(data)
                return data

            flow.response.stream = tee

    def response(self, flow: http.HTTPFlow) -> None:
        self._write(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._write(flow)

    def done(self) -> None:
        self._close()

    # -----------------------------------------------------------------------------------------------------------

    def _write(self, flow: http.HTTPFlow) -> None:
        if self._out is None or flow.metadata.get("harness_written"):
            return
        flow.metadata["harness_written"] = True
        started = time.perf_counter()
        record = flow_record(flow)
        record["capture_ms"] = round((time.perf_counter() - started) * 1000, 3)
        self._out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
        self._out.flush()

    def _close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None


def flow_record(flow: http.HTTPFlow) -> dict[str, Any]:
    request = flow.request
    record: dict[str, Any] = {
        "schema": SCHEMA,
        "id": flow.id,
        "case": parse_case(flow.metadata.get("harness_case")),
        "client": {"id": flow.client_conn.id, "address": _address(flow.client_conn.peername),
                   "user_agent": redact_text(request.headers.get("user-agent", ""))},
        "server": {"address": _address(flow.server_conn.address) if flow.server_conn else None,
                   "tls": bool(flow.server_conn and flow.server_conn.tls_established)},
        "timestamps": {"request_start": request.timestamp_start, "request_end": request.timestamp_end},
        "request": {"method": request.method, "url": redact_url(request.pretty_url),
                    "scheme": request.scheme, "host": request.pretty_host, "port": request.port,
                    "path": redact_url(request.path).split("?", 1)[0], "http_version": request.http_version,
                    "headers": redact_headers(list(request.headers.items(multi=True))),
                    "body": body_record(request.raw_content, request.headers.get("content-encoding", ""))},
        "response": None,
        "error": None,
    }
    response = flow.response
    if response is not None:
        chunks = flow.metadata.get("harness_sse_chunks")
        raw = b"".join(chunks) if chunks is not None else response.raw_content
        encoding = response.headers.get("content-encoding", "")
        body = body_record(raw, encoding)
        if chunks is not None:
            body["streamed"] = True
            body["sse"] = reassemble_sse(decode_body(raw, encoding).decode("utf-8", "replace"))
            body["sse"] = redact_json(body["sse"])
        record["response"] = {"status": response.status_code, "reason": response.reason,
                              "http_version": response.http_version,
                              "headers": redact_headers(list(response.headers.items(multi=True))), "body": body}
        record["timestamps"].update(response_start=response.timestamp_start, response_end=response.timestamp_end)
    if flow.error is not None:
        record["error"] = {"message": redact_text(str(flow.error.msg)), "timestamp": flow.error.timestamp}
    return record


def _address(address) -> str | None:
    if not address:
        return None
    return f"{address[0]}:{address[1]}"


addons = [HarnessCapture()]

"""`roost`: the ROOST Model Community's gpt-oss-safeguard demo server (and the project's stand-in for it).

The server's shape is not OpenAI's (see `harness.servers.roost_server` for what it mirrors):
`POST {base_url}/chat/completions` with `{"messages", "developer_prompt", "system_prompt", "max_tokens",
"temperature", "top_p"}` answers `{"reasoning": ..., "verdict": ...}`.

Mapping a `ChatRequest` onto it: a leading system or developer message is the policy and goes to
`developer_prompt` (the only prompt the server renders: as developer `# Instructions`; it ignores `system_prompt`);
every other message goes to `messages` as `{role, content}` (the server turns every role but `assistant` into a
user message). `options.system_prompt` is sent as `system_prompt` when set, for fidelity with the upstream client.
Sampling: `max_tokens`, `temperature`, `top_p` only (the server knows no other); reasoning effort cannot be sent
(the server always renders `Reasoning: medium`).

Mapping the answer onto `Completion`: `text` = the verdict, `reasoning` = the reasoning string,
`reasoning_field = "roost"`, `usage` when the body has one, `raw` the body as returned. Upstream stringifies
openai-harmony's content list, so its strings read `[TextContent(text='Violating')]`; `text` and `reasoning` hold
the unwrapped text so label parsers can read it (`options.unwrap_content = false` keeps them verbatim; `raw`
always keeps what came back).
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

from harness.backends import http_errors
from harness.backends.base import BackendConfig, BackendContext, RemoteBackend, backend, proxy_verify
from harness.backends.openai_compatible import (
    CORRELATION_HEADER,
    REQUEST_ID_HEADERS,
    api_key_from_env,
    effective_sampling,
    header,
)
from harness.errors import HarnessError
from harness.records import Completion, Usage
from harness.request import ChatRequest

REASONING_FIELD = "roost"
SAMPLING_KEYS = ("max_tokens", "temperature", "top_p")  # the upstream request model's sampling fields
_LITERAL = r"""(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")"""
_PART = rf"TextContent\(text=({_LITERAL})\)"
_REPR = re.compile(rf"(?:\[{_PART}(?:, {_PART})*\])+", re.DOTALL)
_PART_RE = re.compile(_PART, re.DOTALL)


def unwrap_content_repr(value: str) -> str:
    """`[TextContent(text='a')]` (one or more such lists back to back) -> `a`; anything else unchanged."""
    if not _REPR.fullmatch(value):
        return value
    try:
        return "".join(ast.literal_eval(literal) for literal in _PART_RE.findall(value))
    except (ValueError, SyntaxError):
        return value


def roost_body(config: BackendConfig, request: ChatRequest) -> dict[str, Any]:
    """The ROOST request body for `request`: policy -> `developer_prompt`, the rest -> `messages`."""
    messages = list(request.messages)
    policy = None
    if messages and messages[0].role in ("system", "developer"):
        policy = messages.pop(0).content
    if not messages:
        raise HarnessError(f"backend {config.name!r}: a ROOST request needs a message besides the policy")
    body: dict[str, Any] = {"messages": [{"role": m.role, "content": m.content} for m in messages]}
    system_prompt = config.options.get("system_prompt")
    if system_prompt is not None:
        body["system_prompt"] = system_prompt
    if policy is not None:
        body["developer_prompt"] = policy
    sampling = effective_sampling(config, request)
    if sampling.get("max_tokens") is None and sampling.get("max_completion_tokens") is not None:
        sampling["max_tokens"] = sampling["max_completion_tokens"]
    body.update({k: sampling[k] for k in SAMPLING_KEYS if sampling.get(k) is not None})
    return body


def completion_from_roost(data: dict[str, Any], headers: Any, where: str, sent_body: dict[str, Any] | None,
                          unwrap: bool = True) -> Completion:
    verdict, reasoning = data.get("verdict"), data.get("reasoning")
    if not isinstance(verdict, str) or not (reasoning is None or isinstance(reasoning, str)):
        raise http_errors.malformed(where, json.dumps(data)[:400], why="no `verdict` string")
    usage_raw = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    usage = Usage(prompt_tokens=usage_raw.get("prompt_tokens"), completion_tokens=usage_raw.get("completion_tokens"))
    clean = unwrap_content_repr if unwrap else (lambda text: text)
    return Completion(text=clean(verdict), reasoning=clean(reasoning) if reasoning is not None else None,
                      reasoning_field=REASONING_FIELD if reasoning is not None else None, usage=usage,
                      request_id=header(headers, *REQUEST_ID_HEADERS), sent_body=sent_body, raw=data)


class RoostBackend(RemoteBackend):
    def __init__(self, config: BackendConfig, context: BackendContext):
        if not config.base_url:
            raise HarnessError(f"backend {config.name!r}: roost needs base_url (e.g. http://localhost:8000/v1)")
        system_prompt = config.options.get("system_prompt")
        if system_prompt is not None and not isinstance(system_prompt, str):
            raise HarnessError(f"backend {config.name!r}: options.system_prompt must be a string")
        super().__init__(config, context)
        self.unwrap = bool(config.options.get("unwrap_content", True))
        self.url = f"{config.base_url.rstrip('/')}/chat/completions"
        self._api_key = api_key_from_env(config, None)  # the demo server checks nothing; a gateway might

    def resolved(self) -> dict[str, Any]:
        return {"system_prompt": self.config.options.get("system_prompt"), "unwrap_content": self.unwrap}

    def _get_client(self):
        if self._client is None:
            import httpx

            proxy, verify = proxy_verify(self.context, self.config.capture)
            self._client = httpx.AsyncClient(proxy=proxy, verify=verify, timeout=self.config.timeout)
        return self._client

    async def complete(self, request: ChatRequest, *, correlation: str | None = None) -> Completion:
        import httpx

        body = roost_body(self.config, request)
        headers = dict(self.context.extra_headers)
        if correlation:
            headers[CORRELATION_HEADER] = correlation
        if self._api_key:
            headers["authorization"] = f"Bearer {self._api_key}"
        where = f"{self.name} ({self.config.base_url})"
        try:
            response = await self._get_client().post(self.url, json=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise http_errors.timeout(where, exc) from exc
        except httpx.TransportError as exc:
            raise http_errors.connection(where, exc) from exc
        if response.status_code >= 400:
            raise http_errors.from_status(response.status_code, response.text, response.headers, where)
        data = http_errors.parse_json_object(response.text, where, response.status_code)
        sent_body = json.loads(response.request.content) if response.request.content else None
        return completion_from_roost(data, response.headers, where, sent_body, self.unwrap)



@backend("roost", "the ROOST gpt-oss-safeguard demo server ({messages, developer_prompt} -> {reasoning, verdict})")
def _factory(config: BackendConfig, context: BackendContext) -> RoostBackend:
    return RoostBackend(config, context)


__all__ = ["RoostBackend", "completion_from_roost", "roost_body", "unwrap_content_repr"]

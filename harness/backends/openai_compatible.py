"""`openai-compatible`: any OpenAI-compatible chat-completions server through the openai SDK (vLLM, `transformers
serve`, Groq, ...).

What is sent: the canonical request body (`ChatRequest.to_body()`), with the backend's `model`, its pinned
sampling (a value set in the backend's `sampling` table overrides the request's), `reasoning_effort` as a top-level
field (the backend's value, else the request's), and `options.extra_body` merged on top (e.g. Groq's
`reasoning_format`). The SDK's own retries are off (`max_retries=0`): the orchestrator retries.

`options.logprobs = K` sends `logprobs: true, top_logprobs: K` (merged into the extra body, so part of the
fingerprint) and keeps `choices[0].logprobs.content` as `Completion.output_logprobs`. Providers that reject it
(Groq answers 400) must not be asked: their answers record label probabilities as not exposed.

`return_token_ids` (vLLM >= 0.10.2 answers with `prompt_token_ids` and `choices[0].token_ids`): sent when
`options.return_token_ids` is true, or, when that option is not given, when `options.server = "vllm"`. It is not
sent by default because other servers reject unknown fields (`transformers serve` answers 422, Groq 400).

Evidence kept: `Completion.sent_body` is the JSON body exactly as it went on the wire (read back from the
request), `raw` the response body, `request_id` the `x-request-id` header, `reasoning_field` which of
`reasoning` / `reasoning_content` carried the reasoning.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from harness.backends import http_errors
from harness.backends.base import BackendConfig, BackendContext, RemoteBackend, backend, proxy_verify
from harness.capture.addon import CASE_HEADER
from harness.errors import HarnessError
from harness.records import Completion, Usage
from harness.request import ChatRequest

CORRELATION_HEADER = CASE_HEADER  # the capture proxy records it, then strips it before forwarding
REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-amzn-requestid")
PROVIDER_HEADER = "x-inference-provider"
LOCAL_API_KEY = "EMPTY"  # what local servers (vLLM, transformers serve) accept when they check nothing


def effective_effort(config: BackendConfig, request: ChatRequest) -> str | None:
    """The backend's pinned reasoning effort wins over the request's."""
    return config.reasoning_effort or request.reasoning_effort


def effective_sampling(config: BackendConfig, request: ChatRequest) -> dict[str, Any]:
    """The request's sampling fields, overridden by whatever the backend's `sampling` table pins."""
    sampling = dict(request.sampling)
    sampling.update(config.sampling.model_dump(exclude_none=True))
    return sampling


def request_body(config: BackendConfig, request: ChatRequest) -> dict[str, Any]:
    """The chat-completions body this backend sends for `request` (before `options.extra_body`)."""
    body = request.to_body()
    body.update(effective_sampling(config, request))
    if config.model:
        body["model"] = config.model
    effort = effective_effort(config, request)
    if effort:
        body["reasoning_effort"] = effort
    return body


def header(headers: Mapping[str, str] | None, *names: str) -> str | None:
    for name in names:
        value = (headers or {}).get(name)
        if value:
            return value
    return None


def completion_from_body(data: dict[str, Any], headers: Mapping[str, str] | None, where: str,
                         sent_body: dict[str, Any] | None = None) -> Completion:
    """A chat-completions response body (OpenAI shape, plus vLLM/Groq extras) as a `Completion`."""
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise http_errors.malformed(where, json.dumps(data)[:400], why="no choices")
    choice = choices[0]
    message = choice.get("message") or {}
    if not isinstance(message, dict):
        raise http_errors.malformed(where, json.dumps(data)[:400], why="choices[0].message is not an object")
    reasoning, reasoning_field = None, None
    for name in ("reasoning", "reasoning_content"):
        if isinstance(message.get(name), str):
            reasoning, reasoning_field = message[name], name
            break
    tool_calls = []
    for call in message.get("tool_calls") or []:
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            arguments = function.get("arguments")
            tool_calls.append({"name": function.get("name"),
                               "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments)})
    usage_raw = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    details = usage_raw.get("completion_tokens_details") if isinstance(usage_raw.get("completion_tokens_details"),
                                                                      dict) else {}
    usage = Usage(prompt_tokens=usage_raw.get("prompt_tokens"), completion_tokens=usage_raw.get("completion_tokens"),
                  reasoning_tokens=details.get("reasoning_tokens"))
    prompt_ids = data.get("prompt_token_ids") or choice.get("prompt_token_ids")
    output_ids = choice.get("token_ids")
    return Completion(
        text=message.get("content") or "",
        reasoning=reasoning,
        reasoning_field=reasoning_field,
        finish_reason=choice.get("finish_reason"),
        usage=usage,
        prompt_token_ids=list(prompt_ids) if isinstance(prompt_ids, list) else None,
        output_token_ids=list(output_ids) if isinstance(output_ids, list) else None,
        served_provider=header(headers, PROVIDER_HEADER),
        request_id=header(headers, *REQUEST_ID_HEADERS),
        sent_body=sent_body,
        tool_calls=tool_calls,
        raw=data,
        output_logprobs=output_logprobs_from_choice(choice),
    )


def api_key_from_env(config: BackendConfig, default: str | None) -> str | None:
    """The key from the variable `api_key_env` names (never from the file); `default` when none is configured."""
    if not config.api_key_env:
        return default
    value = os.environ.get(config.api_key_env)
    if not value:
        raise HarnessError(f"backend {config.name!r}: environment variable {config.api_key_env} (api_key_env) "
                           "is not set")
    return value


def extra_body_option(config: BackendConfig) -> dict[str, Any]:
    """A copy of `options.extra_body` (fields merged at the top level of every request body)."""
    extra_body = config.options.get("extra_body", {})
    if not isinstance(extra_body, dict):
        raise HarnessError(f"backend {config.name!r}: options.extra_body must be a table")
    return dict(extra_body)


def logprobs_option(config: BackendConfig) -> int | None:
    """`options.logprobs = K`: ask for the top-K logprobs of every output token (None: not asked)."""
    value = config.options.get("logprobs")
    if value is None or value is False:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 20:
        raise HarnessError(f"backend {config.name!r}: options.logprobs must be an integer 0..20 (top-K), "
                           f"got {value!r}")
    return value


def output_logprobs_from_choice(choice: dict[str, Any]) -> list[dict[str, Any]] | None:
    """`choices[0].logprobs.content` in OpenAI's shape: token, logprob and its top_logprobs (bytes dropped)."""
    logprobs = choice.get("logprobs")
    content = logprobs.get("content") if isinstance(logprobs, dict) else None
    if not isinstance(content, list):
        return None
    out = []
    for entry in content:
        if not isinstance(entry, dict):
            continue
        top = [{"token": t.get("token"), "logprob": t.get("logprob")}
               for t in entry.get("top_logprobs") or [] if isinstance(t, dict)]
        out.append({"token": entry.get("token"), "logprob": entry.get("logprob"), "top_logprobs": top})
    return out


class OpenAICompatibleBackend(RemoteBackend):
    def __init__(self, config: BackendConfig, context: BackendContext):
        if not config.base_url:
            raise HarnessError(f"backend {config.name!r}: openai-compatible needs base_url (e.g. "
                               "http://localhost:8000/v1)")
        if not config.model:
            raise HarnessError(f"backend {config.name!r}: openai-compatible needs model (the served model name)")
        super().__init__(config, context)
        self._api_key = api_key_from_env(config, LOCAL_API_KEY)
        self._extra_body = extra_body_option(config)
        option = config.options.get("return_token_ids")
        self.return_token_ids = bool(option) if option is not None else config.options.get("server") == "vllm"
        if self.return_token_ids:
            self._extra_body.setdefault("return_token_ids", True)
        self.top_logprobs = logprobs_option(config)
        if self.top_logprobs is not None:  # in the sent fields, hence in the fingerprint (extra_body)
            self._extra_body.setdefault("logprobs", True)
            self._extra_body.setdefault("top_logprobs", self.top_logprobs)
        import openai  # here, once: in the first request its ~1 s import would eat that request's timeout

        self.sdk = openai

    def resolved(self) -> dict[str, Any]:
        return {"extra_body": self._extra_body}

    def _get_client(self):
        if self._client is None:
            openai = self.sdk
            http_client = None
            proxy, verify = proxy_verify(self.context, self.config.capture)
            if proxy:
                http_client = openai.DefaultAsyncHttpxClient(proxy=proxy, verify=verify)
            self._client = openai.AsyncOpenAI(base_url=self.config.base_url, api_key=self._api_key,
                                              max_retries=0, timeout=self.config.timeout, http_client=http_client)
        return self._client

    async def complete(self, request: ChatRequest, *, correlation: str | None = None) -> Completion:
        openai = self.sdk
        body = request_body(self.config, request)
        body.update(self._extra_body)
        headers = dict(self.context.extra_headers)
        if correlation:
            headers[CORRELATION_HEADER] = correlation
        where = f"{self.name} ({self.config.base_url})"
        messages = body.pop("messages")
        model = body.pop("model")
        try:
            raw = await self._get_client().chat.completions.with_raw_response.create(
                model=model, messages=messages, extra_body=body, extra_headers=headers)
        except openai.APITimeoutError as exc:
            raise http_errors.timeout(where, exc) from exc
        except openai.APIConnectionError as exc:
            raise http_errors.connection(where, exc.__cause__ or exc) from exc
        except openai.APIStatusError as exc:
            raise http_errors.from_status(exc.status_code, exc.response.text, exc.response.headers, where) from exc
        response = raw.http_response
        sent_body = json.loads(response.request.content) if response.request.content else None
        data = http_errors.parse_json_object(response.text, where, response.status_code)
        return completion_from_body(data, response.headers, where, sent_body)



@backend("openai-compatible", "any OpenAI-compatible server (vLLM, transformers serve, Groq) via the openai SDK")
def _factory(config: BackendConfig, context: BackendContext) -> OpenAICompatibleBackend:
    return OpenAICompatibleBackend(config, context)


__all__ = ["OpenAICompatibleBackend", "completion_from_body", "effective_effort", "effective_sampling",
           "request_body"]

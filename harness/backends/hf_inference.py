"""`hf-inference`: Hugging Face Inference Providers through huggingface_hub's `AsyncInferenceClient`.

The provider is pinned (`provider = "groq"`, ...) or `auto` (the HF router picks; the `x-inference-provider`
response header says which one served, kept in `Completion.served_provider`). `reasoning_effort` travels in
`extra_body` (merged at the top level of the payload).

Tokens. The key comes from the variable named by `api_key_env` (default `HF_TOKEN`, then the locally saved HF
token) and goes only to Hugging Face hosts. With a `base_url` whose host is not huggingface.co / hf.co, no token is
sent at all unless `api_key_env` is configured for that backend, and then only that variable's value. The key is
always passed explicitly: `InferenceClient(base_url=...)` without one would send the locally saved HF token.
huggingface_hub always writes an Authorization header, so when there is no key the placeholder header is removed
by our request hook before the request leaves.

Headers. huggingface_hub 2.x returns only the parsed body. Each client gets its own `httpx2.AsyncClient` (we
override `AsyncInferenceClient._get_async_client`, the one place it builds its session) with huggingface_hub's own
event hooks plus ours: a request hook that adds the correlation header and reads back the body as sent, and a
response hook that keeps the status, headers and body of the call. Which call a hook belongs to comes from a
ContextVar set in the calling task (httpx awaits hooks in that task), so concurrent calls do not mix.
"""

from __future__ import annotations

import contextvars
import json
import os
from typing import Any
from urllib.parse import urlsplit

from harness.backends import http_errors
from harness.backends.base import BackendConfig, BackendContext, RemoteBackend, backend, proxy_verify
from harness.backends.openai_compatible import (
    CORRELATION_HEADER,
    api_key_from_env,
    completion_from_body,
    extra_body_option,
    request_body,
)
from harness.errors import BackendError, HarnessError
from harness.records import Completion
from harness.request import ChatRequest

DEFAULT_TOKEN_ENV = "HF_TOKEN"
HF_HOSTS = ("huggingface.co", "hf.co")
NO_KEY = "harness-no-key"  # placeholder passed instead of any real token; its header is stripped before sending
# chat_completion keyword arguments; every other body field goes through extra_body.
_CLIENT_PARAMS = ("max_tokens", "temperature", "top_p", "seed", "stop", "frequency_penalty", "presence_penalty", "n",
                  "tools", "tool_choice", "response_format", "logprobs", "top_logprobs")

_CALL: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("harness_hf_call", default=None)


def is_hf_host(base_url: str | None) -> bool:
    """True for the HF router and hub hosts (router.huggingface.co, *.hf.co); a missing base_url means the router."""
    if not base_url:
        return True
    host = (urlsplit(base_url).hostname or "").lower()
    return any(host == h or host.endswith("." + h) for h in HF_HOSTS)


def resolve_token(config: BackendConfig) -> str | None:
    """The key this backend may send, or None for "send none" (see the module docstring)."""
    if config.api_key_env:
        return api_key_from_env(config, None)
    if not is_hf_host(config.base_url):
        return None  # never the HF token to a non-HF host, unless configured explicitly
    from huggingface_hub import get_token

    token = os.environ.get(DEFAULT_TOKEN_ENV) or get_token()
    if not token:
        raise HarnessError(f"backend {config.name!r}: no Hugging Face token; set {DEFAULT_TOKEN_ENV} (or name another "
                           "variable with api_key_env)")
    return token


def _client_class():
    """AsyncInferenceClient with its own httpx2 session: proxy, CA bundle and our event hooks."""
    import httpx2
    from huggingface_hub import AsyncInferenceClient
    from huggingface_hub.utils._http import async_hf_request_event_hook, async_hf_response_event_hook

    class _HarnessInferenceClient(AsyncInferenceClient):
        def __init__(self, *args, harness_context: BackendContext, strip_auth: bool, use_proxy: bool, **kwargs):
            super().__init__(*args, **kwargs)
            self._harness_context = harness_context
            self._strip_auth = strip_auth
            self._use_proxy = use_proxy

        async def _get_async_client(self):
            if self._async_client is None:
                proxy, verify = proxy_verify(self._harness_context, self._use_proxy)
                session = httpx2.AsyncClient(
                    event_hooks={"request": [async_hf_request_event_hook, self._on_request],
                                 "response": [async_hf_response_event_hook, self._on_response]},
                    follow_redirects=True, timeout=None, proxy=proxy, verify=verify)
                self._async_client = await self.exit_stack.enter_async_context(session)
            return self._async_client

        async def _on_request(self, request) -> None:
            if self._strip_auth:
                request.headers.pop("authorization", None)
            for name, value in self._harness_context.extra_headers.items():
                request.headers[name] = value
            call = _CALL.get()
            if call is not None:
                if call.get("correlation"):
                    request.headers[CORRELATION_HEADER] = call["correlation"]
                call["url"] = str(request.url)
                call["sent"] = request.content

        async def _on_response(self, response) -> None:
            call = _CALL.get()
            if call is not None:
                await response.aread()  # non-streaming calls read the body anyway
                call["status"] = response.status_code
                call["headers"] = dict(response.headers)
                call["text"] = response.text

    return _HarnessInferenceClient


class HFInferenceBackend(RemoteBackend):
    def __init__(self, config: BackendConfig, context: BackendContext):
        if not config.model:
            raise HarnessError(f"backend {config.name!r}: hf-inference needs model (a hub id such as "
                               "openai/gpt-oss-safeguard-20b)")
        super().__init__(config, context)
        self.provider = config.provider or "auto"
        self._token = resolve_token(config)
        self._extra_body = extra_body_option(config)

    def resolved(self) -> dict[str, Any]:
        return {"provider": self.provider, "extra_body": self._extra_body}

    def _get_client(self):
        if self._client is None:
            cls = _client_class()
            options = {"api_key": self._token or NO_KEY, "timeout": self.config.timeout,
                       "harness_context": self.context, "strip_auth": self._token is None,
                       "use_proxy": self.config.capture}
            if self.config.base_url:
                self._client = cls(base_url=self.config.base_url, **options)
            else:
                self._client = cls(provider=self.provider, **options)
        return self._client

    def _arguments(self, request: ChatRequest) -> dict[str, Any]:
        body = request_body(self.config, request)
        body.update(self._extra_body)
        body.pop("model", None)
        arguments: dict[str, Any] = {"messages": body.pop("messages"), "model": self.config.model}
        for name in _CLIENT_PARAMS:
            if name in body:
                arguments[name] = body.pop(name)
        arguments["extra_body"] = body  # reasoning_effort and anything the client has no argument for
        return arguments

    async def complete(self, request: ChatRequest, *, correlation: str | None = None) -> Completion:
        import httpx2
        from huggingface_hub.errors import HfHubHTTPError, InferenceTimeoutError, OfflineModeIsEnabled

        where = f"{self.name} ({self.config.base_url or 'hf router, provider ' + self.provider})"
        call: dict[str, Any] = {"correlation": correlation}
        token = _CALL.set(call)
        try:
            await self._get_client().chat_completion(**self._arguments(request))
        except InferenceTimeoutError as exc:
            raise http_errors.timeout(where, exc) from exc
        except HfHubHTTPError as exc:
            response = exc.response
            raise http_errors.from_status(response.status_code, call.get("text") or _safe_text(response),
                                          response.headers, where) from exc
        except OfflineModeIsEnabled as exc:
            raise BackendError("client-error", f"{where}: HF_HUB_OFFLINE is set; huggingface_hub refuses every "
                               "call, even to a local base_url", retryable=False) from exc
        except httpx2.TimeoutException as exc:
            raise http_errors.timeout(where, exc) from exc
        except httpx2.TransportError as exc:
            raise http_errors.connection(where, exc) from exc
        except ValueError as exc:
            if "text" in call:  # the server answered, but not with the JSON huggingface_hub expects
                raise http_errors.malformed(where, call["text"], call.get("status"), "not a chat completion") from exc
            # provider mapping, unsupported model/provider, offline mode: the same request would fail again
            raise BackendError("client-error", f"{where}: {exc}", retryable=False) from exc
        finally:
            _CALL.reset(token)
        data = http_errors.parse_json_object(call.get("text", ""), where, call.get("status"))
        sent = json.loads(call["sent"]) if call.get("sent") else None
        return completion_from_body(data, call.get("headers"), where, sent)



def _safe_text(response) -> str | None:
    try:
        return response.text
    except Exception:  # noqa: BLE001 -- a streamed body that was never read
        return None


@backend("hf-inference", "Hugging Face Inference Providers (groq, auto, ...) via huggingface_hub")
def _factory(config: BackendConfig, context: BackendContext) -> HFInferenceBackend:
    return HFInferenceBackend(config, context)

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

Session. huggingface_hub 2.x returns only the parsed body, and its client takes no proxy, CA or hooks. So we use
its public `set_async_client_factory`: the factory builds each client's `httpx2.AsyncClient` with the capture proxy,
the run's CA bundle and huggingface_hub's own event hooks (read once from `get_async_session()`) plus ours: a
request hook that adds the correlation header and reads back the body as sent, and a response hook that keeps the
status, headers and body of the call. huggingface_hub calls the factory, and httpx the hooks, in the calling task,
so a ContextVar set there says which backend and call they serve; concurrent calls do not mix. No private
huggingface_hub name is used (tests/test_hf_inference_hooks.py checks, and checks `PUBLIC_API` exists); if an
upgrade stops using the factory or shares a session between clients, calls fail naming the version.
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

# The huggingface_hub names this module relies on; tests/test_hf_inference_hooks.py checks they exist.
PUBLIC_API = ("huggingface_hub.AsyncInferenceClient", "huggingface_hub.set_async_client_factory",
              "huggingface_hub.get_async_session", "huggingface_hub.get_token", "huggingface_hub.errors.HfHubHTTPError",
              "huggingface_hub.errors.InferenceTimeoutError", "huggingface_hub.errors.OfflineModeIsEnabled")

# The call in progress in this task: {"backend", "correlation"} set by `complete`, the rest filled by the hooks.
_CALL: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("harness_hf_call", default=None)
_hf_session: dict[str, Any] | None = None  # huggingface_hub's own session settings (event hooks, redirects, timeout)


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


def _outdated(what: str) -> HarnessError:
    import huggingface_hub

    return HarnessError(f"huggingface_hub {huggingface_hub.__version__} {what}: harness/backends/hf_inference.py "
                        "must be updated")


def _install_session_factory() -> None:
    """Make huggingface_hub build its async sessions with `_new_session` (idempotent)."""
    global _hf_session
    from huggingface_hub import get_async_session, set_async_client_factory

    if _hf_session is None:
        default = get_async_session()  # built by huggingface_hub's own factory: read for its settings, never opened
        _hf_session = {"event_hooks": default.event_hooks, "follow_redirects": default.follow_redirects,
                       "timeout": default.timeout}
    set_async_client_factory(_new_session)


def _new_session():
    """The async client factory: huggingface_hub calls it for each AsyncInferenceClient, in the calling task."""
    import httpx2

    call = _CALL.get()
    if call is None:  # a huggingface_hub call that is not one of ours: the session huggingface_hub would build
        return httpx2.AsyncClient(**_hf_session)
    return call["backend"].new_session(_hf_session)


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
            from huggingface_hub import AsyncInferenceClient

            _install_session_factory()
            options = {"api_key": self._token or NO_KEY, "timeout": self.config.timeout}
            if self.config.base_url:
                self._client = AsyncInferenceClient(base_url=self.config.base_url, **options)
            else:
                self._client = AsyncInferenceClient(provider=self.provider, **options)
        return self._client

    def new_session(self, hf_session: dict[str, Any]):
        """This backend's httpx2 session: proxy and CA bundle, huggingface_hub's event hooks, then ours."""
        import httpx2

        proxy, verify = proxy_verify(self.context, self.config.capture)
        hooks = hf_session["event_hooks"]
        return httpx2.AsyncClient(
            event_hooks={"request": [*hooks.get("request", ()), self._on_request],
                         "response": [*hooks.get("response", ()), self._on_response]},
            follow_redirects=hf_session["follow_redirects"], timeout=hf_session["timeout"], proxy=proxy,
            verify=verify)

    async def _on_request(self, request) -> None:
        call = _CALL.get()
        if call is not None and call["backend"] is not self:  # the proxy and auth of another backend
            raise _outdated("shares one HTTP session between InferenceClients")
        if self._token is None:
            request.headers.pop("authorization", None)
        for name, value in self.context.extra_headers.items():
            request.headers[name] = value
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
        call: dict[str, Any] = {"backend": self, "correlation": correlation}
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
        if "text" not in call:  # answered, but not through a session of ours
            raise _outdated("no longer builds its sessions with set_async_client_factory")
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

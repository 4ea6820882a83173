"""The backend protocol, its configuration record and the registry of backend kinds.

A backend kind is a small factory registered with `@backend("kind")`. Its module imports heavy SDKs (torch,
transformers, openai, huggingface_hub) inside the factory, so listing or validating backends costs nothing.
"""

from __future__ import annotations

import datetime
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, field_validator

from harness.records import Completion
from harness.registry import Registry
from harness.request import REASONING_EFFORTS, ChatRequest


class Sampling(BaseModel):
    model_config = ConfigDict(extra="forbid")

    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    max_tokens: int | None = None
    stop: list[str] | None = None


class BackendConfig(BaseModel):
    """One named backend, as written in harness.toml `[backends.NAME]`. Secrets only via `api_key_env`."""

    model_config = ConfigDict(extra="forbid")

    name: str
    kind: str
    model: str | None = None  # hub id, local path, or the served model name
    revision: str | None = None
    base_url: str | None = None
    provider: str | None = None  # hf-inference: "groq", "auto", ...
    api_key_env: str | None = None  # name of the environment variable holding the key, never the key
    sampling: Sampling = Field(default_factory=Sampling)
    reasoning_effort: str | None = None
    concurrency: int = Field(default=4, ge=1, le=1024)
    timeout: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=4, ge=0, le=20)
    # retry policy: exponential backoff with full jitter from this base (seconds), capped; Retry-After wins
    backoff_base_s: float = Field(default=0.5, gt=0, le=60)
    batch_size: int = Field(default=8, ge=1, le=512)  # local model backends
    capture: bool = True  # route HTTP through the capture proxy when one runs
    options: dict[str, Any] = Field(default_factory=dict)  # kind-specific extras

    @field_validator("reasoning_effort")
    @classmethod
    def _effort(cls, value: str | None) -> str | None:
        if value is not None and value not in REASONING_EFFORTS:
            raise ValueError(f"must be one of {', '.join(REASONING_EFFORTS)}")
        return value

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        if value not in available_backend_kinds():
            raise ValueError(f"unknown backend kind {value!r}; known: {', '.join(available_backend_kinds())}")
        return value


@dataclass
class BackendContext:
    """What the run gives every backend: the capture proxy (if any) and the run folder."""

    proxy_url: str | None = None
    ca_bundle: str | None = None  # combined certifi + proxy CA, for HTTPS through the proxy
    run_dir: str | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class Backend(Protocol):
    config: BackendConfig

    @property
    def name(self) -> str: ...

    @property
    def max_batch(self) -> int:
        """> 1: the orchestrator groups cases and calls `complete_batch` (local models pad and batch)."""
        ...

    @property
    def speaks_http(self) -> bool:
        """It talks to a server over HTTP: a run routes it through the capture proxy (unless `capture = false`)."""
        ...

    def fingerprint(self) -> dict[str, Any]:
        """Everything that changes the answer (`harness.run.answer_key.key_material`: the whole config minus an
        explicit exclusion list, plus what the backend resolves at run time). Goes into the result-store key."""
        ...

    async def complete(self, request: ChatRequest, *, correlation: str | None = None) -> Completion:
        """One request. Raises `harness.errors.BackendError` on failure (retryable or not)."""
        ...

    async def complete_batch(self, requests: list[ChatRequest]) -> list[Completion]:
        ...

    async def aclose(self) -> None:
        ...


BackendFactory = Callable[[BackendConfig, BackendContext], Backend]
BACKENDS = Registry("backend kind")
# Modules that register backend kinds; imported lazily (they keep heavy imports inside their factories).
BACKEND_MODULES = [
    "harness.backends.transformers_local",
    "harness.backends.openai_compatible",
    "harness.backends.hf_inference",
    "harness.backends.roost",
]


def prompt_date() -> str:
    """The `Current date:` a prompt rendered on this machine today carries (the local date, as the chat template's
    strftime_now and the harness's own renders use)."""
    return datetime.date.today().isoformat()


def backend(kind: str, description: str = "") -> Callable[[BackendFactory], BackendFactory]:
    """Register `factory(config, context) -> Backend` as backend kind `kind` (a second factory is refused)."""
    return BACKENDS.register(kind, description)


def _load_modules() -> None:
    for module in BACKEND_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:  # a real missing dependency inside an existing module
                raise


def available_backend_kinds() -> list[str]:
    _load_modules()
    return BACKENDS.names()


def describe_backend_kinds() -> dict[str, str]:
    _load_modules()
    return BACKENDS.describe()


def create_backend(config: BackendConfig, context: BackendContext | None = None) -> Backend:
    _load_modules()
    return BACKENDS.get(config.kind).factory(config, context or BackendContext())


class RemoteBackend:
    """The shared shape of HTTP backends: one request per call (the orchestrator bounds concurrency), a client
    built on first use, and a fingerprint of what changes the answer. Subclasses add `complete`, `_get_client`
    and what they resolve at run time (request fields they add) in `resolved`."""

    def __init__(self, config: BackendConfig, context: BackendContext):
        self.config = config
        self.context = context
        self._client: Any = None

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def max_batch(self) -> int:
        return 1

    @property
    def speaks_http(self) -> bool:
        return True

    def fingerprint(self) -> dict[str, Any]:
        """Everything that changes the answer (`harness.run.answer_key`): the config and what it resolves to."""
        from harness.run.answer_key import key_material

        return key_material(self.config, self.resolved())

    def resolved(self) -> dict[str, Any]:
        """What the backend adds to its config at run time that changes the answer (request fields it sends)."""
        return {}

    async def complete(self, request: ChatRequest, *, correlation: str | None = None) -> Completion:
        raise NotImplementedError

    async def complete_batch(self, requests: list[ChatRequest]) -> list[Completion]:
        import asyncio

        return list(await asyncio.gather(*(self.complete(r) for r in requests)))

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            close = getattr(client, "aclose", None) or client.close  # httpx: aclose; openai and hf clients: close
            await close()


def proxy_verify(context: BackendContext, capture: bool) -> tuple[str | None, Any]:
    """(proxy URL, `verify` for httpx) for a backend: through the capture proxy when one runs and the backend
    allows it, trusting the combined certifi + proxy CA bundle; otherwise direct with default verification."""
    proxy = context.proxy_url if capture else None
    if not proxy or not context.ca_bundle:
        return proxy, True
    import ssl

    return proxy, ssl.create_default_context(cafile=context.ca_bundle)

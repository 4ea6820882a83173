"""The renderer registry: one request + a pinned date -> the exact prompt token ids a backend feeds the model.

A renderer module registers a factory with `@renderer(name, description)`; the factory takes the resolved `Assets`
and returns an object with `name`, `description` and `render(request, *, date) -> list[int]`. Factories do their
heavy setup (harmony encoding, tokenizer, compiled template) once; `get_renderer` caches the built renderer per
(name, assets), so rendering thousands of requests pays that cost once.
"""

from __future__ import annotations

import datetime
import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from harness.errors import HarnessError

if TYPE_CHECKING:  # assets imports nothing heavy either, but keep the registry free of it at import time
    from harness.assets import Assets
    from harness.request import ChatRequest

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@runtime_checkable
class Renderer(Protocol):
    name: str
    description: str

    def render(self, request: ChatRequest, *, date: str) -> list[int]: ...


Factory = Callable[["Assets"], Renderer]


@dataclass(frozen=True)
class _Registration:
    name: str
    description: str
    factory: Factory


_REGISTRY: dict[str, _Registration] = {}
_BUILT: dict[tuple[str, Assets], Renderer] = {}
# Renderer families spelled `PREFIX@WHERE` (e.g. `vllm@http://127.0.0.1:8000`): factory(where, assets)
FamilyFactory = Callable[[str, "Assets"], Renderer]
_FAMILIES: dict[str, _Registration] = {}


def renderer(name: str, description: str) -> Callable[[Factory], Factory]:
    """Register `factory(assets) -> Renderer` under `name` (the decorated function is returned unchanged)."""
    return _registrar(_REGISTRY, name, description, "renderer")


def renderer_family(prefix: str, description: str) -> Callable[[FamilyFactory], FamilyFactory]:
    """Register `factory(where, assets) -> Renderer` for the names `prefix@where` (a server's URL, say)."""
    return _registrar(_FAMILIES, prefix, description, "renderer family")


def _registrar(table: dict[str, _Registration], name: str, description: str, what: str):
    def register(factory):
        if name in table and table[name].factory is not factory:
            raise ValueError(f"{what} {name!r} is registered twice")
        table[name] = _Registration(name, description, factory)
        return factory

    return register


def available_renderers() -> list[str]:
    return sorted(_REGISTRY)


def describe_renderers() -> dict[str, str]:
    """Name -> one-line description, for `--help` texts and reports (families as `prefix@URL`)."""
    described = {name: _REGISTRY[name].description for name in available_renderers()}
    described.update({f"{prefix}@URL": _FAMILIES[prefix].description for prefix in sorted(_FAMILIES)})
    return described


@functools.lru_cache(maxsize=1)
def _default_assets() -> Assets:
    from harness.assets import resolve

    return resolve(None)


def get_renderer(name: str, assets: Assets | None = None) -> Renderer:
    """The renderer registered as `name`, built once per assets (default: the offline assets)."""
    prefix, at, where = name.partition("@")
    registration = _FAMILIES.get(prefix) if at else _REGISTRY.get(name)
    if registration is None:
        families = "".join(f", {p}@URL" for p in sorted(_FAMILIES))
        raise HarnessError(f"unknown renderer {name!r}; available: {', '.join(available_renderers())}{families}")
    if at and not where:
        raise HarnessError(f"renderer {name!r} names no server: spell it {prefix}@URL")
    assets = assets if assets is not None else _default_assets()
    key = (name, assets)
    built = _BUILT.get(key)
    if built is None:
        built = registration.factory(where, assets) if at else registration.factory(assets)
        _BUILT[key] = built
    return built


def render_all(request: ChatRequest, names: Sequence[str], *, date: str,
               assets: Assets | None = None) -> dict[str, list[int]]:
    """Render one request through several renderers with the same pinned date."""
    check_date(date)
    renderers = [get_renderer(name, assets) for name in names]  # unknown names fail before any work
    return {r_name: r.render(request, date=date) for r_name, r in zip(names, renderers)}


def check_date(date: str) -> str:
    """Renderers pin the `Current date:` line; a malformed date is bad input, not a render difference."""
    if isinstance(date, str) and _DATE.match(date):
        try:
            datetime.date.fromisoformat(date)
            return date
        except ValueError:
            pass
    raise HarnessError(f"date must be a calendar date YYYY-MM-DD, got {date!r}")

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
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from harness.errors import HarnessError
from harness.registry import Registry

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


RENDERERS = Registry("renderer")
# Renderer families spelled `PREFIX@WHERE` (e.g. `vllm@http://127.0.0.1:8000`): factory(where, assets)
FamilyFactory = Callable[[str, "Assets"], Renderer]
FAMILIES = Registry("renderer family")
_BUILT: dict[tuple[str, Assets], Renderer] = {}


def renderer(name: str, description: str) -> Callable[[Factory], Factory]:
    """Register `factory(assets) -> Renderer` under `name` (the decorated function is returned unchanged)."""
    return RENDERERS.register(name, description)


def renderer_family(prefix: str, description: str) -> Callable[[FamilyFactory], FamilyFactory]:
    """Register `factory(where, assets) -> Renderer` for the names `prefix@where` (a server's URL, say)."""
    return FAMILIES.register(prefix, description)


def available_renderers() -> list[str]:
    return RENDERERS.names()


def describe_renderers() -> dict[str, str]:
    """Name -> one-line description, for `--help` texts and reports (families as `prefix@URL`)."""
    return {**RENDERERS.describe(), **{f"{prefix}@URL": text for prefix, text in FAMILIES.describe().items()}}


@functools.lru_cache(maxsize=1)
def _default_assets() -> Assets:
    from harness.assets import resolve

    return resolve(None)


def get_renderer(name: str, assets: Assets | None = None) -> Renderer:
    """The renderer registered as `name`, built once per assets (default: the offline assets)."""
    prefix, at, where = name.partition("@")
    if (prefix not in FAMILIES) if at else (name not in RENDERERS):
        families = "".join(f", {p}@URL" for p in FAMILIES.names())
        raise HarnessError(f"unknown renderer {name!r}; available: {', '.join(available_renderers())}{families}")
    registration = FAMILIES.get(prefix) if at else RENDERERS.get(name)
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

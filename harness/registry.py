"""One registry mechanism for everything the harness looks up by name: renderers, backend kinds, label parsers.

    RENDERERS = Registry("renderer")

    @RENDERERS.register("harmony", "openai-harmony as OpenAI documents it")
    def _harmony(assets): ...

A name is registered once (a second factory under it is refused), its description stays with its factory, and an
unknown name is one clear `HarnessError` that lists the known ones. Factories import their heavy modules when
they are called, so listing or validating names costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.errors import HarnessError


@dataclass(frozen=True)
class Registration:
    name: str
    description: str
    factory: Callable[..., Any]


class Registry:
    def __init__(self, what: str) -> None:
        self.what = what  # "renderer", "backend kind", ... (for messages)
        self._entries: dict[str, Registration] = {}

    def register(self, name: str, description: str = "") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: register `factory` under `name` (returned unchanged)."""

        def add(factory: Callable[..., Any]) -> Callable[..., Any]:
            known = self._entries.get(name)
            if known is not None and known.factory is not factory:
                raise ValueError(f"{self.what} {name!r} is registered twice")
            self._entries[name] = Registration(name, description, factory)
            return factory

        return add

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def get(self, name: str) -> Registration:
        entry = self._entries.get(name)
        if entry is None:
            raise HarnessError(f"unknown {self.what} {name!r}; known: {', '.join(self.names()) or 'none'}")
        return entry

    def names(self) -> list[str]:
        return sorted(self._entries)

    def describe(self) -> dict[str, str]:
        return {name: self._entries[name].description for name in self.names()}

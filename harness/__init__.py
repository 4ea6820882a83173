"""gpt-oss backend-equivalence harness.

The library behind the `harness` command, usable from a notebook:

    from harness import render_diff, diff_tokens, parse_tokens, compare, stats
    from harness.request import ChatRequest

    result = render_diff(ChatRequest.from_body(body), ["harmony", "hf-template"], date="2026-01-01")
    labels = stats(pandas.read_csv("reports/spam-offline/labels.csv"))

Names resolve lazily, so `import harness` stays cheap (no torch, no transformers).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "ChatRequest": ("harness.request", "ChatRequest"),
    "render_all": ("harness.render", "render_all"),
    "get_renderer": ("harness.render", "get_renderer"),
    "render_diff": ("harness.diff", "render_diff"),
    "diff_tokens": ("harness.diff", "diff_tokens"),
    "parse_tokens": ("harness.render.parser", "parse_tokens"),
    "parse_text": ("harness.render.parser", "parse_text"),
    "stats": ("harness.stats", "compute_stats"),
    "compare": ("harness.run.compare", "run_compare"),
    "CompareOptions": ("harness.run.compare", "CompareOptions"),
    "load_scenario": ("harness.scenario", "load_scenario"),
    "resolve_assets": ("harness.assets", "resolve"),
}

__all__ = [
    "ChatRequest",
    "CompareOptions",
    "compare",
    "diff_tokens",
    "get_renderer",
    "load_scenario",
    "parse_text",
    "parse_tokens",
    "render_all",
    "render_diff",
    "resolve_assets",
    "stats",
]


def __getattr__(name: str) -> Any:
    try:
        module_name, attribute = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'harness' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module_name), attribute)
    globals()[name] = value
    return value

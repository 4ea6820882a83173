"""Number formatting shared by the markdown and HTML views: an undefined value is always "-", never "nan"."""

from __future__ import annotations

import math
from typing import Any

DASH = "-"
DASH_NOTE = "`-` marks a value that is not defined for this run (the notes under each table say why)."


def defined(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and not math.isfinite(value))


def num(value: Any, digits: int = 3) -> str:
    if not defined(value):
        return DASH
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    return f"{float(value):.{digits}f}"


def pct(value: Any, digits: int = 1) -> str:
    return f"{100 * float(value):.{digits}f}%" if defined(value) else DASH


def interval(bounds: Any, as_pct: bool = True, digits: int = 1) -> str:
    if not bounds or len(bounds) != 2 or not all(defined(v) for v in bounds):
        return DASH
    show = (lambda v: pct(v, digits)) if as_pct else (lambda v: num(v, 3))
    return f"{show(bounds[0])} - {show(bounds[1])}"


def pvalue(value: Any) -> str:
    if not defined(value):
        return DASH
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def seconds(value: Any) -> str:
    if not defined(value):
        return DASH
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"



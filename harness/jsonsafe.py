"""Strict JSON: numpy scalars become Python numbers, NaN and infinities become null (never invalid JSON).
Used by the statistics and by the report (summary.json), so that no view ever prints "nan"."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np


def plain(value: Any) -> Any:
    """Recursively turn dataclasses, numpy values and tuples into JSON-ready Python values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return number if math.isfinite(number) else None
    return value


def finite(value: float | None) -> float | None:
    """A float, or None when it is missing or not finite."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None

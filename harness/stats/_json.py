"""Strict JSON helpers live in harness.jsonsafe (the report uses them too, without importing the statistics)."""

from harness.jsonsafe import finite, plain

__all__ = ["finite", "plain"]

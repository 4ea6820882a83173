"""One rich Console for every command: wide enough in logs and CI (no TTY) that names are not cut."""

from __future__ import annotations

import os
import sys

from rich.console import Console

LOG_WIDTH = 160  # rich assumes 80 columns without a terminal; CI logs and `| tee` have room


def make_console(*, stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() or os.environ.get("COLUMNS") else LOG_WIDTH
    return Console(stderr=stderr, width=width)

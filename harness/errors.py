"""Errors the CLI turns into one clear line and an exit code, never a traceback."""


class HarnessError(Exception):
    """Bad input or usage: the CLI prints `harness: error: <message>` and exits 2."""

    exit_code = 2


class DriftFound(Exception):
    """A finding the command gates on (drift): exit 1."""

    exit_code = 1

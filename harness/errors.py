"""The project's errors, in one place.

`HarnessError` and `DriftFound` are what the CLI turns into one clear line and an exit code, never a traceback;
`BackendError` is one failed backend call, which the orchestrator retries or records as that item's outcome.
"""


class HarnessError(Exception):
    """Bad input or usage: the CLI prints `harness: error: <message>` and exits 2."""

    exit_code = 2


class DriftFound(Exception):
    """A finding the command gates on (drift): exit 1."""

    exit_code = 1


class BackendError(Exception):
    """A failed call, with enough to decide about a retry and to record its cause."""

    def __init__(self, cause: str, message: str, *, retryable: bool = False, retry_after: float | None = None,
                 status: int | None = None):
        super().__init__(message)
        self.cause = cause  # "rate-limit", "server-error", "timeout", "malformed-response", "connection", ...
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status

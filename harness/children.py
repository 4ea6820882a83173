"""Child processes that never outlive the harness: servers and proxies it starts die with it, even on SIGKILL.

`popen_child(command, ...)` starts the child in a session of its own (a Ctrl-C in the terminal reaches the
harness once, and stopping the child's process group also ends what it spawned, such as vLLM's engine) and, on
Linux, asks the kernel to send it SIGTERM when the harness dies (`prctl(PR_SET_PDEATHSIG)`), which a SIGKILL
cannot prevent. The signal follows the *thread* that started the child, so start children from the main thread
(or a thread that lives as long as they should).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
from typing import Any

PR_SET_PDEATHSIG = 1
# loaded here, in the parent: between fork and exec the child may only make the call (no lookups, no imports)
_LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True) \
    if sys.platform.startswith("linux") else None


def _die_with_parent(parent: int) -> None:  # runs in the child, between fork and exec
    _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def popen_child(command: list[str], **kwargs: Any) -> subprocess.Popen:
    """`subprocess.Popen` for a server or proxy the harness owns (own session, dies with the harness)."""
    if sys.platform.startswith("linux"):
        parent = os.getpid()
        kwargs["preexec_fn"] = lambda: _die_with_parent(parent)
    return subprocess.Popen(command, start_new_session=True, **kwargs)


def terminate_child(process: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM the child's whole process group, then SIGKILL what is left after `grace` seconds."""
    if process.poll() is None:
        _signal_group(process, signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait(grace)
    _signal_group(process, signal.SIGKILL)  # stragglers of a leader that already exited


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass

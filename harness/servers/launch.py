"""Start a local server and get a handle: `start(kind, **opts) -> ServerHandle`.

Kinds: `harmony-reference`, `fault`, `roost` (the project's own apps; in-process by default, or a subprocess with
`subprocess=True`) and `transformers-serve` (always a subprocess: `transformers serve` on the tiny model, offline).
Every server binds 127.0.0.1 on a free port (or `port=`). A handle stops what it started (`stop()`, or use it as a
context manager) and tells what the server saw (`requests_seen()`).

    with start("fault", script=["500", "ok"]) as server:
        client = OpenAI(base_url=server.base_url, api_key="x")
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess as _subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Self

import httpx

from harness.errors import HarnessError
from harness.servers._http import HOST, READY_PREFIX, Recorder, ServerThread, bind_socket

APP_MODULES = {
    "harmony-reference": "harness.servers.harmony_server",
    "fault": "harness.servers.fault_server",
    "roost": "harness.servers.roost_server",
}
KINDS = (*APP_MODULES, "transformers-serve")


class ServerHandle:
    """A running local server. `base_url` ends with /v1 (what OpenAI clients take)."""

    def __init__(self, kind: str, port: int, *, thread: ServerThread | None = None, recorder: Recorder | None = None,
                 process: _subprocess.Popen | None = None, log_path: Path | None = None, model: str | None = None,
                 cleanup: list[Path] | None = None) -> None:
        self.kind = kind
        self.port = port
        self.model = model  # what to send as `model` (transformers-serve: the local model path)
        self.log_path = log_path
        self._thread = thread
        self._recorder = recorder
        self._process = process
        self._cleanup = cleanup or []
        self._stopped = False

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def requests_seen(self) -> list[dict[str, Any]]:
        """[{method, path, headers (secrets redacted), body (parsed JSON or text), at}] in arrival order."""
        if self._recorder is not None:
            return self._recorder.rows()
        if self.kind == "transformers-serve":
            raise HarnessError("transformers serve does not record requests; put the capture proxy in front of it")
        return httpx.get(f"{self.url}/_harness/requests", timeout=10).raise_for_status().json()

    def clear_requests(self) -> None:
        if self._recorder is not None:
            self._recorder.clear()
        else:
            httpx.delete(f"{self.url}/_harness/requests", timeout=10).raise_for_status()

    def set_script(self, script: list, **defaults: Any) -> None:
        """Fault server only: replace the script (and `content`, `reasoning`, `latency`, `retry_after`)."""
        httpx.post(f"{self.url}/_harness/script", json={"script": script, **defaults}, timeout=10).raise_for_status()

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._thread is not None:
            self._thread.stop()
        if self._process is not None:
            _terminate(self._process)
        for path in self._cleanup:
            shutil.rmtree(path, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"ServerHandle({self.kind!r}, base_url={self.base_url!r})"


def start(kind: str, *, subprocess: bool = False, port: int = 0, timeout: float = 120.0, **opts: Any) -> ServerHandle:
    """Start a `kind` server on 127.0.0.1. `opts` go to the app's `create_app` (JSON-encoded for a subprocess);
    for `transformers-serve`: `model` (local dir; default the tiny model), `home` (HF_HOME; default a temp dir)."""
    if kind == "transformers-serve":
        return start_transformers_serve(port=port, timeout=timeout, **opts)
    if kind not in APP_MODULES:
        raise HarnessError(f"unknown server kind {kind!r}; known: {', '.join(KINDS)}")
    if subprocess:
        return _start_subprocess(kind, port, timeout, opts)
    import importlib

    recorder = Recorder()
    app = importlib.import_module(APP_MODULES[kind]).create_app(recorder=recorder, **opts)
    thread = ServerThread(app, port=port).start(timeout=timeout)
    return ServerHandle(kind, thread.port, thread=thread, recorder=recorder)


def _start_subprocess(kind: str, port: int, timeout: float, opts: dict[str, Any]) -> ServerHandle:
    log_path = _log_path(kind)
    command = [sys.executable, "-m", APP_MODULES[kind], "--port", str(port), "--options", json.dumps(opts)]
    with open(log_path, "w") as log:  # the child keeps its own descriptor
        process = _popen(command, stdout=_subprocess.PIPE, stderr=log, env=_child_env())
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:  # read stdout for the ready line, then keep draining it into the log
        with process.stdout:
            for line in process.stdout:
                lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            line = None
        if line and line.startswith(READY_PREFIX):
            bound = int(line.strip().rsplit(":", 1)[1])
            return ServerHandle(kind, bound, process=process, log_path=log_path)
        if line is None:
            _terminate(process)
            raise HarnessError(f"{kind} server did not start within {timeout:.0f}s: {_tail(log_path)}")


def start_transformers_serve(*, model: str | None = None, home: str | None = None, port: int = 0,
                             timeout: float = 180.0, force_model: bool = False) -> ServerHandle:
    """`transformers serve` on 127.0.0.1 with HF_HOME at a run-local folder (its `hub` made) and HF_HUB_OFFLINE=1.
    The model is addressed by its local path (`handle.model`); `force_model` preloads it at start."""
    from harness.assets import resolve

    assets = resolve(model)
    if assets.model_dir is None:
        raise HarnessError(f"model {assets.model_id!r} has no weights to serve")
    executable = Path(sys.executable).parent / "transformers"
    if not executable.exists():
        found = shutil.which("transformers")
        if not found:
            raise HarnessError("the `transformers` CLI is missing; pip install 'transformers[serving]'")
        executable = Path(found)
    cleanup = []
    if home is None:
        home = tempfile.mkdtemp(prefix="harness-hf-home-")
        cleanup.append(Path(home))
    (Path(home) / "hub").mkdir(parents=True, exist_ok=True)  # /v1/models scans it and fails when it is missing
    if not port:
        with bind_socket(0) as sock:  # transformers serve binds itself; a just-freed port is the best we can do
            port = sock.getsockname()[1]
    env = {**_child_env(), "HF_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    command = [str(executable), "serve", "--host", HOST, "--port", str(port)]
    if force_model:
        command.append(str(assets.model_dir))
    log_path = _log_path("transformers-serve")
    with open(log_path, "w") as log:
        process = _popen(command, stdout=log, stderr=_subprocess.STDOUT, env=env)
    handle = ServerHandle("transformers-serve", port, process=process, log_path=log_path,
                          model=str(assets.model_dir), cleanup=cleanup)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            handle.stop()
            raise HarnessError(f"transformers serve exited with {process.returncode}: {_tail(log_path)}")
        try:
            if httpx.get(f"{handle.base_url}/models", timeout=2).status_code == 200:
                return handle
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    handle.stop()
    raise HarnessError(f"transformers serve did not answer /v1/models within {timeout:.0f}s: "
                       f"{_tail(log_path)}")


def _popen(command: list[str], **kwargs: Any) -> _subprocess.Popen:
    # own session: the child never gets the terminal's Ctrl-C twice, and stop() ends exactly this process
    return _subprocess.Popen(command, text=True, start_new_session=True, **kwargs)


def _child_env() -> dict[str, str]:
    """The environment for a child server: no hub tokens (a local server never needs one)."""
    secret_names = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HUGGINGFACE_HUB_TOKEN", "OPENAI_API_KEY", "GROQ_API_KEY")
    return {k: v for k, v in os.environ.items() if k not in secret_names}


def _terminate(process: _subprocess.Popen, grace: float = 10.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except _subprocess.TimeoutExpired:
            process.kill()
            process.wait(grace)


def _log_path(kind: str) -> Path:
    handle, name = tempfile.mkstemp(prefix=f"harness-{kind}-", suffix=".log")
    os.close(handle)
    return Path(name)


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(empty log)"

"""Start a local server and get a handle: `start(kind, **opts) -> ServerHandle`.

Kinds: `harmony-reference`, `fault`, `roost` (the project's own apps; in-process by default, or a subprocess with
`subprocess=True`), `transformers-serve` (always a subprocess: `transformers serve` on the tiny model, offline) and
`vllm` (the real vLLM OpenAI server from `.venv-vllm`, always a subprocess; `wait=False` returns at once and
`handle.wait_ready()` waits, so a run starts it beside its other backends).
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

from harness.children import popen_child, terminate_child
from harness.errors import HarnessError
from harness.servers._http import HOST, READY_PREFIX, Recorder, ServerThread, bind_socket

APP_MODULES = {
    "harmony-reference": "harness.servers.harmony_server",
    "fault": "harness.servers.fault_server",
    "roost": "harness.servers.roost_server",
}
KINDS = (*APP_MODULES, "transformers-serve", "vllm")
EXTERNAL_KINDS = ("transformers-serve", "vllm")  # other people's servers: no request recorder


class ServerHandle:
    """A running local server. `base_url` ends with /v1 (what OpenAI clients take)."""

    def __init__(self, kind: str, port: int, *, thread: ServerThread | None = None, recorder: Recorder | None = None,
                 process: _subprocess.Popen | None = None, log_path: Path | None = None, model: str | None = None,
                 cleanup: list[Path] | None = None, ready_path: str | None = None) -> None:
        self.kind = kind
        self.port = port
        self.model = model  # what to send as `model` (transformers-serve: the local model path)
        self.log_path = log_path
        self.ready_path = ready_path  # GET it until 200 (servers started without a ready line)
        self.served_by: str | None = None  # the serving package and version, where known (vllm: "vllm 0.32.0")
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
        if self.kind in EXTERNAL_KINDS:
            raise HarnessError(f"{self.kind} does not record requests; put the capture proxy in front of it")
        return httpx.get(f"{self.url}/_harness/requests", timeout=10).raise_for_status().json()

    def clear_requests(self) -> None:
        if self._recorder is not None:
            self._recorder.clear()
        else:
            httpx.delete(f"{self.url}/_harness/requests", timeout=10).raise_for_status()

    def set_script(self, script: list, **defaults: Any) -> None:
        """Fault server only: replace the script (and `content`, `reasoning`, `latency`, `retry_after`)."""
        httpx.post(f"{self.url}/_harness/script", json={"script": script, **defaults}, timeout=10).raise_for_status()

    def alive(self) -> bool:
        """The server's process is still running (in-process servers: until stopped)."""
        if self._process is not None:
            return self._process.poll() is None
        return not self._stopped

    def wait_ready(self, timeout: float) -> Self:
        """Wait until `ready_path` answers 200. A process that exits, or a timeout, stops it and raises one line
        naming its log."""
        if self.ready_path is None or self._process is None:
            return self
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                code = self._process.returncode
                self.stop()
                raise HarnessError(f"{self.kind} exited with {code} while starting; see {self.log_path}: "
                                   f"{_tail(self.log_path)}")
            try:
                if httpx.get(f"{self.url}{self.ready_path}", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.stop()
        raise HarnessError(f"{self.kind} did not answer {self.ready_path} within {timeout:.0f}s; see "
                           f"{self.log_path}: {_tail(self.log_path)}")

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


def start(kind: str, *, subprocess: bool = False, port: int = 0, timeout: float | None = None,
          **opts: Any) -> ServerHandle:
    """Start a `kind` server on 127.0.0.1. `opts` go to the app's `create_app` (JSON-encoded for a subprocess);
    for `transformers-serve`: `model` (local dir; default the tiny model), `home` (HF_HOME; default a temp dir)."""
    if kind == "transformers-serve":
        return start_transformers_serve(port=port, timeout=timeout or 180.0, **opts)
    if kind == "vllm":
        return start_vllm(port=port, timeout=timeout, **opts)
    timeout = timeout or 120.0
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
                          model=str(assets.model_dir), cleanup=cleanup, ready_path="/v1/models")
    return handle.wait_ready(timeout)


def start_vllm(*, model: str | None = None, served_model_name: str | None = None, port: int = 0,
               date: str | None = None, log_dir: str | Path | None = None, timeout: float | None = None,
               wait: bool = True, dtype: str = "float32") -> ServerHandle:
    """The real vLLM OpenAI server (`.venv-vllm`) on 127.0.0.1: the model (default: the tiny gpt-oss) in
    `dtype` (float32: the same numbers as the local float32 backends; bfloat16: as providers serve) with a bounded
    KV cache, `VLLM_SYSTEM_START_DATE` = `date`, its log `vllm.log` in `log_dir` (else
    a temp file). `wait=False` returns as soon as the process runs; `handle.wait_ready()` then waits."""
    from harness.assets import TINY_MODEL_ID, resolve
    from harness.servers.vllm_server import DTYPES, START_TIMEOUT_S, vllm_command, vllm_env, vllm_install

    if dtype not in DTYPES:
        raise HarnessError(f"vllm dtype {dtype!r} is not one of {', '.join(DTYPES)}")
    install = vllm_install()
    assets = resolve(model)
    if assets.model_dir is None:
        raise HarnessError(f"model {assets.model_id!r} has no weights to serve")
    name = served_model_name or (TINY_MODEL_ID if assets.model_id == TINY_MODEL_ID else assets.model_id)
    if not port:
        with bind_socket(0) as sock:  # vLLM binds itself; a just-freed port is the best we can do
            port = sock.getsockname()[1]
    if log_dir is not None:
        Path(log_dir).mkdir(parents=True, exist_ok=True)
        log_path = Path(log_dir) / "vllm.log"
    else:
        log_path = _log_path("vllm")
    command = vllm_command(install, assets.model_dir, served_model_name=name, port=port, dtype=dtype)
    with open(log_path, "w") as log:
        process = _popen(command, stdout=log, stderr=_subprocess.STDOUT, env=vllm_env(_child_env(), date=date),
                         cwd=tempfile.gettempdir())
    handle = ServerHandle("vllm", port, process=process, log_path=log_path, model=name, ready_path="/health")
    handle.served_by = install.served_by
    return handle.wait_ready(timeout or START_TIMEOUT_S) if wait else handle


def _popen(command: list[str], **kwargs: Any) -> _subprocess.Popen:
    # own session (Ctrl-C reaches the harness once; stop() ends the child's whole group) and dies with the harness
    return popen_child(command, text=True, **kwargs)


def _child_env() -> dict[str, str]:
    """The environment for a child server: no hub tokens (a local server never needs one)."""
    secret_names = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HUGGINGFACE_HUB_TOKEN", "OPENAI_API_KEY", "GROQ_API_KEY")
    return {k: v for k, v in os.environ.items() if k not in secret_names}


def _terminate(process: _subprocess.Popen, grace: float = 10.0) -> None:
    terminate_child(process, grace)


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

"""What every local server shares: a request recorder, an in-process uvicorn thread, a subprocess entry point.

- `Recorder` + `RecordingMiddleware`: every request a server sees ({method, path, headers, body}), secrets
  redacted, readable in-process or over `GET /_harness/requests` (`DELETE` clears it).
- `ServerThread`: uvicorn.Server in a background thread on a socket bound to 127.0.0.1 (port 0 = a free port),
  with a ready event; `stop()` shuts it down and joins.
- `serve_main`: `python -m harness.servers.<name> --port P --options JSON` runs one in the foreground and prints
  `harness-server listening on http://127.0.0.1:PORT` once it accepts connections (launchers wait for that line).
- `TransportH11Protocol`: uvicorn's h11 protocol that hands the ASGI app its transport, so the fault server can
  close a connection without answering (ASGI itself has no way to do that).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from harness.capture.addon import SECRET_HEADERS

HOST = "127.0.0.1"
READY_PREFIX = "harness-server listening on "
TRANSPORT_KEY = "harness.transport"


def redact_header(name: str, value: str) -> str:
    """Credential headers (the capture's list) are kept out of every record; a short hash of the secret lets tests
    match a known key."""
    if name.lower() not in SECRET_HEADERS:
        return value
    scheme, _, secret = value.partition(" ")
    if not secret:  # no scheme: the whole value is the secret
        scheme, secret = "", value
    return f"{scheme + ' ' if scheme else ''}{secret_fingerprint(secret)}"


def secret_fingerprint(secret: str) -> str:
    """What a redacted header shows for `secret` (tests compare this, never the secret itself)."""
    return f"<redacted sha256:{hashlib.sha256(secret.encode()).hexdigest()[:12]}>"


class Recorder:
    """Thread-safe list of requests seen; the in-process handle reads it directly."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: list[dict[str, Any]] = []

    def add(self, scope: dict, body: bytes) -> None:
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope.get("headers", []):
            name = raw_name.decode("latin-1").lower()
            headers[name] = redact_header(name, raw_value.decode("latin-1"))
        try:
            parsed: Any = json.loads(body) if body else None
        except (ValueError, UnicodeDecodeError):
            parsed = body.decode("utf-8", "replace")
        query = scope.get("query_string", b"").decode("latin-1")
        row = {"method": scope["method"], "path": scope["path"] + (f"?{query}" if query else ""),
               "headers": headers, "body": parsed, "at": time.time()}
        with self._lock:
            self._rows.append(row)

    def rows(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(row) for row in self._rows]

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()


class RecordingMiddleware:
    """Pure ASGI: reads the whole body once, records it, replays it to the app (`/_harness/*` is not recorded)."""

    def __init__(self, app: Callable, recorder: Recorder) -> None:
        self.app = app
        self.recorder = recorder

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_harness/"):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        self.recorder.add(scope, body)
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # later calls wait for the disconnect, as usual

        await self.app(scope, replay, send)


def add_harness_routes(app: Any, recorder: Recorder) -> None:
    """`GET /_harness/requests` (what was seen) and `DELETE /_harness/requests` (forget it) on a FastAPI app."""

    @app.get("/_harness/requests")
    async def _requests() -> list[dict]:
        return recorder.rows()

    @app.delete("/_harness/requests")
    async def _clear() -> dict:
        recorder.clear()
        return {"cleared": True}


def openai_error(status: int, message: str, kind: str | None = None) -> Any:
    """An OpenAI-style error body: {"error": {"message", "type", "param", "code"}}."""
    from fastapi.responses import JSONResponse

    kinds = {400: "BadRequestError", 404: "NotFoundError", 422: "BadRequestError", 429: "RateLimitError",
             500: "InternalServerError", 503: "ServiceUnavailableError"}
    return JSONResponse({"error": {"message": message, "type": kind or kinds.get(status, "APIError"),
                                   "param": None, "code": status}}, status_code=status)


class TransportH11Protocol(H11Protocol):
    """Puts the connection's transport into each request scope (`scope["extensions"]["harness.transport"]`)."""

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # The request task was only scheduled by super(); it has not run, so the scope can still be extended.
        cycle = getattr(self, "cycle", None)
        if cycle is not None:
            cycle.scope.setdefault("extensions", {})[TRANSPORT_KEY] = self.transport


def bind_socket(port: int = 0, host: str = HOST) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)  # the fault server takes 64+ concurrent clients
    sock.set_inheritable(True)
    return sock


def make_config(app: Any, log_level: str = "warning") -> uvicorn.Config:
    return uvicorn.Config(app, log_level=log_level, http=TransportH11Protocol, lifespan="off",
                          timeout_graceful_shutdown=2, timeout_keep_alive=30, access_log=False)


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self._on_ready()


class ServerThread:
    """uvicorn in a daemon thread. `start()` returns once the socket accepts connections."""

    def __init__(self, app: Any, port: int = 0, log_level: str = "warning") -> None:
        self.sock = bind_socket(port)
        self.port: int = self.sock.getsockname()[1]
        self.ready = threading.Event()
        self.server = _Server(make_config(app, log_level), self.ready.set)
        self.thread = threading.Thread(target=self._run, name=f"harness-server-{self.port}", daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            self.server.run(sockets=[self.sock])
        except BaseException as exc:  # noqa: BLE001 -- reported by start()
            self.error = exc
        finally:
            self.ready.set()

    def start(self, timeout: float = 30.0) -> ServerThread:
        self.thread.start()
        if not self.ready.wait(timeout) or self.error is not None or not self.server.started:
            self.stop()
            raise RuntimeError(f"in-process server on port {self.port} did not start: {self.error!r}")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(timeout)
        if self.thread.is_alive():  # a handler still hangs past the graceful window: stop waiting for it
            self.server.force_exit = True
            self.thread.join(timeout)
        self.sock.close()


def serve_main(name: str, build_app: Callable[..., Any], argv: list[str] | None = None) -> int:
    """Foreground entry point shared by `python -m harness.servers.<name>` modules."""
    parser = argparse.ArgumentParser(prog=f"python -m harness.servers.{name}")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    parser.add_argument("--options", default="{}", help="JSON object of keyword options for the app")
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    options = json.loads(args.options)
    if not isinstance(options, dict):
        parser.error("--options must be a JSON object")
    app = build_app(**options)
    sock = bind_socket(args.port)
    port = sock.getsockname()[1]

    def announce() -> None:
        print(f"{READY_PREFIX}http://{HOST}:{port}", flush=True)

    server = _Server(make_config(app, args.log_level), announce)
    try:
        server.run(sockets=[sock])  # uvicorn handles SIGINT/SIGTERM here (main thread)
    finally:
        sock.close()
    return 0


async def sleep_unless_disconnected(request: Any, seconds: float, step: float = 0.05) -> bool:
    """Sleep up to `seconds`; return early (True) when the client went away, so hangs end with their client."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            return False
        await asyncio.sleep(min(step, left))
        if await request.is_disconnected():
            return True


def main_guard(name: str, build_app: Callable[..., Any]) -> None:
    raise SystemExit(serve_main(name, build_app, sys.argv[1:]))

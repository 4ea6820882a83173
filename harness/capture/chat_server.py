"""A tiny OpenAI-compatible chat server (stdlib only) that keeps every request it received, byte for byte.

For tests and benches of the capture path: a real local server rather than a mocked transport.
`POST /v1/chat/completions` answers a chat completion (SSE chunks when `"stream": true`); the model name
`close-connection` makes it drop the connection without answering; `delay_s` slows every answer down.
Binds 127.0.0.1 on a free port; HTTPS with `tls=(cert, key)` (see `self_signed_cert`).
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    header_names: list[str]
    body: bytes


@dataclass
class ChatServer:
    tls: tuple[Path, Path] | None = None
    delay_s: float = 0.0
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        owner = self

        class Handler(_Handler):
            server_owner = owner

        server = _Server(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        if self.tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(self.tls[0]), str(self.tls[1]))
            server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/v1"

    def record(self, item: Received) -> None:
        with self._lock:
            self.received.append(item)


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # bursts of concurrent connects must not overflow the listen backlog
    daemon_threads = True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK stalls
    server_owner: ChatServer

    def log_message(self, format, *args) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._record(b"")
        self._send_json(200, {"object": "list", "data": [{"id": "tiny", "object": "model"}]})

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length)
        self._record(body)
        owner = self.server_owner
        if owner.delay_s:
            time.sleep(owner.delay_s)
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            self._send_json(400, {"error": {"message": "body is not JSON"}})
            return
        if payload.get("model") == "close-connection":
            self.close_connection = True
            self.connection.close()  # no status line: the client sees a dropped connection
            return
        text = "ok:" + str(len(payload.get("messages") or []))
        if payload.get("stream"):
            self._send_stream(payload, text)
        else:
            self._send_json(200, {
                "id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()),
                "model": payload.get("model", "tiny"),
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": text, "reasoning": "thinking"}}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}},
                extra_headers={"x-inference-provider": "local-test"})

    def _record(self, body: bytes) -> None:
        self.server_owner.record(Received(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                                          [k.lower() for k in self.headers], body))

    def _send_json(self, status: int, obj: dict, extra_headers: dict[str, str] | None = None) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for key, value in (extra_headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_stream(self, payload: dict, text: str) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("connection", "close")
        self.end_headers()
        self.close_connection = True
        model = payload.get("model", "tiny")
        deltas = [{"role": "assistant", "content": ""}, {"reasoning": "think"}, {"reasoning": "ing"}]
        deltas += [{"content": piece} for piece in (text[:2], text[2:])]
        for i, delta in enumerate(deltas):
            chunk = {"id": "chatcmpl-stream", "object": "chat.completion.chunk", "model": model,
                     "choices": [{"index": 0, "delta": delta,
                                  "finish_reason": "stop" if i == len(deltas) - 1 else None}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


def self_signed_cert(folder: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost (needs the `cryptography` package)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "harness test upstream")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host)),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "upstream-cert.pem", folder / "upstream-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path

"""Proxy lifecycle: `mitmdump` from `.venv-mitm` on 127.0.0.1, a run-local CA, the capture addon, clean stop.

    with ProxySession(Path("captures/run1")) as proxy:
        subprocess.run(cmd, env={**os.environ, **proxy.env()})     # any program
        httpx.Client(**proxy.httpx_kwargs())                         # in-process clients
    flows = read_flows(proxy.flows_path)

The CA lives in `<out>/mitm/` (never installed system-wide); its private key is removed when the session ends,
so a capture folder can be shared. mitmdump's own log goes through the same redaction as the flows.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any, Self

from harness.capture.addon import redact_text
from harness.children import popen_child, terminate_child
from harness.errors import HarnessError

ADDON_PATH = Path(__file__).resolve().parent / "addon.py"
PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
FLOWS_FILE = "flows.jsonl"
CA_BUNDLE_FILE = "ca-bundle.pem"
LOG_FILE = "mitmdump.log"
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
CA_VARS = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS")


class ProxyDied(HarnessError):
    """The proxy exited before the session ended: flows written until then are kept."""


def mitmdump_path() -> Path:
    """$HARNESS_MITMDUMP, else `.venv-mitm/bin/mitmdump` at the project root."""
    override = os.environ.get("HARNESS_MITMDUMP")
    path = Path(override).expanduser() if override else PROJECT_ROOT / ".venv-mitm" / "bin" / "mitmdump"
    if not path.exists():
        raise HarnessError(f"mitmdump not found at {path}; run `make setup` (it builds .venv-mitm) "
                           "or set HARNESS_MITMDUMP")
    return path


def mitmproxy_version() -> str | None:
    """The mitmproxy version beside the mitmdump in use (its own venv), read from the installed metadata; None
    when there is no mitmdump or its venv cannot be read (a system mitmdump, say)."""
    from importlib.metadata import distributions

    try:
        venv = mitmdump_path().resolve().parent.parent
    except HarnessError:
        return None
    for site in sorted(venv.glob("lib/python*/site-packages")):
        for dist in distributions(path=[str(site)]):
            if (dist.metadata["Name"] or "").lower() == "mitmproxy":
                return dist.version
    return None


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ProxySession:
    """A running `mitmdump` that writes `<out>/flows.jsonl`; use as a context manager."""

    def __init__(self, out_dir: str | Path, *, upstream_ca: str | Path | None = None, startup_timeout: float = 30.0,
                 extra_options: dict[str, str] | None = None):
        self.out_dir = Path(out_dir).resolve()
        self.upstream_ca = Path(upstream_ca).resolve() if upstream_ca else None
        self.startup_timeout = startup_timeout
        self.extra_options = dict(extra_options or {})
        self.confdir = self.out_dir / "mitm"
        self.flows_path = self.out_dir / FLOWS_FILE
        self.ca_bundle = self.out_dir / CA_BUNDLE_FILE
        self.log_path = self.out_dir / LOG_FILE
        self.port: int | None = None
        self.died: str | None = None  # why the proxy stopped early, when it did
        self._proc: subprocess.Popen | None = None
        self._log_thread: threading.Thread | None = None
        self._log_tail: deque[str] = deque(maxlen=20)

    # -- lifecycle --------------------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.stop(raise_if_died=exc_type is None)

    def start(self) -> None:
        if self.upstream_ca is not None and not self.upstream_ca.is_file():
            raise HarnessError(f"upstream CA file not found: {self.upstream_ca}")
        mitmdump = mitmdump_path()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.confdir.mkdir(parents=True, exist_ok=True)
        # a new CA per session: an earlier session's key is gone, and a stale cert must not pass for ready
        for stale in self.confdir.glob("mitmproxy-ca*"):
            stale.unlink()
        self.flows_path.touch()
        for attempt in range(3):  # a free port can be taken between probing and binding: retry on another
            self.port = free_port()
            self._spawn(mitmdump)
            if self._wait_ready():
                self._write_ca_bundle()
                return
            self._terminate()
        raise HarnessError(f"mitmdump did not start: {self._tail() or 'no output'}")

    def _spawn(self, mitmdump: Path) -> None:
        options = {
            "listen_host": "127.0.0.1",
            "listen_port": str(self.port),
            "confdir": str(self.confdir),
            "harness_capture_out": str(self.flows_path),
            # accept the client's request before dialing upstream: a failed upstream still yields a full record
            "connection_strategy": "lazy",
            "flow_detail": "0",
            "termlog_verbosity": "warn",
            **({"ssl_verify_upstream_trusted_ca": str(self.upstream_ca)} if self.upstream_ca else {}),
            **self.extra_options,
        }
        command = [str(mitmdump), "-q", "-s", str(ADDON_PATH)]
        for key, value in options.items():
            command += ["--set", f"{key}={value}"]
        # the proxy itself must not go through a proxy, nor read a CA bundle we set for clients
        env = {k: v for k, v in os.environ.items() if k.upper() not in PROXY_VARS + CA_VARS + ("NO_PROXY",)}
        self._log_tail.clear()
        self._proc = popen_child(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, env=env, cwd=self.out_dir)  # dies with the harness
        self._log_thread = threading.Thread(target=self._pump_log, args=(self._proc,), daemon=True)
        self._log_thread.start()

    def _pump_log(self, proc: subprocess.Popen) -> None:
        # mitmdump's messages may quote URLs or headers: they are redacted before they reach the log file
        with open(self.log_path, "a", encoding="utf-8") as log:
            for raw in proc.stdout:
                line = redact_text(raw.decode("utf-8", "replace")).rstrip("\n")
                self._log_tail.append(line)
                log.write(line + "\n")
                log.flush()

    def _wait_ready(self) -> bool:
        ca_cert = self.confdir / "mitmproxy-ca-cert.pem"
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                return False
            if ca_cert.exists():
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                        return True
                except OSError:
                    pass
            time.sleep(0.05)
        return False

    def _write_ca_bundle(self) -> None:
        """certifi's CAs plus the proxy CA: clients that replace their trust store (SSL_CERT_FILE) keep public CAs."""
        import certifi

        proxy_ca = (self.confdir / "mitmproxy-ca-cert.pem").read_text()
        self.ca_bundle.write_text(Path(certifi.where()).read_text() + "\n# harness capture proxy CA\n" + proxy_ca)

    @property
    def pid(self) -> int | None:
        """The mitmdump process id while it runs (for CPU accounting; stop it with `stop()`)."""
        return self._proc.pid if self._proc is not None else None

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, raise_if_died: bool = True) -> None:
        """Stop the proxy (terminate, then kill); raise `ProxyDied` if it had already died on its own."""
        if self._proc is None:
            return
        died_early = self._proc.poll() is not None
        if died_early:
            self.died = f"mitmdump exited with code {self._proc.returncode}"
        self._terminate()
        self._remove_ca_key()
        if died_early and raise_if_died:
            raise ProxyDied(f"the capture proxy died mid-run ({self.died}; {self._tail() or 'no output'}); "
                            f"flows captured until then are in {self.flows_path}")

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        terminate_child(proc)
        if self._log_thread is not None:
            self._log_thread.join(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()

    def _remove_ca_key(self) -> None:
        # the public cert stays (in the bundle and confdir); the private key never outlives the run
        for name in ("mitmproxy-ca.pem", "mitmproxy-ca.p12"):
            (self.confdir / name).unlink(missing_ok=True)

    def _tail(self) -> str:
        return " | ".join(line for line in self._log_tail if line.strip())[-500:]

    # -- what clients need ------------------------------------------------------------------------------------

    @property
    def proxy_url(self) -> str:
        if self.port is None:
            raise HarnessError("the capture proxy is not started")
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """Variables that route a child process's HTTP(S) through the proxy and make it trust the proxy CA."""
        env: dict[str, str] = {}
        for name in PROXY_VARS:
            env[name] = env[name.lower()] = self.proxy_url
        for name in CA_VARS:
            env[name] = str(self.ca_bundle)
        # cleared, so that local servers (127.0.0.1, localhost) go through the proxy too
        env["NO_PROXY"] = env["no_proxy"] = ""
        return env

    def httpx_kwargs(self) -> dict[str, Any]:
        """`httpx.Client(**proxy.httpx_kwargs())`: proxy plus an SSL context trusting the bundle."""
        import ssl

        return {"proxy": self.proxy_url, "verify": ssl.create_default_context(cafile=str(self.ca_bundle))}


def read_flows(path: str | Path) -> list[dict]:
    """The flow records of a `flows.jsonl` (or of the folder holding one); a torn last line is skipped."""
    path = Path(path)
    if path.is_dir():
        path = path / FLOWS_FILE
    if not path.exists():
        raise HarnessError(f"no capture at {path}")
    flows = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            flows.append(json.loads(line))
        except ValueError:
            if number == len(lines):  # the run died while writing this line
                break
            raise HarnessError(f"{path}:{number}: not a JSON flow record") from None
    return flows

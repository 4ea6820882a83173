"""Shared fixtures. Area-specific fixtures live in the test modules that use them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.capture.proxy import free_port  # noqa: F401  (tests import it from here)

ROOT = Path(__file__).resolve().parent.parent
# Tests never reach a hub: anything that tries fails loudly instead of hanging.
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def assets():
    """The offline assets (real o200k vocab, real gpt-oss template, tokenizer, tiny model), provisioned once."""
    from harness.tiny_model import provision

    return provision()


@pytest.fixture(scope="session")
def encoding(assets):
    from harness.assets import harmony_encoding

    return harmony_encoding()


def run_harness(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 600,
                input_text: str | None = None) -> subprocess.CompletedProcess:
    """Run the real `harness` CLI in a subprocess (exit codes and stderr as a user sees them)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd or ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout, input=input_text, check=False)


def assert_clean_error(done: subprocess.CompletedProcess, exit_code: int = 2) -> None:
    """Bad input: the given exit code, one line on stderr, no traceback."""
    assert done.returncode == exit_code, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr


VLLM_DATE = "2026-06-15"  # the date the session's vLLM server writes into its prompts (VLLM_SYSTEM_START_DATE)


@pytest.fixture(scope="session")
def vllm_python():
    """The python of .venv-vllm. Missing, it skips on a developer's machine; in CI (`make test` builds it) that
    is a failure."""
    from harness.errors import HarnessError
    from harness.servers.vllm_server import vllm_python as find

    try:
        return find()
    except HarnessError as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def vllm_server(assets, vllm_python):
    """The real vLLM server (.venv-vllm) on the tiny model, started once per test session (about a minute)."""
    from harness.servers.launch import start

    handle = start("vllm", model=str(assets.model_dir), served_model_name="tiny-gpt-oss", date=VLLM_DATE)
    yield handle
    handle.stop()

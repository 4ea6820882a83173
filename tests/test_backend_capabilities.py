"""What the run asks a backend instead of checking its kind: does it speak HTTP (capture), and its retry policy."""

from __future__ import annotations

import asyncio

import pytest

from harness.backends.base import BackendConfig, create_backend
from harness.errors import BackendError
from harness.run.orchestrator import Orchestrator


@pytest.mark.parametrize(("kind", "extra", "http"), [
    ("openai-compatible", {"base_url": "http://127.0.0.1:9/v1", "model": "m"}, True),
    ("hf-inference", {"model": "openai/gpt-oss-20b", "provider": "groq"}, True),
    ("transformers-harmony", {"model": "tiny-gpt-oss"}, False),
    ("transformers-pipeline", {"model": "tiny-gpt-oss"}, False),
])
def test_speaks_http_says_which_backends_the_capture_proxy_sees(assets, monkeypatch, kind, extra, http):
    monkeypatch.setenv("HF_TOKEN", "hf_placeholder_never_sent")  # hf-inference refuses to build without a token
    backend = create_backend(BackendConfig(name="b", kind=kind, **extra))
    assert backend.speaks_http is http


def test_a_run_of_local_backends_starts_no_proxy(tmp_path):
    from harness.run.compare import CompareOptions, run_compare

    result = run_compare(CompareOptions(scenario="spam", out=tmp_path / "run", profile="offline",
                                        backends=["local-harmony"], repeats=1, limit=1, capture=None,
                                        captures_root=tmp_path / "captures", progress=False))
    assert result.summary.completed == 1
    assert not (tmp_path / "captures").exists() and "flows" not in result.files


def test_the_retry_backoff_is_each_backends_own_explicit_policy(tmp_path):
    """backoff_base_s is a documented field (no hidden option); the orchestrator waits by each backend's own."""
    from harness.backends.base import BackendContext, RemoteBackend
    from harness.request import ChatRequest
    from harness.run.orchestrator import plan
    from harness.run.store import ResultStore

    assert BackendConfig(name="b", kind="openai-compatible").backoff_base_s == 0.5
    with pytest.raises(ValueError):
        BackendConfig(name="b", kind="openai-compatible", backoff_base_s=0)

    class Failing(RemoteBackend):
        async def complete(self, request, *, correlation=None):
            raise BackendError("server-error", "500", retryable=True)

    def elapsed(base: float) -> float:
        config = BackendConfig(name=f"b{base}", kind="openai-compatible", backoff_base_s=base, max_retries=3)
        backends = {config.name: Failing(config, BackendContext())}
        request = ChatRequest.from_body({"messages": [{"role": "user", "content": "x"}]})
        with ResultStore(tmp_path / f"{base}.sqlite") as store:
            orchestrator = Orchestrator(backends=backends, store=store, seed=0)
            summary = asyncio.run(orchestrator.run(plan(backends, [("c", request)], 1)))
        assert (summary.failed, summary.retries) == (1, 3)
        return summary.wall_s

    fast, slow = elapsed(0.001), elapsed(0.4)
    assert fast < 0.1 and slow > fast  # full jitter: the slow one waits up to 0.4 + 0.8 + 1.6 s

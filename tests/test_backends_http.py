"""The HTTP backends (openai-compatible, hf-inference) against real local servers: the project's fault server for
failures, and a small scripted server here for what it cannot say (provider headers, vLLM fields, proxying)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import ROOT, free_port

from harness.backends.base import BackendConfig, BackendContext, create_backend
from harness.backends.hf_inference import is_hf_host
from harness.errors import BackendError
from harness.request import ChatRequest
from harness.servers._http import secret_fingerprint
from harness.servers.launch import start

REQUEST = ChatRequest.from_body({"messages": [{"role": "system", "content": "Policy: spam is 1"},
                                              {"role": "user", "content": "buy pills now"}],
                                 "reasoning_effort": "low", "temperature": 0})
PLANTED_HF_TOKEN = "hf_plantedTokenThatMustNeverLeave0000"
VLLM_BODY = {
    "id": "chatcmpl-1", "object": "chat.completion", "model": "m", "prompt_token_ids": [200006, 1, 2],
    "choices": [{"index": 0, "finish_reason": "tool_calls", "token_ids": [200005, 7, 200012],
                 "message": {"role": "assistant", "content": None, "reasoning_content": "think",
                             "tool_calls": [{"id": "c1", "type": "function",
                                             "function": {"name": "lookup", "arguments": "{\"q\": 1}"}}]}}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6,
              "completion_tokens_details": {"reasoning_tokens": 1}},
}


class Scripted:
    """A plain HTTP server that records every request (raw headers included) and answers with `reply`."""

    def __init__(self, reply: dict | None = None, headers: dict[str, str] | None = None):
        self.reply = reply or {"id": "x", "choices": [{"index": 0, "finish_reason": "stop",
                                                       "message": {"role": "assistant", "content": "ok"}}]}
        self.headers = headers or {}
        self.seen: list[dict] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                owner.seen.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                   "body": json.loads(body or b"null")})
                data = json.dumps(owner.reply).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for name, value in owner.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def fault():
    with start("fault") as server:
        yield server


@pytest.fixture
def scripted():
    servers = []

    def make(**kwargs) -> Scripted:
        servers.append(Scripted(**kwargs))
        return servers[-1]

    yield make
    for server in servers:
        server.stop()


def call(config: BackendConfig, context: BackendContext | None = None, correlation: str | None = "case-7"):
    async def go():
        backend = create_backend(config, context)
        try:
            return await backend.complete(REQUEST, correlation=correlation)
        finally:
            await backend.aclose()

    return asyncio.run(go())


def failure(config: BackendConfig) -> BackendError:
    with pytest.raises(BackendError) as caught:
        call(config)
    return caught.value


def openai_config(base_url: str, **kwargs) -> BackendConfig:
    return BackendConfig(name="oa", kind="openai-compatible", base_url=base_url, model="m", **kwargs)


def hf_config(base_url: str, **kwargs) -> BackendConfig:
    return BackendConfig(name="hf", kind="hf-inference", base_url=base_url, model="openai/gpt-oss-safeguard-20b",
                         **kwargs)


# --- openai-compatible ------------------------------------------------------------------------------------------


def test_openai_ok_sends_the_canonical_body_and_headers(fault, monkeypatch):
    monkeypatch.setenv("HARNESS_TEST_KEY", "local-key-123")
    fault.set_script(["ok"], reasoning="because")
    fault.clear_requests()
    config = openai_config(fault.base_url, api_key_env="HARNESS_TEST_KEY", sampling={"max_tokens": 50})
    completion = call(config, BackendContext(extra_headers={"x-run": "r1"}))
    [seen] = fault.requests_seen()
    assert seen["body"] == completion.sent_body
    assert seen["body"]["reasoning_effort"] == "low" and seen["body"]["max_tokens"] == 50
    assert seen["body"]["temperature"] == 0 and "return_token_ids" not in seen["body"]
    assert seen["headers"]["x-harness-case"] == "case-7" and seen["headers"]["x-run"] == "r1"
    assert seen["headers"]["authorization"] == "Bearer " + secret_fingerprint("local-key-123")
    assert completion.text == '{"violation": 0}'
    assert (completion.reasoning, completion.reasoning_field) == ("because", "reasoning")
    assert completion.finish_reason == "stop" and completion.usage.prompt_tokens > 0


@pytest.mark.parametrize("action, cause, retryable, status", [
    ("429:7", "rate-limit", True, 429), ("500", "server-error", True, 500), ("503", "server-error", True, 503),
    ("400", "client-error", False, 400), ("404", "client-error", False, 404),
    ("malformed", "malformed-response", True, 200), ("html", "malformed-response", True, 502),
    ("drop", "connection", True, None),
])
@pytest.mark.parametrize("kind", ["openai-compatible", "hf-inference"])
def test_faults_map_to_backend_errors(fault, kind, action, cause, retryable, status):
    fault.set_script([action])
    fault.clear_requests()
    config = openai_config(fault.base_url) if kind == "openai-compatible" else hf_config(fault.base_url)
    error = failure(config)
    assert (error.cause, error.retryable, error.status) == (cause, retryable, status), str(error)
    if action.startswith("429"):
        assert error.retry_after == 7
    assert len(fault.requests_seen()) == 1  # the client's own retries are off: the orchestrator retries


@pytest.mark.parametrize("kind", ["openai-compatible", "hf-inference"])
def test_timeout_and_refused_connection(fault, kind):
    fault.set_script(["hang:5"])
    make = openai_config if kind == "openai-compatible" else hf_config
    error = failure(make(fault.base_url, timeout=0.5))
    assert (error.cause, error.retryable) == ("timeout", True)
    error = failure(make(f"http://127.0.0.1:{free_port()}/v1"))
    assert (error.cause, error.retryable) == ("connection", True)


def test_openai_reads_vllm_fields_and_asks_for_token_ids(scripted):
    server = scripted(reply=VLLM_BODY, headers={"x-request-id": "req-42"})
    completion = call(openai_config(server.base_url, options={"server": "vllm"}))
    assert server.seen[0]["body"]["return_token_ids"] is True
    assert completion.prompt_token_ids == [200006, 1, 2] and completion.output_token_ids == [200005, 7, 200012]
    assert (completion.reasoning, completion.reasoning_field) == ("think", "reasoning_content")
    assert completion.tool_calls == [{"name": "lookup", "arguments": '{"q": 1}'}]
    assert completion.usage.reasoning_tokens == 1 and completion.request_id == "req-42"
    assert completion.text == "" and completion.finish_reason == "tool_calls"


def test_openai_goes_through_the_proxy_when_capturing(scripted):
    proxy = scripted()
    unreachable = f"http://127.0.0.1:{free_port()}/v1"
    context = BackendContext(proxy_url=proxy.base_url.removesuffix("/v1"))
    call(openai_config(unreachable), context)
    # a forward proxy receives the absolute URL of the real target
    assert proxy.seen[0]["path"] == unreachable + "/chat/completions"
    assert proxy.seen[0]["headers"]["x-harness-case"] == "case-7"
    with pytest.raises(BackendError):  # capture = false: straight to the (unreachable) server
        call(openai_config(unreachable, capture=False), context)


# --- hf-inference -----------------------------------------------------------------------------------------------

CHILD = textwrap.dedent("""
    import asyncio, json, sys
    from huggingface_hub import get_token
    from harness.backends.base import BackendConfig, create_backend
    from harness.request import ChatRequest

    config = BackendConfig.model_validate(json.loads(sys.argv[1]))
    async def main():
        backend = create_backend(config)
        request = ChatRequest.from_body({"messages": [{"role": "user", "content": "hi"}], "reasoning_effort": "high"})
        completion = await backend.complete(request, correlation="case-1")
        await backend.aclose()
        return completion
    completion = asyncio.run(main())
    print(json.dumps({"planted_token_visible": get_token(), "provider": completion.served_provider,
                      "request_id": completion.request_id, "sent": completion.sent_body, "text": completion.text}))
""")


def run_child(config: BackendConfig, tmp_path, env: dict[str, str]) -> dict:
    home = tmp_path / "hf-home"
    home.mkdir(exist_ok=True)
    (home / "token").write_text(PLANTED_HF_TOKEN)
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    full_env.update(HF_HOME=str(home), **env)
    done = subprocess.run([sys.executable, "-c", CHILD, config.model_dump_json()], check=False, cwd=ROOT,
                          env=full_env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("env", [{"HF_TOKEN": PLANTED_HF_TOKEN}, {}], ids=["HF_TOKEN", "token-file"])
def test_hf_token_never_reaches_a_local_server(scripted, tmp_path, env):
    server = scripted(headers={"x-inference-provider": "groq", "x-request-id": "rid-9"})
    out = run_child(hf_config(server.base_url, provider="groq"), tmp_path, env)
    assert out["planted_token_visible"] == PLANTED_HF_TOKEN  # the library could have found and sent it
    [seen] = server.seen
    assert "authorization" not in seen["headers"]
    assert PLANTED_HF_TOKEN not in json.dumps(seen)
    assert (out["provider"], out["request_id"], out["text"]) == ("groq", "rid-9", "ok")
    assert seen["body"] == out["sent"]
    assert seen["body"]["reasoning_effort"] == "high" and seen["body"]["model"] == "openai/gpt-oss-safeguard-20b"
    assert seen["headers"]["x-harness-case"] == "case-1"


def test_hf_explicit_api_key_env_is_sent(scripted, tmp_path):
    server = scripted()
    run_child(hf_config(server.base_url, api_key_env="LOCAL_SERVER_KEY"), tmp_path,
              {"HF_TOKEN": PLANTED_HF_TOKEN, "LOCAL_SERVER_KEY": "local-secret-1"})
    assert server.seen[0]["headers"]["authorization"] == "Bearer local-secret-1"


def test_hf_hosts():
    assert is_hf_host(None) and is_hf_host("https://router.huggingface.co/v1") and is_hf_host("https://hf.co/x")
    assert not is_hf_host("http://127.0.0.1:8000/v1") and not is_hf_host("https://api.groq.com/openai/v1")
    assert not is_hf_host("https://huggingface.co.evil.example/v1") and not is_hf_host("https://nothuggingface.co")

"""Wire capture with a REAL mitmdump (.venv-mitm) in front of real local HTTP and HTTPS chat servers."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import assert_clean_error, free_port, run_harness

from harness.capture.chat_server import ChatServer, self_signed_cert
from harness.capture.proxy import ProxyDied, ProxySession, read_flows

pytestmark = pytest.mark.slow

SK = "sk-planted0123456789abcdef"
HF = "hf_plantedABCDEFGHIJ0123456789"
GSK = "gsk_planted9876543210zyx"
SECRETS = (SK, HF, GSK)


@pytest.fixture(scope="module")
def upstream_cert(tmp_path_factory):
    return self_signed_cert(tmp_path_factory.mktemp("upstream"))


@pytest.fixture(scope="module")
def servers(upstream_cert):
    with ChatServer() as plain, ChatServer(tls=upstream_cert) as tls:
        yield {"http": plain, "https": tls}


@pytest.fixture(scope="module")
def proxy(tmp_path_factory, upstream_cert):
    with ProxySession(tmp_path_factory.mktemp("capture"), upstream_ca=upstream_cert[0]) as session:
        yield session


def flows_for(proxy: ProxySession, case: str, expected: int = 1, timeout: float = 10.0) -> list[dict]:
    """The flows of one case; a flow's line is written when it completes, which can trail the client a little
    (a stream ends for the client at `[DONE]`, for the proxy when the server closes)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [f for f in read_flows(proxy.flows_path) if (f.get("case") or {}).get("raw") == case]
        if len(found) >= expected or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def received_with(server: ChatServer, marker: str):
    return [r for r in server.received if marker.encode() in r.body]


def openai_client(proxy: ProxySession, base_url: str, api_key: str, case: str):
    import httpx2
    import openai

    return openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0,
                         default_headers={"x-harness-case": case},
                         http_client=httpx2.Client(**proxy.httpx_kwargs(), timeout=30))


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_openai_sdk_body_byte_identical_and_case_header_stripped(proxy, servers, scheme):
    server = servers[scheme]
    case = f"spam-{scheme}/2/openai-sdk"
    marker = f"byte-identity-{scheme}"
    client = openai_client(proxy, server.base_url, "not-a-token-shape", case)
    reply = client.chat.completions.create(model="gpt-oss-20b", temperature=0.0, seed=7,
                                           messages=[{"role": "system", "content": "policy é ✓"},
                                                     {"role": "user", "content": marker}],
                                           extra_body={"reasoning_effort": "low"})
    assert reply.choices[0].message.content == "ok:2"

    [flow] = flows_for(proxy, case)
    [seen] = received_with(server, marker)
    body = flow["request"]["body"]
    assert body["text"].encode("utf-8") == seen.body  # what the proxy recorded is what the server got
    assert body["sha256"] == hashlib.sha256(seen.body).hexdigest()
    assert body["json"]["reasoning_effort"] == "low" and body["json"]["seed"] == 7
    assert "x-harness-case" not in seen.header_names  # stripped before forwarding ...
    assert flow["case"] == {"raw": case, "case_id": f"spam-{scheme}", "repeat": 2, "backend": "openai-sdk"}
    assert not any(name.lower() == "x-harness-case" for name, _ in flow["request"]["headers"])
    assert flow["request"]["url"].startswith(f"{scheme}://127.0.0.1:{server.port}/v1/chat/completions")
    assert flow["server"]["tls"] is (scheme == "https")
    assert flow["response"]["status"] == 200
    assert flow["response"]["body"]["json"]["choices"][0]["message"]["content"] == "ok:2"
    assert flow["client"]["user_agent"] == seen.headers["user-agent"]
    assert flow["timestamps"]["request_start"] <= flow["timestamps"]["response_end"]


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_openai_sdk_stream_is_passed_through_and_reassembled(proxy, servers, scheme):
    server = servers[scheme]
    case = f"stream-{scheme}/0/openai-sdk"
    client = openai_client(proxy, server.base_url, "x", case)
    content, reasoning = "", ""
    for chunk in client.chat.completions.create(model="m", stream=True,
                                                messages=[{"role": "user", "content": "a"},
                                                          {"role": "user", "content": "b"}]):
        delta = chunk.choices[0].delta
        content += delta.content or ""
        reasoning += (delta.model_extra or {}).get("reasoning") or ""

    [flow] = flows_for(proxy, case)
    body = flow["response"]["body"]
    assert body["streamed"] is True
    assert body["sse"]["done"] is True
    assert body["sse"]["message"]["content"] == content and content
    assert body["sse"]["message"]["reasoning"] == reasoning and reasoning
    assert body["sse"]["finish_reason"] == "stop"


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_inference_client_through_env(proxy, servers, scheme):
    """huggingface_hub's InferenceClient in a child process, routed only by `proxy.env()`."""
    server = servers[scheme]
    case = f"hf-{scheme}/1/hf-client"
    script = textwrap.dedent(f"""
        from huggingface_hub import InferenceClient
        client = InferenceClient(base_url={server.base_url!r}, api_key={HF!r}, headers={{"x-harness-case": {case!r}}})
        out = client.chat_completion(messages=[{{"role": "user", "content": "hf-{scheme}"}}], model="m",
                                     max_tokens=9, extra_body={{"reasoning_effort": "high"}})
        print(out.choices[0].message.content)
    """)
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    done = subprocess.run([sys.executable, "-c", script], env={**env, **proxy.env()}, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok:1"
    [flow] = flows_for(proxy, case)
    [seen] = received_with(server, f"hf-{scheme}")
    assert flow["request"]["body"]["text"].encode() == seen.body
    assert seen.headers["authorization"] == f"Bearer {HF}"  # the upstream got the real key ...
    assert {k.lower(): v for k, v in flow["request"]["headers"]}["authorization"] == "Bearer [REDACTED]"
    assert flow["request"]["body"]["json"]["stream"] is False  # InferenceClient always sends it
    assert flow["response"]["status"] == 200


def test_failed_flows_are_recorded(proxy, servers):
    import httpx2

    client = httpx2.Client(**proxy.httpx_kwargs(), timeout=30)
    # the server reads the request, then drops the connection without a status line
    case = "dropped/0/raw"
    response = client.post(servers["https"].base_url + "/chat/completions", headers={"x-harness-case": case},
                           json={"model": "close-connection", "messages": [{"role": "user", "content": "x"}]})
    assert response.status_code == 502  # mitmproxy answers for the dead upstream
    [flow] = flows_for(proxy, case)
    assert flow["response"] is None or flow["response"]["status"] == 502
    assert flow["error"] and flow["error"]["message"]
    assert flow["request"]["body"]["json"]["model"] == "close-connection"

    # nothing listens on this port
    case = "unreachable/0/raw"
    port = free_port()
    client.post(f"http://127.0.0.1:{port}/v1/chat/completions", headers={"x-harness-case": case},
                json={"model": "m", "messages": [{"role": "user", "content": "nobody home"}]})
    [flow] = flows_for(proxy, case)
    assert flow["error"]["message"]
    assert flow["request"]["body"]["json"]["messages"][0]["content"] == "nobody home"


def test_planted_secrets_never_reach_the_capture_folder(tmp_path, servers, upstream_cert):
    import httpx2

    out = tmp_path / "cap"
    with ProxySession(out, upstream_ca=upstream_cert[0]) as session:
        client = httpx2.Client(**session.httpx_kwargs(), timeout=30)
        for scheme in ("http", "https"):
            url = f"{servers[scheme].base_url}/chat/completions?api_key={SK}&note={GSK}&key=plainsecretvalue"
            headers = {"authorization": f"Bearer {SK}", "x-api-key": GSK, "api-key": "plain-api-key-value",
                       "cookie": "session=plaincookievalue", "user-agent": f"tool/1.0 ({HF})",
                       "x-custom": f"token {HF}"}
            body = {"model": "m", "api_key": "plain-body-key",
                    "messages": [{"role": "user", "content": f"keys {SK} {HF} {GSK}"}]}
            assert client.post(url, headers=headers, json=body).status_code == 200
            # an upstream that fails still must not leak the request's secrets
            client.post(url, headers=headers, json={**body, "model": "close-connection"})
        # the upstream received every secret untouched: redaction is only in the record
        assert any(SK.encode() in r.body and r.headers.get("x-api-key") == GSK for r in servers["https"].received)
    plain = ("plainsecretvalue", "plain-api-key-value", "plaincookievalue", "plain-body-key")
    files = [p for p in out.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"flows.jsonl", "ca-bundle.pem", "mitmdump.log"}
    for path in files:
        data = path.read_bytes()
        for secret in SECRETS + plain:
            assert secret.encode() not in data, f"{secret} leaked into {path}"
    flows = read_flows(out)
    assert len(flows) == 4 and all(f["request"]["body"]["redacted"] for f in flows)
    assert not (out / "mitm" / "mitmproxy-ca.pem").exists()  # the CA private key does not outlive the run


def test_capture_command_records_inference_client_and_keeps_exit_code(tmp_path, servers):
    script = tmp_path / "call.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        from huggingface_hub import InferenceClient
        client = InferenceClient(base_url={servers["http"].base_url!r}, api_key={HF!r})
        out = client.chat_completion(messages=[{{"role": "system", "content": "p"}},
                                               {{"role": "user", "content": "cli-capture"}}],
                                     model="openai/gpt-oss-20b", temperature=0.5)
        print(out.choices[0].message.content)
        sys.exit(7)
    """))
    out = tmp_path / "cap"
    env = {**{k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}, "COLUMNS": "250"}
    done = subprocess.run([sys.executable, "-m", "harness", "capture", "--out", str(out), "--", sys.executable,
                           str(script)], capture_output=True, text=True, timeout=180, env=env,
                          check=False)
    assert done.returncode == 7, done.stderr
    assert done.stdout.strip() == "ok:2"
    assert "openai/gpt-oss-20b" in done.stderr and "system,user" in done.stderr.replace("\n", "")
    calls = [f for f in read_flows(out) if "cli-capture" in (f["request"]["body"]["text"] or "")]
    assert len(calls) == 1
    headers = {k.lower(): v for k, v in calls[0]["request"]["headers"]}
    assert headers["authorization"] == "Bearer [REDACTED]"
    assert any(b"cli-capture" in r.body and r.headers["authorization"] == f"Bearer {HF}"
               for r in servers["http"].received)
    for path in out.rglob("*"):
        if path.is_file():
            assert HF.encode() not in path.read_bytes()


def test_capture_command_bad_usage(tmp_path):
    assert_clean_error(run_harness("capture", "--out", str(tmp_path / "a"), timeout=60))
    assert_clean_error(run_harness("capture", "--out", str(tmp_path / "b"), "--upstream-ca",
                                   str(tmp_path / "missing.pem"), "--", "true", timeout=60))
    assert_clean_error(run_harness("capture", "--out", str(tmp_path / "c"), "--", "no-such-command-xyz",
                                   timeout=60))


def test_proxy_that_dies_mid_run_is_reported(tmp_path):
    session = ProxySession(tmp_path / "cap")
    session.start()
    assert session.alive()
    env = session.env()
    assert env["HTTPS_PROXY"] == env["https_proxy"] == session.proxy_url and env["NO_PROXY"] == ""
    assert Path(env["SSL_CERT_FILE"]).read_text().count("BEGIN CERTIFICATE") > 10  # certifi + proxy CA
    os.kill(session.pid, signal.SIGKILL)  # the mitmdump this test started
    deadline = time.monotonic() + 10
    while session.alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not session.alive()
    with pytest.raises(ProxyDied, match="died mid-run"):
        session.stop()


def test_sessions_in_the_same_folder_append_and_get_a_fresh_ca(tmp_path, servers, upstream_cert):
    import httpx2

    out = tmp_path / "cap"
    cas = []
    for round_ in range(2):
        with ProxySession(out, upstream_ca=upstream_cert[0]) as session:
            cas.append((out / "mitm" / "mitmproxy-ca-cert.pem").read_text())
            client = httpx2.Client(**session.httpx_kwargs(), timeout=30)
            response = client.post(servers["https"].base_url + "/chat/completions",
                                   headers={"x-harness-case": f"again/{round_}/raw"},
                                   json={"model": "m", "messages": []})
            assert response.status_code == 200
    assert cas[0] != cas[1]
    assert [f["case"]["repeat"] for f in read_flows(out)] == [0, 1]


def test_read_flows_skips_a_torn_last_line(tmp_path):
    path = tmp_path / "flows.jsonl"
    path.write_text(json.dumps({"id": "a"}) + "\n" + json.dumps({"id": "b"}) + "\n" + '{"id": "c", "requ')
    assert [f["id"] for f in read_flows(tmp_path)] == ["a", "b"]


def test_addon_imports_only_stdlib_and_mitmproxy():
    source = (Path(__file__).resolve().parent.parent / "harness" / "capture" / "addon.py").read_text()
    roots = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module.split(".")[0])
    assert roots - {"mitmproxy", "__future__"} <= set(sys.stdlib_module_names), roots

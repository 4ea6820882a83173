"""fault server: every fault is observable from a real client; scripts, markers and counts."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from harness.servers.launch import start

CHAT = {"model": "fault-model", "messages": [{"role": "user", "content": "is this spam?"}]}


def _post(server, body=CHAT, timeout: float = 10.0) -> httpx.Response:
    return httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=timeout)


def test_each_fault_kind_as_a_client_sees_it():
    script = ["429", "500", "html", "malformed", "drop", "reset", {"fault": "ok", "content": "custom"}, "503"]
    with start("fault", script=script, retry_after=2, content='{"violation": 1}') as server:
        rate = _post(server)
        assert rate.status_code == 429 and rate.headers["retry-after"] == "2"
        assert rate.json()["error"]["code"] == 429
        assert _post(server).status_code == 500
        html = _post(server)
        assert html.status_code == 502 and html.headers["content-type"].startswith("text/html")
        assert "<html>" in html.text
        broken = _post(server)
        assert broken.status_code == 200 and broken.headers["content-type"] == "application/json"
        with pytest.raises(json.JSONDecodeError):
            json.loads(broken.text)
        for _ in ("drop", "reset"):
            with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
                _post(server)
        assert _post(server).json()["choices"][0]["message"]["content"] == "custom"
        assert _post(server).status_code == 503
        ok = _post(server).json()  # script used up: the default canned answer
        assert ok["choices"][0]["message"]["content"] == '{"violation": 1}'
        assert ok["usage"]["total_tokens"] == ok["usage"]["prompt_tokens"] + ok["usage"]["completion_tokens"] > 0
        assert len(server.requests_seen()) == 9


def test_hang_outlasts_the_client_timeout_and_stops_promptly():
    with start("fault", script=[{"fault": "hang", "seconds": 30}]) as server:
        began = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            _post(server, timeout=0.5)
        assert _post(server).status_code == 200  # the hang does not block other requests
        began_stop = time.monotonic()
    assert time.monotonic() - began_stop < 5
    assert time.monotonic() - began < 10


def test_openai_sdk_retries_500_then_succeeds_and_server_counts_attempts():
    from openai import OpenAI

    with start("fault", script=["500", "429", "ok"], retry_after=0) as server:
        client = OpenAI(base_url=server.base_url, api_key="sk-fault-test", max_retries=3)
        answer = client.chat.completions.create(**CHAT)
        assert answer.choices[0].message.content == '{"violation": 0}'
        seen = server.requests_seen()
    assert len(seen) == 3
    assert all(r["path"] == "/v1/chat/completions" and r["body"] == CHAT for r in seen)
    assert all("sk-fault-test" not in json.dumps(r) for r in seen)


def test_marker_rules_fail_first_attempts_of_one_case_only():
    rule = {"marker": "case-3", "faults": ["429", "500"], "content": '{"violation": 1}'}
    with start("fault", script=[rule], retry_after=0) as server:
        case3 = {"messages": [{"role": "system", "content": "policy"},
                              {"role": "user", "content": "[case-3] buy now"}]}
        other = {"messages": [{"role": "user", "content": "[case-4] hello"}]}
        assert _post(server, other).status_code == 200
        assert [_post(server, case3).status_code for _ in range(3)] == [429, 500, 200]
        assert _post(server, case3).json()["choices"][0]["message"]["content"] == '{"violation": 1}'
        assert _post(server, other).json()["choices"][0]["message"]["content"] == '{"violation": 0}'
        assert len(server.requests_seen()) == 6


def test_script_endpoint_replaces_the_script_and_rejects_bad_ones():
    with start("fault") as server:
        assert _post(server).status_code == 200
        server.set_script(["500"], content="later")
        assert _post(server).status_code == 500
        assert _post(server).json()["choices"][0]["message"]["content"] == "later"
        bad = httpx.post(f"{server.url}/_harness/script", json={"script": ["teapot"]})
        assert bad.status_code == 400 and "unknown fault" in bad.json()["error"]["message"]
        server.clear_requests()
        assert server.requests_seen() == []


def test_latency_overlaps_across_64_concurrent_requests():
    async def burst(url: str) -> tuple[float, set[int]]:
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=128), timeout=30) as client:
            began = time.monotonic()
            answers = await asyncio.gather(*[client.post(url, json=CHAT) for _ in range(64)])
            return time.monotonic() - began, {a.status_code for a in answers}

    with start("fault", latency=0.2) as server:
        elapsed, statuses = asyncio.run(burst(f"{server.base_url}/chat/completions"))
        assert statuses == {200}
        assert len(server.requests_seen()) == 64
    assert elapsed < 0.2 * 64 / 4  # serial would take 12.8 s


@pytest.mark.slow
def test_subprocess_fault_server_drops_and_reports_over_http():
    with start("fault", subprocess=True, script=["drop", "429"]) as server:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            _post(server)
        assert _post(server).status_code == 429
        assert [r["body"] for r in server.requests_seen()] == [CHAT, CHAT]
        process = server._process
    assert process.poll() is not None

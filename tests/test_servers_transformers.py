"""transformers-serve launcher and `harness serve`: real subprocesses, stopped afterwards."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest
from conftest import ROOT, assert_clean_error, run_harness

from harness.servers.launch import start


def _port_closed(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


@pytest.mark.slow
def test_transformers_serve_starts_answers_and_stops(assets, tmp_path):
    from openai import OpenAI

    with start("transformers-serve", home=str(tmp_path / "hf-home")) as server:
        assert server.model == str(assets.model_dir)
        assert (tmp_path / "hf-home" / "hub").is_dir()
        assert httpx.get(f"{server.base_url}/models", timeout=10).status_code == 200
        client = OpenAI(base_url=server.base_url, api_key="unused", max_retries=0, timeout=120)
        answer = client.chat.completions.create(model=server.model, max_tokens=4,
                                                messages=[{"role": "user", "content": "Is this spam?"}])
        assert answer.usage.completion_tokens == 4
        assert answer.choices[0].finish_reason == "length"
        port, process = server.port, server._process
    assert process.poll() is not None
    assert _port_closed(port)


def _serve(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "harness", "serve", *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ})


def test_harness_serve_runs_until_interrupted():
    process = _serve("fault", "--options", json.dumps({"script": ["429"]}))
    try:
        line = process.stdout.readline()
        assert "fault listening on http://127.0.0.1:" in line, (line, process.stderr.read() if process.poll() else "")
        base_url = line.split(" listening on ")[1].split(";")[0]
        assert httpx.post(f"{base_url}/chat/completions", json={"messages": []}).status_code == 429
        assert httpx.post(f"{base_url}/chat/completions", json={"messages": []}).status_code == 200
        port = int(base_url.rsplit(":", 1)[1].split("/")[0])
        process.send_signal(signal.SIGINT)
        assert process.wait(20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "Traceback" not in process.stderr.read()
    time.sleep(0.2)
    assert _port_closed(port)


@pytest.mark.parametrize("args", [["fault", "--options", "[1]"], ["fault", "--options", "{nope"],
                                  ["fault", "--model", "x"], ["teapot"],
                                  ["fault", "--options", '{"unknown_option": 1}']])
def test_harness_serve_bad_input_is_one_clean_line(args):
    assert_clean_error(run_harness("serve", *args, timeout=120))

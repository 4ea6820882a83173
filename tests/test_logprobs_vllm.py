"""The real vLLM server (`vllm_server`, .venv-vllm) with `options.logprobs`: its output logprobs come back in
OpenAI's shape, and on the very prompt ids it fed the model, the local reference path (`generate_from_ids`) gives
the same label probabilities (within 1e-3) and per-token numerics with no top-token difference (float32 on both
sides). All vLLM assertions of the logprobs work live here: one server per session, about a minute to start."""

from __future__ import annotations

import asyncio

import pytest

from harness.explain.numerics import compare_logprobs
from harness.explain.probabilities import label_probabilities, parser_spec

pytestmark = pytest.mark.slow


def test_vllm_and_local_harmony_give_the_same_label_probabilities(vllm_server, assets):
    from harness.backends.base import BackendConfig, BackendContext, Sampling, create_backend
    from harness.backends.transformers_local import generate_from_ids, generation_kwargs, load_model
    from harness.scenario import load_scenario

    scenario = load_scenario("spam", limit=4)
    sampling = Sampling(max_tokens=48, temperature=0.0, seed=0)
    vllm = create_backend(BackendConfig(name="vllm", kind="openai-compatible", model=vllm_server.model,
                                        base_url=vllm_server.base_url, sampling=sampling,
                                        options={"server": "vllm", "logprobs": 5}), BackendContext())
    local = create_backend(BackendConfig(name="local-harmony", kind="transformers-harmony", model="tiny-gpt-oss",
                                         sampling=sampling), BackendContext())
    assert vllm.resolved()["extra_body"] == {"return_token_ids": True, "logprobs": True, "top_logprobs": 5}
    parser = scenario.label_parser()
    spec = parser_spec(parser)
    loaded = load_model(str(assets.model_dir), str(assets.tokenizer_dir))

    async def ask():
        try:
            return await asyncio.gather(*(vllm.complete(request) for _, request in scenario.requests()))
        finally:
            await vllm.aclose()

    served = asyncio.run(ask())
    requests = [request for _, request in scenario.requests()]
    # the local reference path on exactly the ids vLLM fed its model
    mine = generate_from_ids(loaded, [c.prompt_token_ids for c in served], generation_kwargs(local.config,
                             requests[0]), 0, top_logprobs=5)
    compared = 0
    for theirs, ours in zip(served, mine):
        assert theirs.sent_body["logprobs"] is True and theirs.sent_body["top_logprobs"] == 5
        logprobs = theirs.output_logprobs
        assert logprobs is not None and len(logprobs) == len(theirs.output_token_ids)
        assert all(len(e["top_logprobs"]) == 5 for e in logprobs)
        assert logprobs[0]["token"] == "<|channel|>"  # special tokens spelled as text, as the local path does
        assert [e["token"] for e in logprobs] == [e["token"] for e in ours.output_logprobs[:len(logprobs)]]
        numerics = compare_logprobs(logprobs, ours.output_logprobs)
        assert numerics.top_differs == 0 and numerics.first_divergence is None, numerics
        assert numerics.positions == len(logprobs) and numerics.max_gap < 1e-3, numerics
        label_a = parser.parse(theirs.text).label
        label_b = parser.parse(ours.text).label
        assert label_a == label_b is not None
        pa = label_probabilities(logprobs, spec.labels, label_a, spec=spec)
        pb = label_probabilities(ours.output_logprobs, spec.labels, label_b, spec=spec)
        assert pa.position == pb.position is not None
        for name in spec.labels:
            assert pa.probs[name] == pytest.approx(pb.probs[name], abs=1e-3)
        assert pa.margin == pytest.approx(pb.margin, abs=1e-3)
        compared += 1
    assert compared == len(requests)

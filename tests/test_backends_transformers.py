"""The two local transformers backends on the tiny offline gpt-oss: real generation, real renderers."""

from __future__ import annotations

import asyncio
import datetime

import pytest

from harness.backends.base import BackendConfig, create_backend
from harness.backends.transformers_local import completion_from_output
from harness.render import get_renderer
from harness.request import ChatRequest

pytestmark = pytest.mark.slow

MAX_TOKENS = 32
# No system message: the chat template and openai-harmony render this identically (asserted below).
SAME = ChatRequest.from_body({"messages": [{"role": "user", "content": "Is this spam? buy now"}]})
# A policy in a system message: the template writes `# Instructions\n\n{policy}\n\n<|end|>`, harmony has no `\n\n`.
DIFFERENT = ChatRequest.from_body({"messages": [{"role": "system", "content": "Policy: spam is 1"},
                                                {"role": "user", "content": "x"}]})


def run(coro):
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def backends(assets):
    made = {kind: create_backend(BackendConfig(name=kind, kind=kind, sampling={"max_tokens": MAX_TOKENS}))
            for kind in ("transformers-pipeline", "transformers-harmony")}
    yield made
    for backend in made.values():
        run(backend.aclose())


@pytest.fixture(scope="module")
def answers(backends):
    """Each backend answers both requests in one batch (left padding), all on one date (the prompts carry it)."""
    while True:
        day = datetime.date.today()
        made = {kind: run(backend.complete_batch([SAME, DIFFERENT])) for kind, backend in backends.items()}
        if datetime.date.today() == day:  # else midnight passed during generation: once more
            ANSWERED_ON.append(day.isoformat())
            return made


ANSWERED_ON: list[str] = []


def renders(request: ChatRequest) -> tuple[list[int], list[int]]:
    day = ANSWERED_ON[-1]
    return get_renderer("hf-template").render(request, date=day), get_renderer("harmony").render(request, date=day)


def test_identical_renders_give_identical_outputs(answers):
    template_ids, harmony_ids = renders(SAME)
    assert template_ids == harmony_ids  # the premise of the case
    pipe, harmony = answers["transformers-pipeline"][0], answers["transformers-harmony"][0]
    assert pipe.prompt_token_ids == template_ids
    assert harmony.prompt_token_ids == harmony_ids
    assert pipe.output_token_ids and len(pipe.output_token_ids) <= MAX_TOKENS
    assert pipe.output_token_ids == harmony.output_token_ids
    assert pipe.text == harmony.text


def test_different_renders_reach_the_model_differently(backends, answers):
    template_ids, harmony_ids = renders(DIFFERENT)
    assert template_ids != harmony_ids
    pipe, harmony = answers["transformers-pipeline"][1], answers["transformers-harmony"][1]
    assert pipe.prompt_token_ids == template_ids  # what the pipeline really fed the model, verified in the backend
    assert harmony.prompt_token_ids == harmony_ids
    # Greedy outputs may still coincide (the tiny model is confident, and the prompt carries today's date); the
    # next-token distributions the two prompts give the model may not.
    import torch

    model = backends["transformers-harmony"].loaded().model
    with torch.no_grad():
        last = [model(input_ids=torch.tensor([ids])).logits[0, -1] for ids in (template_ids, harmony_ids)]
    assert not torch.allclose(last[0], last[1])


def test_batch_matches_single_calls(backends, answers):
    for kind, backend in backends.items():
        single = run(backend.complete(DIFFERENT))
        assert single.prompt_token_ids == answers[kind][1].prompt_token_ids
        assert single.output_token_ids == answers[kind][1].output_token_ids, kind


def test_finish_reason_and_usage_follow_the_tokens(answers):
    for completions in answers.values():
        for completion in completions:
            ids = completion.output_token_ids
            assert completion.usage.completion_tokens == len(ids)
            assert completion.usage.prompt_tokens == len(completion.prompt_token_ids)
            expected = "length" if ids[-1] not in (200002, 200012, 199999) else completion.finish_reason
            assert completion.finish_reason == expected


def test_effort_from_backend_config_reaches_the_prompt(assets):
    backend = create_backend(BackendConfig(name="h", kind="transformers-harmony", reasoning_effort="high",
                                           sampling={"max_tokens": 4}))
    completion = run(backend.complete(SAME))
    text = get_renderer("harmony").render(SAME, date=datetime.date.today().isoformat())
    assert completion.prompt_token_ids != text
    from harness.assets import harmony_encoding

    assert "Reasoning: high" in harmony_encoding().decode(completion.prompt_token_ids)


def test_seeded_sampling_is_reproducible_and_seed_matters(assets):
    def sample(seed):
        backend = create_backend(BackendConfig(name="s", kind="transformers-harmony",
                                               sampling={"max_tokens": 8, "temperature": 1.0, "seed": seed}))
        return run(backend.complete(SAME)).output_token_ids

    assert sample(1) == sample(1)
    # The tiny model is trained (confident on some prefixes): one other seed may match, not every other seed.
    assert any(sample(1) != sample(seed) for seed in range(2, 10))


@pytest.mark.parametrize("kind", ["transformers-harmony", "transformers-pipeline"])
def test_a_sampling_backend_draws_on_from_call_to_call_and_a_new_one_starts_over(assets, kind):
    """Repeats of a sampling local backend differ (its noise floor is real); a fresh backend with the same seed
    gives the same sequence of answers (a run is reproducible); other backends' draws do not disturb it."""
    def backend():
        return create_backend(BackendConfig(name="s", kind=kind,
                                            sampling={"max_tokens": 8, "temperature": 1.0, "seed": 3}))

    first = backend()
    draws = [run(first.complete(SAME)).output_token_ids for _ in range(6)]
    assert len({tuple(d) for d in draws}) > 1  # one seed, yet the calls differ
    second, other = backend(), create_backend(BackendConfig(name="o", kind="transformers-harmony", sampling={
        "max_tokens": 8, "temperature": 1.0, "seed": 99}))
    again = []
    for _ in range(6):
        run(other.complete(SAME))  # interleaved draws of another sampling backend
        again.append(run(second.complete(SAME)).output_token_ids)
    assert again == draws


def test_generation_leaves_the_event_loop_free(backends):
    async def scenario():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.005)
                ticks += 1

        task = asyncio.create_task(ticker())
        await backends["transformers-harmony"].complete(DIFFERENT)
        task.cancel()
        return ticks

    assert run(scenario()) >= 3


def test_fingerprint_names_what_changes_the_answer(backends, assets):
    for kind, backend in backends.items():
        fingerprint = backend.fingerprint()
        assert fingerprint["kind"] == kind
        assert fingerprint["template_sha256"] == assets.template_sha256
        assert fingerprint["harmony_version"]
        assert fingerprint["sampling"] == {"max_tokens": MAX_TOKENS}
        assert fingerprint["revision"] == assets.revision


def test_store_key_follows_the_date_the_prompts_carry(backends, monkeypatch):
    from harness.backends import transformers_local
    from harness.run.store import run_key

    backend = backends["transformers-harmony"]
    today = run_key(backend.fingerprint(), SAME.to_body(), 0)
    assert run_key(backend.fingerprint(), SAME.to_body(), 0) == today
    monkeypatch.setattr(transformers_local, "prompt_date", lambda: "2031-01-02")
    assert run_key(backend.fingerprint(), SAME.to_body(), 0) != today  # another `Current date:`, another answer
    assert "Current date: 2031-01-02" in _decode(backend.prompt_ids(SAME))


def _decode(ids):
    from harness.assets import harmony_encoding

    return harmony_encoding().decode(ids)


def test_output_split_by_tokens(encoding, assets):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(assets.tokenizer_dir)
    answer = encoding.encode("<|channel|>analysis<|message|>Selling pills: spam.<|end|><|start|>assistant"
                             "<|channel|>final<|message|>{\"violation\": 1}<|return|>", allowed_special="all")
    completion = completion_from_output([1, 2, 3], answer, tokenizer)
    assert completion.text == '{"violation": 1}'
    assert completion.reasoning == "Selling pills: spam."
    assert completion.reasoning_field == "channel"
    assert completion.finish_reason == "stop"
    assert completion.usage.reasoning_tokens == len(encoding.encode("Selling pills: spam."))

    call = encoding.encode("<|channel|>commentary to=functions.lookup <|constrain|>json<|message|>{\"q\": \"x\"}"
                           "<|call|>", allowed_special="all")
    completion = completion_from_output([1], call, tokenizer)
    assert completion.tool_calls == [{"name": "lookup", "arguments": '{"q": "x"}'}]
    assert completion.finish_reason == "tool_calls"
    assert completion.text == ""

    truncated = encoding.encode("<|channel|>analysis<|message|>Thinking about", allowed_special="all")
    completion = completion_from_output([1], truncated, tokenizer)
    assert (completion.text, completion.finish_reason, completion.reasoning) == ("", "length", "Thinking about")

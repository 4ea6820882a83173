"""openai-compatible and hf-inference against a real `transformers serve` running the tiny gpt-oss (offline)."""

from __future__ import annotations

import asyncio
import datetime

import pytest

from harness.backends.base import BackendConfig, create_backend
from harness.errors import BackendError
from harness.render import get_renderer
from harness.request import ChatRequest
from harness.servers.launch import start

pytestmark = pytest.mark.slow

REQUEST = ChatRequest.from_body({"messages": [{"role": "system", "content": "Policy: spam is 1"},
                                              {"role": "user", "content": "buy pills now"}],
                                 "reasoning_effort": "low"})


@pytest.fixture(scope="module")
def serve(assets):
    with start("transformers-serve", force_model=True) as server:
        yield server


def complete_all(config: BackendConfig, requests: list[ChatRequest]):
    async def go():
        backend = create_backend(config)
        try:
            return await backend.complete_batch(requests)
        finally:
            await backend.aclose()

    return asyncio.run(go())


def config(serve, kind: str = "openai-compatible", **kwargs) -> BackendConfig:
    return BackendConfig(name=kind, kind=kind, base_url=serve.base_url, model=serve.model,
                         sampling={"max_tokens": 16}, **kwargs)


def test_openai_compatible_against_transformers_serve(serve):
    [completion] = complete_all(config(serve), [REQUEST])
    assert completion.text and completion.finish_reason in ("length", "stop")
    assert completion.request_id  # transformers serve sends x-request-id
    assert completion.sent_body["reasoning_effort"] == "low" and completion.sent_body["model"] == serve.model
    # the server renders with the chat template: its prompt count is the hf-template render's length
    template_ids = get_renderer("hf-template").render(REQUEST, date=datetime.date.today().isoformat())
    assert completion.usage.prompt_tokens == len(template_ids)
    assert completion.usage.completion_tokens <= 16
    assert completion.prompt_token_ids is None  # not asked for: transformers serve rejects return_token_ids


def test_greedy_answers_repeat_and_both_clients_agree(serve):
    first = complete_all(config(serve), [REQUEST, REQUEST])
    via_hf = complete_all(config(serve, "hf-inference"), [REQUEST])
    assert first[0].text == first[1].text == via_hf[0].text
    assert via_hf[0].sent_body["reasoning_effort"] == "low" and via_hf[0].sent_body["stream"] is False


def test_unknown_field_is_a_client_error(serve):
    with pytest.raises(BackendError) as caught:
        complete_all(config(serve, options={"server": "vllm"}), [REQUEST])  # asks for return_token_ids
    assert (caught.value.cause, caught.value.status, caught.value.retryable) == ("client-error", 422, False)
    assert "return_token_ids" in str(caught.value)

"""`roost` backend kind against the local ROOST stand-in (real server, real HTTP) and the fault server."""

from __future__ import annotations

import asyncio

import pytest

from harness.backends.base import BackendConfig, BackendContext, create_backend
from harness.backends.roost import unwrap_content_repr
from harness.errors import BackendError
from harness.request import ChatRequest
from harness.servers.launch import start

POLICY = "Marketplace policy: counterfeit goods are Violating; everything else is Non-violating."
REQUEST = ChatRequest.from_body({
    "messages": [{"role": "developer", "content": POLICY},
                 {"role": "user", "content": "Genuine Rolex, 50 dollars, pay by gift card"}],
    "temperature": 0.0, "max_tokens": 32})


def _complete(config: BackendConfig, request: ChatRequest = REQUEST, **kwargs):
    async def go():
        backend = create_backend(config, BackendContext())
        try:
            return await backend.complete(request, **kwargs)
        finally:
            await backend.aclose()

    return asyncio.run(go())


@pytest.fixture(scope="module")
def roost():
    with start("roost", verdict="Violating", reasoning="Counterfeit watch, off-platform payment.") as server:
        yield server


def test_records_reasoning_and_verdict_and_sends_the_upstream_shape(roost):
    roost.clear_requests()
    config = BackendConfig(name="roost", kind="roost", base_url=roost.base_url,
                           options={"system_prompt": "You are a content moderator."})
    completion = _complete(config, correlation="case-1/0/roost")
    assert completion.text == "Violating"
    assert completion.reasoning == "Counterfeit watch, off-platform payment."
    assert completion.reasoning_field == "roost"
    # upstream stringifies harmony's content list; the raw body keeps exactly that
    assert completion.raw == {"reasoning": "[TextContent(text='Counterfeit watch, off-platform payment.')]",
                              "verdict": "[TextContent(text='Violating')]"}
    seen = roost.requests_seen()[-1]
    assert seen["body"] == {"messages": [{"role": "user", "content": "Genuine Rolex, 50 dollars, pay by gift card"}],
                            "system_prompt": "You are a content moderator.", "developer_prompt": POLICY,
                            "max_tokens": 32, "temperature": 0.0}
    assert completion.sent_body == seen["body"]
    headers = {k.lower(): v for k, v in seen["headers"].items()} if isinstance(seen["headers"], dict) else \
        {k.lower(): v for k, v in seen["headers"]}
    assert headers.get("x-harness-case") == "case-1/0/roost"


def test_a_scenario_label_parser_reads_the_verdict(roost):
    from harness.scenarios import load_scenario

    scenario = load_scenario("tool-calls")
    _, request = next(iter(scenario.requests()))
    config = BackendConfig(name="roost", kind="roost", base_url=roost.base_url)
    completion = _complete(config, request)
    result = scenario.label_parser().parse(completion.text)
    assert result.ok and result.label == "Violating"
    # verbatim mode keeps upstream's repr; the parser still must not confuse it with Non-violating
    verbatim = _complete(BackendConfig(name="roost", kind="roost", base_url=roost.base_url,
                                       options={"unwrap_content": False}), request)
    assert verbatim.text == "[TextContent(text='Violating')]"


def test_plain_text_server_and_backend_sampling_pins():
    with start("roost", verdict="Non-violating", reasoning="Harmless.", content_repr=False) as server:
        config = BackendConfig(name="r", kind="roost", base_url=server.base_url,
                               sampling={"max_tokens": 70, "top_p": 0.5})
        completion = _complete(config)
        body = server.requests_seen()[-1]["body"]
    assert (completion.text, completion.reasoning) == ("Non-violating", "Harmless.")
    assert body["max_tokens"] == 70 and body["top_p"] == 0.5 and body["temperature"] == 0.0


def test_unparsable_output_500_is_a_retryable_server_error():
    with start("roost", completion="no header at all<|return|>") as server:
        config = BackendConfig(name="r", kind="roost", base_url=server.base_url)
        with pytest.raises(BackendError) as caught:
            _complete(config)
    assert caught.value.cause == "server-error" and caught.value.retryable and caught.value.status == 500


def test_other_failures_map_to_backend_errors():
    with start("fault", script=["429", "ok"]) as server:
        config = BackendConfig(name="f", kind="roost", base_url=server.base_url)
        with pytest.raises(BackendError) as limited:
            _complete(config)
        assert limited.value.cause == "rate-limit" and limited.value.retryable
        with pytest.raises(BackendError) as shape:  # an OpenAI-shaped body has no verdict
            _complete(config)
        assert shape.value.cause == "malformed-response"
    with pytest.raises(BackendError) as refused:  # nothing listens there any more
        _complete(BackendConfig(name="gone", kind="roost", base_url=server.base_url, timeout=5))
    assert refused.value.cause == "connection"


def test_missing_messages_is_a_client_error_and_config_is_checked():
    from harness.errors import HarnessError

    with pytest.raises(HarnessError, match="base_url"):
        create_backend(BackendConfig(name="x", kind="roost"))
    with pytest.raises(HarnessError, match="besides the policy"):
        _complete(BackendConfig(name="x", kind="roost", base_url="http://127.0.0.1:9/v1"),
                  ChatRequest.from_body({"messages": [{"role": "system", "content": "policy only"}]}))


def test_unwrap_content_repr_handles_quotes_and_concatenated_lists():
    assert unwrap_content_repr("[TextContent(text='Violating')]") == "Violating"
    assert unwrap_content_repr("[TextContent(text=\"it's fine\")]") == "it's fine"
    assert unwrap_content_repr("[TextContent(text='a\\nb')][TextContent(text='c')]") == "a\nbc"
    assert unwrap_content_repr("[TextContent(text='x'), TextContent(text='y')]") == "xy"
    assert unwrap_content_repr("Violating") == "Violating"
    assert unwrap_content_repr("[TextContent(text='x')] trailing") == "[TextContent(text='x')] trailing"

"""The LLM calls in a capture: what endpoint, model, provider, roles, reasoning effort and sampling each one used."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

ROUTER_HOST = "router.huggingface.co"
SAMPLING_KEYS = ("temperature", "top_p", "top_k", "min_p", "seed", "max_tokens", "max_completion_tokens",
                 "max_output_tokens", "stop", "frequency_penalty", "presence_penalty", "n")


@dataclass(frozen=True)
class LlmCall:
    flow_id: str
    case: str | None
    method: str
    endpoint: str  # host + path
    model: str | None
    provider: str | None
    roles: tuple[str, ...]
    reasoning_effort: str | None
    sampling: dict[str, Any] = field(default_factory=dict)
    stream: bool | None = None
    status: str = ""  # HTTP status, or "error: <message>"
    effort_served: str | None = None  # the `Reasoning:` line of the served prompt, where the response has its ids


def header(headers: list[list[str]] | None, name: str) -> str | None:
    """First value of a header in a flow record's [name, value] list (case-insensitive)."""
    for key, value in headers or []:
        if key.lower() == name.lower():
            return value
    return None


def request_json(flow: dict) -> dict | None:
    body = ((flow.get("request") or {}).get("body") or {}).get("json")
    return body if isinstance(body, dict) else None


def response_json(flow: dict) -> dict | None:
    """The response body, or for a stream the reassembled final message in chat-completion form."""
    body = (flow.get("response") or {}).get("body") or {}
    if body.get("sse"):
        sse = body["sse"]
        return {"id": sse.get("id"), "model": sse.get("model"), "usage": sse.get("usage"),
                "choices": [{"index": 0, "message": sse.get("message"), "finish_reason": sse.get("finish_reason")}]}
    return body.get("json") if isinstance(body.get("json"), dict) else None


def served_provider(flow: dict) -> str | None:
    """x-inference-provider response header, else the router path `router.huggingface.co/<provider>/...`."""
    provider = header((flow.get("response") or {}).get("headers"), "x-inference-provider")
    if provider:
        return provider
    return pinned_provider(flow)


def pinned_provider(flow: dict) -> str | None:
    """The provider the client asked for: the router path segment (`/groq/openai/v1/...`), if any."""
    url = urlsplit((flow.get("request") or {}).get("url") or "")
    if url.hostname == ROUTER_HOST:
        first = url.path.strip("/").split("/", 1)[0]
        if first and first not in ("v1", "models", "api"):
            return first
    return None


def reasoning_effort(body: dict) -> Any:
    """`reasoning_effort` (chat completions), else `reasoning.effort` (responses API)."""
    if body.get("reasoning_effort") is not None:
        return body["reasoning_effort"]
    reasoning = body.get("reasoning")
    return reasoning.get("effort") if isinstance(reasoning, dict) else None


def is_llm_call(flow: dict) -> bool:
    body = request_json(flow)
    return body is not None and any(key in body for key in ("messages", "prompt", "input"))


def calls_by_case(flows: list[dict]) -> dict[tuple[str, int], dict[str, dict]]:
    """{(case_id, repeat): {backend: flow}} for the chat calls the harness linked with its correlation header.
    A retried call is several flows: the last one that got a response stands for it, else the last attempt.
    The report and the drift check both read captures through this, so they name the same classes."""
    calls: dict[tuple[str, int], dict[str, dict]] = {}
    for flow in flows:
        case = flow.get("case") or {}
        if not is_llm_call(flow) or not case.get("backend") or not isinstance(case.get("repeat"), int):
            continue
        slot = calls.setdefault((str(case.get("case_id")), case["repeat"]), {})
        kept = slot.get(case["backend"])
        if kept is None or flow.get("response") is not None or kept.get("response") is None:
            slot[case["backend"]] = flow
    return calls


def llm_calls(flows: list[dict]) -> list[LlmCall]:
    from harness.capture.params import served_effort

    calls = []
    for flow in flows:
        if not is_llm_call(flow):
            continue
        body = request_json(flow) or {}
        request = flow.get("request") or {}
        url = urlsplit(request.get("url") or "")
        messages = body.get("messages") if isinstance(body.get("messages"), list) else []
        response = flow.get("response")
        if response is not None:
            status = str(response.get("status"))
        else:
            status = f"error: {(flow.get('error') or {}).get('message', 'no response')}"
        calls.append(LlmCall(
            flow_id=flow.get("id", ""), case=(flow.get("case") or {}).get("raw"), method=request.get("method", ""),
            endpoint=f"{url.netloc}{url.path}", model=body.get("model"), provider=served_provider(flow),
            roles=tuple(str(m.get("role")) for m in messages if isinstance(m, dict)),
            reasoning_effort=reasoning_effort(body),
            sampling={k: body[k] for k in SAMPLING_KEYS if k in body}, stream=body.get("stream"), status=status,
            effort_served=served_effort(flow) if response is not None else None))
    return calls

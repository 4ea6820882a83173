"""Render + diff throughput (harmony vs hf-template) and the alignment speed on 32k-token prompts."""

from __future__ import annotations

import random
import statistics
import time

RUNS = 5


def _requests(n: int, seed: int = 0):
    """n distinct requests of ~1k prompt tokens: a policy, a few turns, a tool round trip."""
    from harness.request import ChatRequest

    rng = random.Random(seed)
    words = ["spam", "offer", "free", "click", "account", "verify", "password", "invoice", "meeting", "lunch", "report", "urgent", "refund", "prize", "winner", "shipping", "delivery", "bank", "transfer", "crypto", "update"]
    policy = " ".join(rng.choice(words) for _ in range(450))
    tools = [{"type": "function", "function": {"name": "lookup", "description": "Look up a sender",
                                               "parameters": {"type": "object",
                                                              "properties": {"q": {"type": "string"}}}}}]
    out = []
    for i in range(n):
        text = " ".join(rng.choice(words) for _ in range(300))
        out.append(ChatRequest.from_body({"messages": [
            {"role": "system", "content": f"# Policy {i}\n{policy}"}, {"role": "user", "content": text},
            {"role": "assistant", "content": "", "tool_calls": [
                {"id": "c", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\":\"x\"}"}}]},
            {"role": "tool", "tool_call_id": "c", "content": "{\"known\": false}"},
            {"role": "user", "content": "Label it."}], "tools": tools, "reasoning_effort": "low"}))
    return out


def _render_diff_rate(requests) -> tuple[float, int]:
    from harness.diff import render_diff

    start = time.perf_counter()
    tokens = 0
    for request in requests:
        result = render_diff(request, ["harmony", "hf-template"], date="2025-06-01")
        tokens += len(result.tokens["harmony"])
    return len(requests) / (time.perf_counter() - start), tokens // len(requests)


def _diff_only_rate(pairs) -> float:
    from harness.diff import diff_tokens

    start = time.perf_counter()
    for a, b in pairs:
        diff_tokens(a, b)
    return len(pairs) / (time.perf_counter() - start)


def _align_ms() -> float:
    from harness.diff.align import align

    rng = random.Random(1)
    vocab = [rng.randrange(200_000) for _ in range(4000)]
    a = [rng.choice(vocab) for _ in range(32_000)]
    b = list(a)
    for _ in range(10):
        p = rng.randrange(len(b))
        b[p:p + rng.randint(0, 3)] = [rng.randrange(200_000) for _ in range(rng.randint(1, 3))]
    times = []
    for _ in range(RUNS * 2):
        start = time.perf_counter()
        align(a, b)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def run() -> list[dict]:
    requests = _requests(1000)
    _render_diff_rate(requests[:20])  # warm-up: build renderers, compile the template
    rates = [_render_diff_rate(requests) for _ in range(RUNS)]
    rate = statistics.median(r for r, _ in rates)
    tokens = rates[0][1]
    from harness.render import render_all

    rendered = [render_all(r, ["harmony", "hf-template"], date="2025-06-01") for r in requests[:300]]
    pairs = [(t["harmony"], t["hf-template"]) for t in rendered]
    diff_rate = statistics.median(_diff_only_rate(pairs) for _ in range(RUNS))
    return [
        {"name": f"render-diff harmony vs hf-template, 1000 requests of ~{tokens} tokens", "value": rate,
         "unit": "requests/s", "target": 500, "higher_is_better": True, "baseline": None},
        {"name": f"diff only (align + parse + classify), harmony vs hf-template renders of ~{tokens} tokens",
         "value": diff_rate, "unit": "pairs/s", "target": 500, "higher_is_better": True, "baseline": None},
        {"name": "token diff of two 32k-token sequences differing in 10 places", "value": _align_ms(),
         "unit": "ms", "target": 50, "higher_is_better": False, "baseline": None},
    ]


if __name__ == "__main__":
    for figure in run():
        print(figure)

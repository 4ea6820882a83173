"""Tolerant Harmony parser speed on 32k-token sequences (medians of several runs).

Figures:
- a long conversation (a few big messages: policy, documents, reasoning) -- the usual shape of a prompt;
- the worst realistic shape: ~2000 short messages (tool calls, tool results, analysis) in 32k tokens;
- a ratio against openai-harmony's own (strict, non-tolerant) parser on the same 32k-token completion, measured
  side by side in the same run.
"""

from __future__ import annotations

import statistics
import time

RUNS = 9
N_TOKENS = 32768

SHORT_TURNS = ("<|start|>user<|message|>Weather in Zürich? please tell me now<|end|>"
               "<|start|>assistant<|channel|>analysis<|message|>Need the tool.<|end|>"
               "<|start|>assistant to=functions.get_weather<|channel|>commentary <|constrain|>json<|message|>"
               '{"location": "Zürich"}<|call|>'
               "<|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>{\"temp\": 20}<|end|>")
COMPLETION_TURNS = ("<|channel|>analysis<|message|>" + "The user asks whether this is spam. " * 40 + "<|end|>"
                    "<|start|>assistant<|channel|>commentary to=functions.lookup <|constrain|>json<|message|>"
                    '{"q": "sender"}<|call|>'
                    "<|start|>functions.lookup to=assistant<|channel|>commentary<|message|>{\"known\": false}<|end|>"
                    "<|start|>assistant")


def _median_ms(fn, *args) -> float:
    fn(*args)  # warm up
    timings = []
    for _ in range(RUNS):
        started = time.perf_counter()
        fn(*args)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1000


def _repeat_to(ids: list[int], n: int) -> list[int]:
    return (ids * (n // len(ids) + 1))[:n]


def run() -> list[dict]:
    from openai_harmony import Role

    from harness.assets import harmony_encoding
    from harness.render.parser import parse_tokens

    encoding = harmony_encoding()

    def encode(text: str) -> list[int]:
        return list(encoding.encode(text, allowed_special="all"))

    document = "Policy section: content that advertises or links to scams is spam. " * 60
    long_prompt = encode("<|start|>system<|message|>You are ChatGPT.<|end|><|start|>developer<|message|># Instructions"
                         "\n\n" + document * 6 + "<|end|>")
    long_prompt = long_prompt + _repeat_to(encode(f"<|start|>user<|message|>{document}<|end|>"),
                                           N_TOKENS - len(long_prompt))
    short_messages = _repeat_to(encode(SHORT_TURNS), N_TOKENS)

    # A completion harmony's parser accepts: whole turns, each continuing the previous turn's `<|start|>assistant`;
    # the last turn's trailing `<|start|>assistant` is dropped.
    turn = encode(COMPLETION_TURNS)
    completion = (turn * (N_TOKENS // len(turn)))[:-len(encode("<|start|>assistant"))]
    harmony_ms = _median_ms(encoding.parse_messages_from_completion_tokens, completion, Role.ASSISTANT)
    ours_ms = _median_ms(parse_tokens, completion)

    n_short = len(parse_tokens(short_messages).messages)
    return [
        {"name": f"parse a {N_TOKENS}-token conversation of long messages", "value": _median_ms(parse_tokens,
                                                                                                 long_prompt),
         "unit": "ms", "target": 50, "higher_is_better": False, "baseline": None},
        {"name": f"parse a {N_TOKENS}-token sequence of {n_short} short messages", "value": _median_ms(
            parse_tokens, short_messages), "unit": "ms", "target": 50, "higher_is_better": False, "baseline": None},
        {"name": f"tolerant parser time / openai-harmony parser time, {len(completion)}-token completion",
         "value": ours_ms / harmony_ms, "unit": "ratio", "target": 1.0, "higher_is_better": False,
         "baseline": f"openai-harmony parse_messages_from_completion_tokens: {harmony_ms:.1f} ms "
                     f"(ours {ours_ms:.1f} ms)"},
    ]

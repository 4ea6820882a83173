"""Attribution of 1,000 flips from stored evidence (no generation): find the flips, diff the two prompts of each,
read the stored replays and decide the cause (target < 5 s). Synthetic answers on real renders: two backends,
1,000 cases rendered by openai-harmony and by the chat template (so every pair of prompts differs), labels that
differ on every case, each prompt's greedy replay stored."""

from __future__ import annotations

import statistics
import time

CASES = 1000
ROUNDS = 3


def _evidence():
    from harness.explain.attribution import Answer, Prompt, ReplayResults
    from harness.render import render_all
    from harness.request import ChatRequest

    answers, own, replays = {}, {}, ReplayResults()
    for i in range(CASES):
        request = ChatRequest.from_body({"messages": [
            {"role": "system", "content": "Classify the message as spam (1) or not (0)."},
            {"role": "user", "content": f"message number {i}: win a free prize now, click the link"}]})
        rendered = render_all(request, ["harmony", "hf-template"], date="2026-01-15")
        for backend, renderer, label in (("a", "harmony", "1"), ("b", "hf-template", "0")):
            ids = rendered[renderer]
            answers[(backend, f"c{i}", 0)] = Answer(backend, f"c{i}", 0, label, Prompt(ids, "exposed"), margin=0.9)
            own[(backend, f"c{i}")] = [label]
            replays.greedy[ReplayResults.prompt_key(ids)] = (label, 0.9)
    return answers, own, replays


def attribute_once(answers, own, replays) -> tuple[float, dict]:
    from harness.diff import diff_tokens
    from harness.explain.attribution import Attribution, decide, find_flips

    def render_diff(a, b):
        data = diff_tokens(a, b).to_json()
        return {"classes": data["classes"], "first_divergence": data["first_divergence"]}

    began = time.perf_counter()
    flips, compared = find_flips(answers, ["a", "b"])
    for flip in flips:
        decide(flip, answers, own, render_diff, replays, {}, 0.2)
    counts = Attribution(flips, compared, "a", 1, 0.2).counts
    return time.perf_counter() - began, counts


def run() -> list[dict]:
    evidence = _evidence()
    walls, counts = [], {}
    for _ in range(ROUNDS):
        wall, counts = attribute_once(*evidence)
        walls.append(wall)
    assert sum(counts.values()) == CASES, counts
    return [{"name": "attribution_1000_flips", "value": statistics.median(walls), "unit": "s", "target": 5.0,
             "higher_is_better": False, "baseline": f"median of {ROUNDS}; causes {counts}"}]


if __name__ == "__main__":
    print(run())

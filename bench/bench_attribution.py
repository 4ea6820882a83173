"""Attribution of 1,000 flips from stored evidence (no generation): find the flips, diff the two prompts of each,
read the stored replays and decide the cause (target < 5 s). Synthetic answers on real renders: two backends,
1,000 cases rendered by openai-harmony and by the chat template (so every pair of prompts differs), labels that
differ on every case, each prompt's greedy replay stored.

And what replaying costs when nothing is stored: a flip needs at most one greedy replay per prompt and, for a
backend that samples, `DEFAULT_SEEDS` sampled ones (prompts shared between flips are replayed once). Measured on
the tiny model (local-harmony's, 48 tokens) over spam prompts: seconds per generation, and per flip of a sampling
backend against a greedy one (2 greedy + 4 sampled generations)."""

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


REPLAY_CASES = 8


def replay_cost() -> tuple[float, int]:
    """(seconds, generations) to replay REPLAY_CASES spam prompts greedily and with 4 seeds at temperature 0.7."""
    import tempfile
    from pathlib import Path

    from harness.explain.replay import Replayer, ReplayJob
    from harness.explain.run import DEFAULT_REPLAY_MAX_TOKENS, DEFAULT_SEEDS
    from harness.render import get_renderer
    from harness.run.compare import _labeler
    from harness.run.store import ResultStore
    from harness.scenario import load_scenario

    scenario = load_scenario("spam", limit=REPLAY_CASES)
    renderer = get_renderer("harmony")
    prompts = [(case.id, tuple(renderer.render(scenario.request_for(case), date="2026-01-15")))
               for case in scenario.cases]
    sampled = (("temperature", 0.7),)
    jobs = [ReplayJob(case_id, ids, (), 0) for case_id, ids in prompts]
    jobs += [ReplayJob(case_id, ids, sampled, seed) for case_id, ids in prompts for seed in range(DEFAULT_SEEDS)]
    config = {"kind": "transformers-harmony", "model": "tiny-gpt-oss", "revision": "bench"}
    with tempfile.TemporaryDirectory() as tmp, ResultStore(Path(tmp) / "results.sqlite") as store:
        replayer = Replayer(store, "local-harmony", config, max_tokens=DEFAULT_REPLAY_MAX_TOKENS,
                            labeler=_labeler(scenario, "tiny-gpt-oss"))
        replayer.run(jobs[:1])  # load the model once, outside the timing
        began = time.perf_counter()
        replayer.run(jobs[1:])
        return time.perf_counter() - began, replayer.generated - 1


def run() -> list[dict]:
    seconds, generations = replay_cost()
    per_generation = seconds / generations
    figures = [{"name": "replay_seconds_per_generation", "value": per_generation, "unit": "s", "target": None,
                "higher_is_better": False,
                "baseline": f"{generations} generations (greedy and 4 seeds at T=0.7, batches of 8) on the tiny model"},
               {"name": "replay_seconds_per_sampling_flip", "value": per_generation * (2 + 4), "unit": "s",
                "target": None, "higher_is_better": False,
                "baseline": "2 greedy + 4 sampled generations, nothing stored; a rerun reuses them all"}]
    evidence = _evidence()
    walls, counts = [], {}
    for _ in range(ROUNDS):
        wall, counts = attribute_once(*evidence)
        walls.append(wall)
    assert sum(counts.values()) == CASES, counts
    return [{"name": "attribution_1000_flips", "value": statistics.median(walls), "unit": "s", "target": 5.0,
             "higher_is_better": False, "baseline": f"median of {ROUNDS}; causes {counts}"}, *figures]


if __name__ == "__main__":
    print(run())

"""Explain every flip: known causes on real local models and servers.

- render: two local backends on the same weights whose only difference is the render (harmony ids vs the chat
  template's) disagree where the render moves the label, and replays show it;
- server: a server of the project's that is fed the very same prompt ids as the local reference path but answers
  otherwise (a scripted completion);
- sampling: a temperature-1 vLLM whose own repeats disagree;
and `harness explain` on a run, its bad input, and a rerun that replays nothing twice."""

from __future__ import annotations

import json

import pytest
from conftest import assert_clean_error, run_harness

from harness.explain.run import explain_run
from harness.run.compare import CompareOptions, run_compare

pytestmark = pytest.mark.slow


def _config(path, lines: list[str]):
    path.write_text("\n".join(lines) + "\n")
    return path


def _local(name: str, kind: str) -> list[str]:
    return [f"[backends.{name}]", f'kind = "{kind}"', 'model = "tiny-gpt-oss"', "batch_size = 8",
            "[backends." + name + ".sampling]", "max_tokens = 48", "temperature = 0.0", "seed = 0"]


@pytest.fixture(scope="module")
def render_run(tmp_path_factory):
    """prompt-formats through the harmony path and the pipeline (chat template) on the same tiny model, both
    greedy: the render is their only difference."""
    tmp = tmp_path_factory.mktemp("explain-render")
    config = _config(tmp / "harness.toml", [*_local("local-harmony", "transformers-harmony"),
                                            *_local("local-pipeline", "transformers-pipeline")])
    out = tmp / "run"
    run_compare(CompareOptions(scenario="prompt-formats", out=out, profile="config", config=config, repeats=1,
                               capture=False, progress=False))
    return out, explain_run(out)


def test_a_render_difference_on_the_same_weights_is_attributed_render(render_run):
    _, attribution = render_run
    assert attribution.replay_backend == "local-harmony"
    assert attribution.flips, "the tiny model trained on harmony renders moves some label under the template"
    for flip in attribution.flips:
        assert flip.cause == "render", (flip.case_id, flip.why)
        assert flip.evidence["render_classes"], flip.evidence  # the diff classes that moved it
        replay = flip.evidence["replay"]["greedy"]
        # the replays reproduce each backend's own answer from its own prompt ids
        assert replay[flip.a]["label"] == flip.label_a and replay[flip.b]["label"] == flip.label_b
    assert attribution.counts["render"] == len(attribution.flips)


def test_explain_reruns_replay_nothing_twice_and_the_report_shows_the_causes(render_run):
    out, first = render_run
    assert first.replays["generated"] > 0
    text = run_harness("explain", str(out))
    assert text.returncode == 0, text.stderr
    assert "render " in text.stdout and "[P(label): local-harmony " in text.stdout  # local logits: exposed
    done = run_harness("explain", str(out), "--json")
    assert done.returncode == 0, done.stderr
    again = json.loads(done.stdout)
    assert again["replays"]["generated"] == 0 and again["replays"]["reused"] == first.replays["generated"]
    assert again["counts"] == first.counts
    report = run_harness("report", str(out))
    assert report.returncode == 0, report.stderr
    text = (out / "report.md").read_text()
    why = text.split("## Why labels differ", 1)[1].split("\n## ", 1)[0]
    assert f"{len(first.flips)} of {first.compared} answers differ: {first.counts['render']} render" in why
    summary = json.loads((out / "summary.json").read_text())
    assert summary["attribution"]["counts"] == first.counts
    assert {"a", "b", "case_id", "repeat", "label_a", "label_b", "cause", "evidence"} <= set(
        summary["attribution"]["flips"][0])


def test_identical_prompts_answered_otherwise_are_attributed_server(tmp_path):
    from harness.servers.launch import start

    # the reference server renders like vLLM (= harmony here, no tools) and always answers 1
    with start("harmony-reference", served_model_name="tiny-gpt-oss",
               completion="<|channel|>final<|message|>1<|return|>") as server:
        config = _config(tmp_path / "harness.toml", [
            *_local("local-harmony", "transformers-harmony"),
            "[backends.scripted]", 'kind = "openai-compatible"', f'base_url = "{server.base_url}"',
            'model = "tiny-gpt-oss"', "options = { return_token_ids = true }",
            "[backends.scripted.sampling]", "max_tokens = 48", "temperature = 0.0"])
        out = tmp_path / "run"
        run_compare(CompareOptions(scenario="toxic-simple", out=out, profile="config", config=config, repeats=1,
                                   capture=False, progress=False))
    attribution = explain_run(out)
    assert attribution.flips  # local-harmony says 0 on the benign cases
    for flip in attribution.flips:
        assert flip.cause == "server", (flip.case_id, flip.why)
        assert flip.evidence["prompts_identical"] is True
        assert {flip.label_a, flip.label_b} == {"0", "1"}


def test_a_sampling_backend_whose_own_repeats_disagree_is_attributed_sampling(tmp_path, vllm_server):
    config = _config(tmp_path / "harness.toml", [
        *_local("local-harmony", "transformers-harmony"),
        "[backends.hot-vllm]", 'kind = "openai-compatible"', f'base_url = "{vllm_server.base_url}"',
        f'model = "{vllm_server.model}"', 'options = { server = "vllm" }',
        "[backends.hot-vllm.sampling]", "max_tokens = 48", "temperature = 1.0"])
    out = tmp_path / "run"
    run_compare(CompareOptions(scenario="toxic-simple", out=out, profile="config", config=config, repeats=3,
                               capture=False, progress=False))
    attribution = explain_run(out, seeds=2)
    noisy = [f for f in attribution.flips if len(set(f.evidence["own_repeats"]["hot-vllm"])) > 1]
    assert noisy, "temperature 1 on the tiny model flips some case across 3 repeats"
    assert all(f.cause == "sampling" for f in noisy), [(f.case_id, f.cause, f.why) for f in noisy]


def test_explain_bad_input_is_one_line(tmp_path, render_run):
    out, _ = render_run
    assert_clean_error(run_harness("explain", str(tmp_path)))  # not a run folder
    missing = run_harness("explain", str(out), "--replay-backend", "nope")
    assert_clean_error(missing)
    assert "nope" in missing.stderr
    assert_clean_error(run_harness("explain", str(out), "--seeds", "0"))


def test_the_drift_gate_can_fail_on_render_caused_flips(render_run, tmp_path):
    out, attribution = render_run
    baseline = tmp_path / "baseline.json"
    saved = run_harness("baseline", "save", str(out), "--to", str(baseline))
    assert saved.returncode == 0, saved.stderr
    plain = run_harness("check", str(out), "--baseline", str(baseline), "--json")
    assert plain.returncode == 0, plain.stdout[-2000:]  # the same run: no drift
    gated = run_harness("check", str(out), "--baseline", str(baseline), "--fail-on-cause", "render,server",
                        "--json")
    assert gated.returncode == 1, gated.stdout[-2000:]
    result = next(r for r in json.loads(gated.stdout)["results"] if r["check"] == "flip-causes")
    assert result["status"] == "fail" and result["details"]["counts"]["render"] == attribution.counts["render"]
    assert set(result["cases"]) == {f.case_id for f in attribution.flips}
    server_only = run_harness("check", str(out), "--baseline", str(baseline), "--fail-on-cause", "server")
    assert server_only.returncode == 0, server_only.stdout[-2000:]
    assert_clean_error(run_harness("check", str(out), "--baseline", str(baseline), "--fail-on-cause", "kernels"))


def test_a_server_flip_on_identical_prompts_says_where_the_outputs_part():
    """Identical prompt ids, greedy both sides, labels differ: `server`, and where both sides return per-token
    logprobs the why names the output token where they part (numerics), as the run's report shows it."""
    from harness.explain.attribution import Answer, Flip, Prompt, decide

    def entries(tokens, logprobs):
        return [{"token": t, "logprob": lp, "top_logprobs": [{"token": t, "logprob": lp}, {"token": "A", "logprob": -3.4},
                                                              {"token": "Someone", "logprob": -3.4}]}
                for t, lp in zip(tokens, logprobs)]

    prompt = [1, 2, 3]
    a = Answer("local", "c1", 0, "1", Prompt(prompt, "exposed"), logprobs=entries(["<|channel|>", "analysis", "Someone"], [-0.01, -0.02, -3.36]))
    b = Answer("served", "c1", 0, "0", Prompt(list(prompt), "exposed"), logprobs=entries(["<|channel|>", "analysis", "A"], [-0.01, -0.05, -3.37]))
    answers = {("local", "c1", 0): a, ("served", "c1", 0): b}
    flip = Flip("local", "served", "c1", 0, "1", "0")
    decide(flip, answers, {("local", "c1"): ["1"], ("served", "c1"): ["0"]},
           lambda x, y: {"classes": [], "first_divergence": None}, None, {}, near_tie=0.1)
    assert flip.cause == "server"
    assert "part at output token 2, local 'Someone' (logprob -3.36) vs served 'A' (logprob -3.37)" in flip.why
    assert "each among the other's top tokens" in flip.why and "largest logprob gap is 0.030" in flip.why
    assert flip.evidence["numerics"]["first_divergence"] == 2
    # without logprobs the cause is the same, and nothing is claimed about where the outputs part
    bare = Flip("local", "served", "c1", 0, "1", "0")
    a.logprobs = b.logprobs = None
    decide(bare, answers, {}, lambda x, y: {"classes": [], "first_divergence": None}, None, {}, near_tie=0.1)
    assert bare.cause == "server" and bare.why == "identical prompt ids, and still the labels differ"


def test_a_backend_hiding_its_prompt_ids_is_fingerprinted_once_and_its_flips_use_that_render(tmp_path):
    """The scripted server (it renders like vLLM and always answers 0) returns only prompt-token counts, which
    harmony's and the chat template's spam renders share: the run probes it while it is up, explain replays the
    render the probes name (identical to local-harmony's ids: `server`), and a rerun with the server gone reuses
    the stored verdict."""
    from harness.servers.launch import start

    lines = [*_local("local-harmony", "transformers-harmony"),
             "[backends.scripted]", 'kind = "openai-compatible"', "base_url = \"{url}\"", 'model = "tiny-gpt-oss"',
             "[backends.scripted.sampling]", "max_tokens = 48", "temperature = 0.0"]
    out = tmp_path / "run"
    with start("harmony-reference", served_model_name="tiny-gpt-oss",
               completion="<|channel|>final<|message|>{\"violation\": 0}<|return|>") as server:
        config = _config(tmp_path / "harness.toml", [line.format(url=server.base_url) for line in lines])
        options = CompareOptions(scenario="spam", out=out, profile="config", config=config, repeats=1, limit=4,
                                 capture=False, progress=False)
        run_compare(options)
    served = json.loads((out / "run.json").read_text())["backends"]["scripted"]["served_render"]
    assert "vllm" in served["matches"] and "hf-template" in served["ruled_out"], served
    attribution = explain_run(out)
    assert attribution.flips  # local-harmony says 1 on these spam cases
    for flip in attribution.flips:
        assert flip.evidence["prompts"]["scripted"]["source"].startswith("render:"), flip.evidence["prompts"]
        assert flip.cause == "server" and flip.evidence["prompts_identical"] is True, (flip.case_id, flip.why)
    result = run_compare(options)  # the server is down now: nothing to send, and nothing to probe again
    assert result.summary.completed == 0 and not any("which render" in note for note in result.notes)
    again = json.loads((out / "run.json").read_text())["backends"]["scripted"]["served_render"]
    assert again == served

"""The tiny offline gpt-oss answers in Harmony: parseable labels on held-out cases under both renders.

It learns the answer formats of spam, likert-opinions, toxic-simple and prompt-formats from synthetic cases; the
built-in cases of those scenarios are held out and are what these tests evaluate on."""

from __future__ import annotations

import ast
import json
import random
import subprocess
import sys

import pytest
from conftest import ROOT

from harness import tiny_model
from harness.scenario import load_scenario
from harness.tiny_model import training


def _fresh_model(seed: int = 0):
    import torch
    from transformers import GptOssForCausalLM

    from harness.tiny_model import tiny_config

    torch.manual_seed(seed)
    return GptOssForCausalLM(tiny_config()).eval()


NEW_SCENARIOS = ("likert-opinions", "toxic-simple", "prompt-formats")
TASKS = {task.scenario: task for task in tiny_model.TASKS}


@pytest.fixture(scope="module")
def trained(assets):
    """The provisioned model (provisioning trains it once per machine) and its evaluation on the spam cases."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(assets.model_dir).eval()
    return model, tiny_model.evaluate(model, assets, "spam")


@pytest.fixture(scope="module")
def trained_new(trained, assets):
    """The provisioned model's evaluation on the held-out cases of the scenarios learnt besides spam."""
    model, _ = trained
    return {name: tiny_model.evaluate(model, assets, name) for name in NEW_SCENARIOS}


def test_tasks_are_the_builtin_scenarios_but_tool_calls():
    assert set(TASKS) == {"spam", *NEW_SCENARIOS}
    assert TASKS["prompt-formats"].prompt_formats == ("policy-in-system", "policy-in-developer", "inject-harmony")
    assert TASKS["toxic-simple"].prompt_formats == ("policy-in-developer",)



def test_tasks_follow_the_scenarios_declarations():
    """The built-in scenarios declare what is learnt (generator, weight, place in the mix, answers); the order
    is the training order, which the trained weights depend on."""
    assert [t.scenario for t in tiny_model.TASKS] == ["spam", *NEW_SCENARIOS]
    assert [t.weight for t in tiny_model.TASKS] == [1.0, 0.4, 0.6, 0.4]
    assert [t.make_case for t in tiny_model.TASKS] == [tiny_model.spam_case, tiny_model.likert_case,
                                                       tiny_model.toxic_case, tiny_model.contact_case]
    spam = TASKS["spam"]
    for label in (0, 1):  # byte for byte what the answer format has always been
        rationale = "Spam under the policy." if label else "Not spam under the policy."
        assert spam.answer(label, "reason") == json.dumps({"violation": label, "rationale": rationale})
    assert [TASKS["likert-opinions"].answer(k, "reason") for k in (1, 5)] == ["1", "5"]


def test_an_unknown_case_generator_is_one_clear_error(tmp_path):
    from harness.errors import HarnessError
    from harness.tiny_model.tasks import task_for

    text = (ROOT / "scenarios" / "toxic-simple.toml").read_text().replace('cases = "toxic"', 'cases = "toxik"')
    (tmp_path / "toxic-simple.toml").write_text(text)
    scenario = load_scenario(tmp_path / "toxic-simple.toml")  # the loader cannot know the generators
    with pytest.raises(HarnessError, match="cases = 'toxik' is not a case generator.*known: contact, likert, spam, "
                                           "toxic"):
        task_for(scenario)


def test_the_recipe_hash_follows_the_learnt_tables(monkeypatch):
    """A scenario's [tiny_model] table is not in its fingerprint, so the recipe hash reads it itself."""
    import dataclasses

    from harness.tiny_model import tasks

    before = tiny_model.recipe_hash()
    original = tasks._scenario

    def heavier(name):
        scenario = original(name)
        if name != "spam":
            return scenario
        return dataclasses.replace(scenario, tiny_model={**scenario.tiny_model, "weight": 2.0})

    monkeypatch.setattr(tasks, "_scenario", heavier)
    assert tiny_model.recipe_hash() != before


def test_assets_never_imports_the_tiny_model():
    """No import circle: the tiny model builds on assets (and provisions the model a layer above it); assets only
    reads the marker the build writes."""
    tree = ast.parse((ROOT / "harness" / "assets.py").read_text())
    imported = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.append(node.module)
            imported.extend(f"{node.module}.{alias.name}" for alias in node.names)
    assert imported and not [name for name in imported if name.startswith("harness.tiny_model")]


@pytest.mark.parametrize("module", ["harness.tiny_model", "harness.tiny_model.build", "harness.tiny_model.training",
                                    "harness.tiny_model.recipe", "harness.tiny_model.evaluation"])
def test_the_tiny_model_imports_in_a_fresh_interpreter(module):
    code = ("import sys, harness.assets\n"
            "assert not [m for m in sys.modules if m.startswith('harness.tiny_model')]\n"
            f"import {module}\n"
            "from harness.tiny_model import TASKS, provision, recipe_hash, train_tiny_model\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr

def test_synthetic_cases_are_not_the_builtin_cases():
    rng = random.Random(1)
    cases = [tiny_model.spam_case(rng) for _ in range(3000)]
    builtin = {c.text for c in load_scenario("spam").cases}
    assert not builtin & {text for text, _, _ in cases}
    labels = [label for _, label, _ in cases]
    assert 0.4 < sum(labels) / len(labels) < 0.6


@pytest.mark.parametrize("scenario", NEW_SCENARIOS)
def test_new_synthetic_cases_are_not_the_builtin_cases(scenario):
    """The new tasks' synthetic texts never reproduce a held-out case, and their answers parse as that scenario's
    labels (a spread of them, not one)."""
    task = TASKS[scenario]
    rng = random.Random(1)
    cases = [task.make_case(rng) for _ in range(3000)]
    texts = {text for text, _, _ in cases}
    loaded = load_scenario(scenario)
    builtin = {c.text for c in loaded.cases}
    assert not builtin & texts
    assert not {t.lower().strip(" .!") for t in builtin} & {t.lower().strip(" .!") for t in texts}
    assert len(texts) > 400  # varied, not a handful of fixed statements
    parser = loaded.label_parser()
    counts: dict[str, int] = {}
    for _, label, reason in cases[:300]:
        parsed = parser.parse(task.answer(label, reason))
        assert parsed.ok, (label, reason)
        assert parsed.label == str(label)
        counts[parsed.label] = counts.get(parsed.label, 0) + 1
    if scenario == "likert-opinions":
        assert set(counts) == {"1", "2", "3", "4", "5"}
    else:
        assert set(counts) == {"0", "1"} and min(counts.values()) > 100


@pytest.mark.parametrize("renderer", tiny_model.RENDERERS)
@pytest.mark.parametrize(("scenario", "prompt_format"),
                         [(t.scenario, f) for t in tiny_model.TASKS for f in t.prompt_formats])
def test_prefix_split_is_exact(assets, encoding, renderer, scenario, prompt_format):
    """prefix + case tokens + tail is exactly the full render (what training feeds is what inference sees), for
    every task under each of its prompt formats."""
    from harness.render import get_renderer

    def encode(text):
        return list(encoding.encode(text, allowed_special="all"))

    task = TASKS[scenario]
    group = tiny_model.build_group(assets, task, renderer, "2025-03-17", "low", encode, prompt_format)
    assert group.prompt_format == prompt_format
    policy = load_scenario(task.scenario).policy
    for text, _, _ in (task.make_case(random.Random(k)) for k in range(5)):
        request = training._request(policy, prompt_format, text, "low")
        full = get_renderer(renderer, assets).render(request, date="2025-03-17")
        assert full == group.prefix + encode(text) + group.tail


def test_prefix_forward_matches_transformers(assets, encoding):
    """The training forward (shared prefix, kept positions, padded batch) equals transformers' own forward."""
    import torch

    def encode(text):
        return list(encoding.encode(text, allowed_special="all"))

    model = _fresh_model(seed=3)
    with torch.no_grad():  # random init has tiny weights; scale up so a wrong mask or sink would show
        for name, parameter in model.named_parameters():
            if "norm" not in name:
                parameter.mul_(20.0)
    group = tiny_model.build_group(assets, tiny_model.TASKS[0], "harmony", "2026-01-15", "low", encode)
    rows = [encode("Short one.") + group.tail, encode("A longer case text, with more words to read here!") + group.tail]
    vocab = torch.tensor(sorted(set(group.prefix) | {t for r in rows for t in r} | {199999}))
    unseen = [12345, 54321]  # frozen rows (words the training data never uses), read at their current values
    assert not set(unseen) & set(vocab.tolist())
    rows[1][3:3] = unseen
    forward = tiny_model.PrefixForward(model, vocab, torch.tensor(unseen))
    width = max(len(r) for r in rows)
    suffixes = torch.tensor([r + [199999] * (width - len(r)) for r in rows])
    keep = torch.tensor([[0, len(rows[0]) - 1, 2], [len(rows[1]) - 1, 5, 0]])
    with torch.no_grad():
        ours = forward.hidden(torch.tensor(group.prefix), suffixes, keep)
        for b, row in enumerate(rows):
            ids = torch.tensor([group.prefix + row])
            theirs = model.model(input_ids=ids).last_hidden_state[0, len(group.prefix):]
            expected = theirs[keep[b]]
            assert torch.allclose(ours[b], expected, atol=1e-4), float((ours[b] - expected).abs().max())
            assert expected.abs().max() > 0.1  # not a vacuous comparison


def test_prefix_forward_rejects_tokens_outside_its_tables(assets):
    import torch

    model = _fresh_model(seed=3)
    forward = tiny_model.PrefixForward(model, torch.tensor([1, 2, 3]), torch.tensor([7]))
    assert forward.embed_ids(torch.tensor([1, 7, 3])).shape == (3, model.config.hidden_size)
    assert torch.equal(forward.embed_ids(torch.tensor([7]))[0], model.model.embed_tokens.weight[7])
    with pytest.raises(RuntimeError, match="outside the training vocab"):
        forward.embed_ids(torch.tensor([1, 8]))


def test_structure_tokens_weigh_more(encoding):
    completion = list(encoding.encode(tiny_model.completion_text("A reason.", "1"), allowed_special="all"))
    weights = [training._structure_weight(completion, k) for k in range(len(completion))]
    text = [encoding.decode([t]) for t in completion]
    heavy = {t for t, w in zip(text, weights) if w == tiny_model.STRUCTURE_WEIGHT}
    assert {"<|channel|>", "analysis", "final", "<|message|>", "A", "1", "<|return|>"} <= heavy
    assert " reason" not in heavy and 1.0 in weights


def test_training_is_deterministic(assets):
    import torch

    states = []
    for _ in range(2):
        model = _fresh_model(seed=0)
        report = tiny_model.train_tiny_model(model, assets.tokenizer_dir, seed=0, steps=3, batch=4)
        states.append({k: v.clone() for k, v in model.state_dict().items()})
        assert report.steps == 3 and report.final_loss < report.first_loss + 1.0
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    fresh = _fresh_model(seed=0).state_dict()
    assert not torch.equal(fresh["model.embed_tokens.weight"], states[0]["model.embed_tokens.weight"])


def test_stale_model_dir_is_rebuilt(tmp_path):
    from harness.tiny_model import tiny_model_current

    (tmp_path / "config.json").write_text("{}")
    assert not tiny_model_current(tmp_path)  # a random-weight build from before has no marker
    (tmp_path / tiny_model.MARKER_FILE).write_text(json.dumps({"version": "old"}))
    assert not tiny_model_current(tmp_path)
    # the same version name by another recipe (code, architecture or learnt scenarios changed): rebuilt too
    stale = {"version": tiny_model.TINY_MODEL_VERSION, "recipe": "0" * 12}
    (tmp_path / tiny_model.MARKER_FILE).write_text(json.dumps(stale))
    assert not tiny_model_current(tmp_path)
    current = {"version": tiny_model.TINY_MODEL_VERSION, "recipe": tiny_model.recipe_hash()}
    (tmp_path / tiny_model.MARKER_FILE).write_text(json.dumps(current))
    assert tiny_model_current(tmp_path)


def test_model_card_and_marker(assets):
    card = (assets.model_dir / "README.md").read_text()
    assert "synthetic Harmony training" in card and "not the real model's behaviour" in card
    marker = json.loads((assets.model_dir / tiny_model.MARKER_FILE).read_text())
    assert marker["version"] == tiny_model.TINY_MODEL_VERSION
    assert marker["final_loss"] < 0.5 * marker["first_loss"]
    assert marker["tasks"] == ["spam", *NEW_SCENARIOS]
    assert all(name in card for name in marker["tasks"])


@pytest.mark.slow
@pytest.mark.parametrize("renderer", tiny_model.RENDERERS)
def test_spam_completions_parse_and_beat_chance(trained, renderer):
    _, results = trained
    result = results[renderer]
    assert result.parse_rate >= 0.8, result.finals
    assert result.accuracy >= 0.6, result.labels


@pytest.mark.slow
def test_completion_is_well_formed_harmony(trained, assets):
    """analysis, then final, then <|return|>: the shape the harness's parsers expect from gpt-oss."""
    from harness.render import get_renderer
    from harness.render.parser import parse_tokens

    model, _ = trained
    scenario = load_scenario("spam")
    case = scenario.cases[0]
    prompt = get_renderer("harmony", assets).render(scenario.request_for(case), date="2026-01-15")
    completion = tiny_model.generate(model, [prompt])[0]
    parsed = parse_tokens(completion, completion=True)
    assert [m.channel for m in parsed.messages] == ["analysis", "final"]
    assert not parsed.unparsed
    assert completion[-1] == 200002  # <|return|>
    assert json.loads(parsed.messages[-1].content)["violation"] in (0, 1)


@pytest.mark.slow
@pytest.mark.parametrize("renderer", tiny_model.RENDERERS)
@pytest.mark.parametrize("scenario", NEW_SCENARIOS)
def test_new_scenarios_parse_under_both_renders(trained_new, scenario, renderer):
    """Held-out cases of the other built-in scenarios get parseable labels (a random init gives none)."""
    result = trained_new[scenario][renderer]
    assert len(result.labels) == len(load_scenario(scenario).cases)
    assert result.parse_rate >= 0.9, {c: result.finals[c] for c, v in result.labels.items() if v is None}


@pytest.mark.slow
@pytest.mark.parametrize("renderer", tiny_model.RENDERERS)
def test_toxic_labels_beat_chance(trained_new, renderer):
    """10 toxic + 10 benign held-out messages: a constant or random answer scores about 0.5."""
    result = trained_new["toxic-simple"][renderer]
    assert result.accuracy >= 0.7, result.labels
    assert set(result.labels.values()) >= {"0", "1"}


@pytest.mark.slow
@pytest.mark.parametrize("renderer", tiny_model.RENDERERS)
def test_likert_ratings_vary(trained_new, renderer):
    """The ratings spread over the scale (label distributions and ordinal statistics have something to show)."""
    ratings = [v for v in trained_new["likert-opinions"][renderer].labels.values() if v is not None]
    assert all(1 <= int(v) <= 5 for v in ratings)
    assert len(set(ratings)) >= 2


@pytest.mark.slow
def test_prompt_formats_answered_under_each_format(trained_new):
    """Every case is answered under policy-in-system, policy-in-developer and inject-harmony alike."""
    labels = trained_new["prompt-formats"]["harmony"].labels
    for fmt in ("policy-in-system", "policy-in-developer", "inject-harmony"):
        answered = [v for case, v in labels.items() if case.endswith("@" + fmt)]
        assert len(answered) == 8 and sum(v is not None for v in answered) >= 7, fmt

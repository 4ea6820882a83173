"""Label probabilities at the deciding token (harness.explain.probabilities), the output logprobs the backends
record, per-token numerics (harness.explain.numerics), and where they land: records.csv, summary.json, report.md.
Hand-made logprob lists for the deciding-token logic; the real tiny gpt-oss for the local backends."""

from __future__ import annotations

import asyncio
import json
import math

import pytest

from harness.explain.numerics import compare_logprobs
from harness.explain.probabilities import NEAR_TIE_MARGIN, label_probabilities, parser_spec

FINAL = ["<|channel|>", "final", "<|message|>"]
ANALYSIS = ["<|channel|>", "analysis", "<|message|>", "Looks", " fine", ".", "<|end|>", "<|start|>", "assistant"]


def entry(token: str, p: float = 0.99, alts: dict[str, float] | None = None) -> dict:
    top = {token: p, **(alts or {})}
    return {"token": token, "logprob": math.log(p),
            "top_logprobs": [{"token": t, "logprob": math.log(q)} for t, q in top.items()]}


def sure(tokens: list[str]) -> list[dict]:
    return [entry(t) for t in tokens]


def test_json_field_value_decides_not_an_earlier_digit():
    from harness.labels import get_label_parser

    parser = get_label_parser({"kind": "json-field", "field": "violation", "labels": ["0", "1"]})
    spec = parser_spec(parser)
    # {"score": 1, "violation": 0}: the 1 of "score" comes first, but the field's value decides
    out = sure(ANALYSIS + FINAL + ['{"', "score", '":', " ", "1", ",", ' "', "violation", '":', " "])
    out.append(entry("0", 0.55, {"1": 0.30, " 0": 0.05, "true": 0.04}))
    out += sure(["}", "<|return|>"])
    result = label_probabilities(out, spec.labels, "0", spec=spec)
    assert result.position == len(out) - 3
    assert result.probs["0"] == pytest.approx(0.60)
    assert result.probs["1"] == pytest.approx(0.34)  # "true" is how JSON writes 1
    assert result.margin == pytest.approx(0.26)
    assert not result.near_tie


def test_digit_inside_a_number_or_word_is_not_the_label():
    out = sure(FINAL + ["Confidence", " ", "0", ".", "9", ";", " SP", "1", " answer", ":"])
    out.append(entry(" 1", 0.52, {" 0": 0.47}))
    out.append(entry("<|return|>"))
    result = label_probabilities(out, ["0", "1"], "1")
    assert result.position == len(out) - 2
    assert result.probs == pytest.approx({"1": 0.52, "0": 0.47})
    assert result.near_tie and result.margin == pytest.approx(0.05) and result.margin < NEAR_TIE_MARGIN


def test_multi_token_text_label_counts_prefixes_of_one_label_only():
    labels = ["Violating", "Non-violating"]
    out = sure(ANALYSIS + FINAL)
    out.append(entry("Non", 0.6, {"Viol": 0.25, "V": 0.05, "N": 0.04, "The": 0.03}))
    out += sure(["-v", "iol", "ating", "<|return|>"])
    result = label_probabilities(out, labels, "Non-violating")
    assert result.position == len(ANALYSIS) + 3
    assert result.probs["Non-violating"] == pytest.approx(0.64)  # "Non" + "N"
    assert result.probs["Violating"] == pytest.approx(0.30)  # "Viol" + "V"; "The" is neither
    assert result.margin == pytest.approx(0.34)


def test_token_that_starts_two_labels_counts_for_neither():
    out = sure(FINAL) + [entry("Yes", 0.5, {"Y": 0.3, "YesNo": 0.1})] + sure(["<|return|>"])
    result = label_probabilities(out, ["Yes", "Yesish"], "Yes")
    # "Yes" is exactly one label; "Y" starts both (no owner); "YesNo" starts neither
    assert result.probs == pytest.approx({"Yes": 0.5, "Yesish": 0.0})


def test_likert_digit_after_prose():
    from harness.labels import get_label_parser

    parser = get_label_parser({"kind": "likert", "min": 1, "max": 5})
    spec = parser_spec(parser)
    assert spec.labels == ("1", "2", "3", "4", "5")
    out = sure(FINAL + ["On", " a", " scale", " of", " 1", "-", "5", ",", " my", " rating", " is", ":"])
    out.append(entry(" 4", 0.45, {" 3": 0.40, " 5": 0.1}))
    out += sure([".", "<|return|>"])
    result = label_probabilities(out, spec.labels, "4", spec=spec)
    assert result.position == len(out) - 3
    assert result.probs == pytest.approx({"1": 0, "2": 0, "3": 0.40, "4": 0.45, "5": 0.1})
    assert result.near_tie


def test_no_final_channel_parse_failure_and_not_exposed():
    analysis_only = sure(ANALYSIS[:6])  # stopped during analysis: channels but no final one
    result = label_probabilities(analysis_only, ["0", "1"], "1")
    assert result is not None and result.probs == {} and result.position is None and not result.near_tie
    assert label_probabilities(sure(FINAL + ["1"]), ["0", "1"], None).position is None  # parse failure
    assert label_probabilities(None, ["0", "1"], "1") is None  # not exposed
    plain = sure(["The", " answer", " is", " "]) + [entry("1", 0.7, {"0": 0.2})]  # no channel at all: plain text
    assert label_probabilities(plain, ["0", "1"], "1").probs == pytest.approx({"0": 0.2, "1": 0.7})


def test_unknown_labels_come_from_the_deciding_position():
    out = sure(FINAL) + [entry("spam", 0.7, {" ham": 0.2, ".": 0.05})] + sure(["<|return|>"])
    result = label_probabilities(out, None, "spam")
    assert result.probs == pytest.approx({"spam": 0.7, "ham": 0.2})


def test_compare_logprobs_like_check_logprobs_close():
    a = sure(["a", "b", "c", "d"])
    b = [dict(e) for e in a]
    b[1] = {**b[1], "logprob": b[1]["logprob"] - 0.25}
    same = compare_logprobs(a, b)
    assert (same.positions, same.top_differs, same.first_divergence) == (4, 0, None)
    assert same.max_gap == pytest.approx(0.25) and same.max_gap_position == 1
    b[2] = entry("x", 0.5, {"c": 0.49})
    a[2] = entry("c", 0.5, {"x": 0.49})
    parted = compare_logprobs(a, b)
    assert (parted.positions, parted.top_differs, parted.first_divergence) == (3, 1, 2)
    assert parted.divergence_in_top and parted.top_differs_share == pytest.approx(1 / 3)


# --- the real tiny gpt-oss -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def spam_requests(assets):
    from harness.scenario import load_scenario

    scenario = load_scenario("spam", limit=3)
    return scenario, [request for _, request in scenario.requests()]


def _backend(kind: str, **options):
    from harness.assets import TINY_MODEL_ID
    from harness.backends.base import BackendConfig, BackendContext, Sampling, create_backend

    config = BackendConfig(name=kind, kind=kind, model=TINY_MODEL_ID, options=options,
                           sampling=Sampling(max_tokens=48, temperature=0.0, seed=0))
    return create_backend(config, BackendContext())


@pytest.mark.parametrize("kind", ["transformers-harmony", "transformers-pipeline"])
def test_local_logprobs_are_a_forward_pass_log_softmax(kind, spam_requests):
    import torch

    _, requests = spam_requests
    backend = _backend(kind, top_logprobs=4)
    completions = asyncio.run(backend.complete_batch(requests))
    model, tokenizer = backend.loaded().model, backend.loaded().tokenizer
    for completion in completions:
        prompt, output, logprobs = completion.prompt_token_ids, completion.output_token_ids, completion.output_logprobs
        assert logprobs is not None and len(logprobs) == len(output) > 5
        with torch.inference_mode():
            logits = model(input_ids=torch.tensor([prompt + output[:-1]])).logits[0, len(prompt) - 1:]
        direct = torch.log_softmax(logits.float(), dim=-1)
        for step, (token, entry) in enumerate(zip(output, logprobs)):
            assert entry["token"] == tokenizer.decode([token], skip_special_tokens=False)
            assert entry["logprob"] == pytest.approx(float(direct[step, token]), abs=1e-4)
            values, indices = torch.topk(direct[step], 4)
            assert [t["token"] for t in entry["top_logprobs"]] == [tokenizer.decode([i]) for i in indices.tolist()]
            assert [t["logprob"] for t in entry["top_logprobs"]] == pytest.approx(values.tolist(), abs=1e-4)
        assert any(e["token"] == "<|channel|>" for e in logprobs)  # special tokens spelled as text


def test_generate_from_ids_and_labels_on_the_local_model(spam_requests):
    from harness.backends.transformers_local import generate_from_ids, generation_kwargs

    scenario, requests = spam_requests
    backend = _backend("transformers-harmony")
    prompts = [backend.prompt_ids(r) for r in requests]
    gen = generation_kwargs(backend.config, requests[0])
    first = generate_from_ids(backend.loaded(), prompts, gen, 0, top_logprobs=3)
    alone = generate_from_ids(backend.loaded(), prompts[:1], gen, 0, top_logprobs=3)
    assert first[0].output_token_ids == alone[0].output_token_ids
    assert all(len(e["top_logprobs"]) == 3 for e in first[0].output_logprobs)
    parser = scenario.label_parser()
    spec = parser_spec(parser)
    for completion in first:
        label = parser.parse(completion.text).label
        result = label_probabilities(completion.output_logprobs, spec.labels, label, spec=spec)
        assert result.position is not None and completion.output_logprobs[result.position]["token"].strip() == label
        assert 0 < result.probs[label] <= 1 and sum(result.probs.values()) <= 1 + 1e-6


def test_compare_records_label_probs_and_not_exposed(tmp_path, spam_requests, monkeypatch):
    """A compare run through the orchestrator on both local backends: every answer has label probabilities;
    records.csv has the columns, summary.json and report.md the section."""
    import pandas as pd

    from harness.report import write_reports
    from harness.run.compare import CompareOptions, run_compare

    config = tmp_path / "harness.toml"
    config.write_text('[backends.local-harmony]\nkind = "transformers-harmony"\nmodel = "tiny-gpt-oss"\n'
                      'sampling = { max_tokens = 48, temperature = 0.0, seed = 0 }\n\n'
                      '[backends.local-pipeline]\nkind = "transformers-pipeline"\nmodel = "tiny-gpt-oss"\n'
                      'sampling = { max_tokens = 48, temperature = 0.0, seed = 0 }\n')
    out = tmp_path / "run"
    run_compare(CompareOptions(scenario="spam", out=out, repeats=1, limit=4, config=config, profile="config",
                               capture=False, progress=False))
    frame = pd.read_csv(out / "records.csv")
    for column in ("label_probs", "label_margin", "near_tie", "label_probs_exposed"):
        assert column in frame.columns
    assert frame["label_probs_exposed"].all()
    ok = frame[frame["label_ok"].fillna(False).astype(bool)]
    assert len(ok) and ok["label_probs"].notna().all()
    for _, row in ok.iterrows():
        probs = json.loads(row["label_probs"])
        assert set(probs) == {"0", "1"} and probs[str(row["label"])] == max(probs.values())
        assert row["near_tie"] == (row["label_margin"] < NEAR_TIE_MARGIN)
    write_reports(out)
    summary = json.loads((out / "summary.json").read_text())
    lp = summary["label_probabilities"]
    assert {b["backend"]: b["status"] for b in lp["backends"]} == {"local-harmony": "exposed",
                                                                   "local-pipeline": "exposed"}
    pair = lp["pairs"][0]
    assert pair["n"] == len(ok) // 2 and pair["mean_abs_diff"] is not None and pair["mean_abs_diff"] < 0.1
    assert "## Label probabilities" in (out / "report.md").read_text()


def test_a_backend_without_logprobs_records_not_exposed(spam_requests):
    """An OpenAI-compatible server that returns no logprobs (as Groq, which rejects them): not exposed, never
    guessed; asked with options.logprobs, the fields go on the wire and into the fingerprint."""
    from harness.backends.base import BackendConfig, BackendContext, create_backend
    from harness.run.compare import _labeler
    from harness.servers.launch import start

    scenario, requests = spam_requests
    with start("harmony-reference", served_model_name="tiny-gpt-oss",
               completion='<|channel|>final<|message|>{"violation": 1}<|return|>') as server:
        plain = create_backend(BackendConfig(name="plain", kind="openai-compatible", model="tiny-gpt-oss",
                                             base_url=server.base_url), BackendContext())
        asked = create_backend(BackendConfig(name="asked", kind="openai-compatible", model="tiny-gpt-oss",
                                             base_url=server.base_url, options={"logprobs": 3}), BackendContext())
        assert "logprobs" not in plain.resolved()["extra_body"]
        assert asked.resolved()["extra_body"] == {"logprobs": True, "top_logprobs": 3}
        completion = asyncio.run(plain.complete(requests[0]))
        sent = asyncio.run(asked.complete(requests[0])).sent_body
    assert sent["logprobs"] is True and sent["top_logprobs"] == 3
    assert completion.output_logprobs is None
    label, ok, _, extras = _labeler(scenario, "tiny-gpt-oss")(scenario.cases[0].id, completion)
    assert ok and label == "1"
    assert extras["label_probs_exposed"] is False
    assert extras["label_probs"] is None and extras["label_margin"] is None

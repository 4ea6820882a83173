"""Output checks: leak patterns reported by openai/harmony users are `control-token-leak`; clean outputs are not."""

from __future__ import annotations

import pytest

from harness.outputs import check_completion, reasoning_source, summarize
from harness.records import Completion


def classes(completion, **kwargs):
    return {f.cls for f in check_completion(completion, **kwargs)}


def ids(encoding, text):
    return encoding.encode(text, allowed_special="all")


CLEAN = Completion(text='{"violation": 0, "rationale": "a normal question"}', reasoning="The user asks a question.",
                   reasoning_field="reasoning", finish_reason="stop",
                   tool_calls=[{"name": "functions.lookup", "arguments": "{}"}])


def test_clean_output_has_no_findings(encoding):
    completion = Completion(**{**CLEAN.__dict__, "output_token_ids": ids(
        encoding, "<|channel|>analysis<|message|>Think.<|end|><|start|>assistant<|channel|>final<|message|>"
                  '{"violation": 0}<|return|>')})
    assert check_completion(completion, label_ok=True) == []


@pytest.mark.parametrize("field,value", [
    ("tool_calls", [{"name": "functions.bash<|channel|>commentary", "arguments": "{}"}]),
    ("text", "Sure.<|end|><|start|>assistant<|channel|>final<|message|>Done"),
    ("text", "analysisThe user wants spam.assistantfinal{\"violation\": 1}"),
    ("reasoning", "thinking <|constrain|>json more"),
    ("text", "call to=functions.search now"),
])
def test_planted_leaks_in_text_and_names(field, value):
    completion = Completion(**{**CLEAN.__dict__, field: value})
    assert "control-token-leak" in classes(completion)


def test_leaked_channel_in_role():
    assert "control-token-leak" in classes(CLEAN, role="assistant<|channel|>analysis")
    assert "control-token-leak" not in classes(CLEAN, role="assistant")


def test_reasoning_after_constrain_in_output_ids(encoding):
    tokens = ids(encoding, "<|channel|>commentary to=functions.lookup <|constrain|>json The user wants the weather"
                           "<|message|>{\"q\": 1}<|call|>")
    completion = Completion(text="", reasoning="r", reasoning_field="reasoning", output_token_ids=tokens)
    found = check_completion(completion)
    assert any(f.cls == "control-token-leak" and f.where == "output_ids" for f in found)


def test_channel_inside_role_in_output_ids(encoding):
    tokens = ids(encoding, "<|channel|>analysis<|message|>x<|end|><|start|>assistant<|channel|>analysis"
                           "<|channel|>final<|message|>y<|return|>")
    assert "control-token-leak" in classes(Completion(text="y", reasoning="x", output_token_ids=tokens))


def test_other_output_classes():
    truncated = Completion(text="{\"viol", finish_reason="length")
    assert classes(truncated, label_ok=False) == {"finish-length", "parse-failure", "reasoning-field"}
    inline = Completion(text="analysisUser asks.assistantfinal{\"violation\": 0}")
    assert reasoning_source(inline) == "inline"
    assert reasoning_source(Completion(text="x", reasoning="r", reasoning_field="reasoning_content")) == \
        "reasoning_content"


def test_summarize_counts_cases_per_class():
    leak = Completion(text="<|channel|>final")
    rows = {"b": [("c1", check_completion(leak)), ("c2", check_completion(leak)), ("c3", check_completion(CLEAN))]}
    summary = summarize(rows)
    assert summary["b"]["control-token-leak"]["count"] == 2
    assert summary["b"]["control-token-leak"]["examples"][0]["case_id"] == "c1"

"""`harness tokens-diff` and `harness render-diff` as a user runs them: JSON contracts and exit codes."""

from __future__ import annotations

import json

import pytest
from conftest import assert_clean_error, run_harness

DATE = "2025-06-01"
REQUEST = {"messages": [{"role": "system", "content": "Classify spam: answer 0 or 1."},
                        {"role": "user", "content": "WIN $$$ now"}], "reasoning_effort": "low"}


@pytest.fixture(scope="module")
def renders(tmp_path_factory, assets):
    from harness.render import render_all
    from harness.request import ChatRequest

    folder = tmp_path_factory.mktemp("renders")
    tokens = render_all(ChatRequest.from_body(REQUEST), ["harmony", "hf-template"], date=DATE)
    paths = {}
    for name, ids in tokens.items():
        paths[name] = folder / f"{name}.json"
        paths[name].write_text(json.dumps(ids))
    paths["object"] = folder / "object.json"
    paths["object"].write_text(json.dumps({"prompt_token_ids": tokens["harmony"]}))
    return paths


def test_tokens_diff_json(renders):
    done = run_harness("tokens-diff", str(renders["harmony"]), str(renders["hf-template"]), "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["identical"] is False and data["classes"] == ["content-whitespace"]
    assert isinstance(data["first_divergence"], int)
    changed = [s for s in data["segments"] if s["op"] != "equal"]
    assert changed and all("a_tokens" in s for s in changed)


def test_tokens_diff_identical_and_view(renders):
    done = run_harness("tokens-diff", str(renders["harmony"]), str(renders["object"]), "--json")
    assert done.returncode == 0
    data = json.loads(done.stdout)
    assert data["identical"] is True and data["classes"] == [] and data["first_divergence"] is None
    view = run_harness("tokens-diff", str(renders["harmony"]), str(renders["hf-template"]), env={"COLUMNS": "160"})
    assert view.returncode == 0 and "content-whitespace" in view.stdout and "<|start|>" in view.stdout


def test_render_diff_json(tmp_path):
    request = tmp_path / "request.json"
    request.write_text(json.dumps(REQUEST))
    done = run_harness("render-diff", "--request", str(request), "--renderers", "harmony,hf-template,vllm",
                       "--date", DATE, "--json")
    assert done.returncode == 0, done.stderr
    pairs = {(p["a"], p["b"]): p for p in json.loads(done.stdout)["pairs"]}
    assert set(pairs) == {("harmony", "hf-template"), ("harmony", "vllm"), ("hf-template", "vllm")}
    assert pairs[("harmony", "vllm")]["identical"] is True and pairs[("harmony", "vllm")]["classes"] == []
    assert pairs[("harmony", "hf-template")]["classes"] == ["content-whitespace"]
    view = run_harness("render-diff", "--request", str(request), "--date", DATE)
    assert view.returncode == 0 and "hf-template" in view.stdout


@pytest.mark.parametrize("content, problem", [
    (None, "missing"), ("", "empty"), ("not json at all", "text"), ("[]", "empty array"),
    ("[1, 2, 999999]", "outside vocab"), ('{"ids": [1]}', "no token_ids"), ("[1.5]", "float")])
def test_tokens_diff_bad_input(tmp_path, renders, content, problem):
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content)
    assert_clean_error(run_harness("tokens-diff", str(renders["harmony"]), str(bad), "--json"))


@pytest.mark.parametrize("body, extra", [
    (None, []), ("{not json", []), (json.dumps({"model": "x"}), []), (json.dumps({"messages": []}), []),
    (json.dumps(REQUEST), ["--renderers", "harmony"]), (json.dumps(REQUEST), ["--renderers", "harmony,nope"]),
    (json.dumps(REQUEST), ["--date", "2025-13-45"])])
def test_render_diff_bad_input(tmp_path, body, extra):
    request = tmp_path / "request.json"
    if body is not None:
        request.write_text(body)
    assert_clean_error(run_harness("render-diff", "--request", str(request), "--json", *extra))

"""Request lint (issue 13, item 5): a `Reasoning:` line typed into the policy or system text, and an effort the
served prompt contradicts. Unit rules, real renders, a real local server whose tiny model answers, render-diff
as a user runs it, and the report of a real compare run."""

from __future__ import annotations

import json

import httpx
import pytest
from conftest import ROOT, assert_clean_error, run_harness

from harness.lint import LintFinding, lint_all, lint_request, lint_served, served_effort_line
from harness.render import render_all
from harness.request import ChatRequest

DATE = "2025-06-01"
# A moderation request written the way Wikimedia's sample is: the effort typed into the system text.
POLICY = "# Edit policy\nLabel vandalism.\nReasoning: high\n\nAnswer 0 or 1."
BODY = {"messages": [{"role": "system", "content": POLICY}, {"role": "user", "content": "blanked the page"}]}


def test_a_typed_reasoning_line_without_reasoning_effort():
    [finding] = lint_request(BODY)
    assert isinstance(finding, LintFinding)
    assert (finding.code, finding.message_index, finding.line, finding.source) == \
        ("reasoning-line-in-text", 0, 3, "request")
    assert "'Reasoning: high'" in finding.message and "no reasoning_effort" in finding.message
    assert finding.to_json()["line"] == 3


def test_a_typed_line_against_the_effort_sent_and_where_it_agrees():
    [finding] = lint_request({**BODY, "reasoning_effort": "low"})
    assert "reasoning_effort=low" in finding.message
    assert lint_request({**BODY, "reasoning_effort": "high"}) == []  # says what is sent: nothing misleads
    # a ChatRequest works as well as a body; a developer or user message is linted, an assistant turn is not
    request = ChatRequest.from_body({"messages": [
        {"role": "developer", "content": "Policy.\n  reasoning effort: LOW"},
        {"role": "user", "content": "text\nReasoning: medium"},
        {"role": "assistant", "content": "Reasoning: high"}], "reasoning_effort": "medium"})
    assert [(f.message_index, f.line) for f in lint_request(request)] == [(0, 2)]
    # no effort sent and the line says Harmony's default: flagged (the line does nothing), said so
    [default] = lint_request({"messages": [{"role": "system", "content": "Reasoning: medium"},
                                           {"role": "user", "content": "x"}]})
    assert "by chance" in default.message
    # text that only mentions reasoning is no setting
    assert lint_request({"messages": [{"role": "system", "content": "Explain your reasoning: briefly."},
                                      {"role": "user", "content": "x"}]}) == []


def test_served_prompt_effort_is_checked_on_real_renders():
    high = ChatRequest.from_body({**BODY, "reasoning_effort": "high"})
    renders = render_all(high, ["harmony", "hf-template", "vllm"], date=DATE)
    assert lint_all(high, renders) == []  # every renderer writes the effort it was given
    # a prompt rendered at another effort than the request sent: not honoured, with the line that says so
    low_ids = render_all(ChatRequest.from_body({**BODY, "reasoning_effort": "low"}), ["harmony"], date=DATE)["harmony"]
    index, line, effort = served_effort_line(low_ids)
    assert (index, effort) == (0, "low")
    [finding] = lint_served(high, low_ids, source="some-server")
    assert (finding.code, finding.message_index, finding.line, finding.source) == \
        ("effort-not-honoured", 0, line, "some-server")
    assert "Reasoning: low" in finding.message and "reasoning_effort=high" in finding.message
    # nothing sent: held to Harmony's default, medium
    assert [f.code for f in lint_served(ChatRequest.from_body(BODY), low_ids, source="s")] == ["effort-not-honoured"]
    # a backend that pins its own effort is held to that one
    assert lint_served(high, low_ids, source="s", effort="low") == []


def test_an_effort_a_real_server_ignores(assets):
    """The reference Harmony server with `override_effort` serves every prompt at `low`; its tiny model answers."""
    from harness.servers.launch import start

    body = {**BODY, "reasoning_effort": "high", "return_token_ids": True, "max_tokens": 4}
    with start("harmony-reference", date=DATE, override_effort="low") as ignoring, \
            start("harmony-reference", date=DATE) as honest:
        ignored = httpx.post(f"{ignoring.base_url}/chat/completions", json=body, timeout=120).json()
        kept = httpx.post(f"{honest.base_url}/chat/completions", json=body, timeout=120).json()
    assert ignored["choices"][0]["message"] is not None  # the model answered
    [finding] = lint_served(body, ignored["prompt_token_ids"], source="ignoring")
    assert finding.code == "effort-not-honoured" and "Reasoning: low" in finding.message
    assert lint_served(body, kept["prompt_token_ids"], source="honest") == []


def test_render_diff_shows_the_lint(tmp_path):
    request = tmp_path / "request.json"
    request.write_text(json.dumps(BODY))
    done = run_harness("render-diff", "--request", str(request), "--renderers", "harmony,hf-template", "--date",
                       DATE, "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert {"date", "renderers", "lengths", "classes", "pairs"} <= set(data)  # the contract's fields stay
    assert [(f["code"], f["message_index"], f["line"], f["source"]) for f in data["lint"]] == \
        [("reasoning-line-in-text", 0, 3, "request")]
    clean = tmp_path / "clean.json"
    clean.write_text(json.dumps({**BODY, "reasoning_effort": "high"}))
    done = run_harness("render-diff", "--request", str(clean), "--renderers", "harmony,hf-template", "--date", DATE,
                       "--json")
    assert json.loads(done.stdout)["lint"] == []
    view = run_harness("render-diff", "--request", str(request), "--renderers", "harmony,hf-template", "--date",
                       DATE, env={"COLUMNS": "200"})
    assert view.returncode == 0 and "lint reasoning-line-in-text messages[0] (system) line 3" in view.stdout


def _scenario_with_typed_effort(folder) -> str:
    text = (ROOT / "scenarios" / "spam.toml").read_text(encoding="utf-8")
    assert 'reasoning_effort = "low"' in text and "## Output" in text
    path = folder / "spam-typed-effort.toml"
    path.write_text(text.replace('name = "spam"', 'name = "spam-typed-effort"')
                    .replace("## Output", "Reasoning: high\n\n## Output", 1), encoding="utf-8")
    return str(path)


def test_render_diff_scenario_lints_every_case(tmp_path):
    scenario = _scenario_with_typed_effort(tmp_path)
    done = run_harness("render-diff", "--scenario", scenario, "--renderers", "harmony,vllm", "--date", DATE,
                       "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["cases"] and all(len(case["lint"]) == 1 for case in data["cases"])
    assert len(data["lint"]) == len(data["cases"])
    first = data["lint"][0]
    assert first["case_id"] == data["cases"][0]["case_id"] and first["code"] == "reasoning-line-in-text"
    assert first["message_index"] == 0 and "reasoning_effort=low" in first["message"]


def test_render_diff_bad_input_is_one_line_exit_2(tmp_path):
    request = tmp_path / "request.json"
    request.write_text(json.dumps(BODY))
    assert_clean_error(run_harness("render-diff", "--request", str(request), "--lint-only"))
    assert_clean_error(run_harness("render-diff", "--request", str(request), "--renderers", "harmony,nope"))


@pytest.mark.slow
def test_report_lists_the_lint_of_a_real_run(tmp_path, assets):
    """A real compare run: the tiny model in-process, and a local server that ignores the effort it is sent."""
    from harness.report import write_reports
    from harness.run.compare import CompareOptions, run_compare
    from harness.servers.launch import start

    scenario = _scenario_with_typed_effort(tmp_path)
    with start("harmony-reference", date=DATE, model=str(assets.model_dir), served_model_name="tiny-gpt-oss",
               override_effort="medium", preload=True) as server:  # preload: transformers imported here, not in
        # the server's worker while the local backend imports it (its lazy imports are not thread-safe)
        config = tmp_path / "harness.toml"
        config.write_text(f"""
[backends.local-harmony]
kind = "transformers-harmony"
model = "tiny-gpt-oss"
sampling = {{ max_tokens = 8 }}

[backends.ignores-effort]
kind = "openai-compatible"
base_url = "{server.base_url}"
model = "tiny-gpt-oss"
sampling = {{ max_tokens = 8 }}
options = {{ return_token_ids = true }}
""", encoding="utf-8")
        out = tmp_path / "run"
        run_compare(CompareOptions(scenario=scenario, out=out, limit=2, repeats=1, config=config, profile="config",
                                   capture=False, progress=False, renderers=("harmony", "hf-template")))
    paths = write_reports(out)
    summary = json.loads(paths["summary_json"].read_text())
    lint = summary["classes"]["lint"]
    assert lint["available"] and lint["cases_checked"] == 2 and lint["prompts_checked"] == 4
    by_code = {(f["code"], f["source"]): f for f in lint["findings"]}
    typed = by_code[("reasoning-line-in-text", "request")]
    assert typed["count"] == 2 and typed["message_index"] == 0 and typed["line"] > 1
    served = by_code[("effort-not-honoured", "ignores-effort")]
    assert served["count"] == 2 and "Reasoning: medium" in served["message"]
    assert ("effort-not-honoured", "local-harmony") not in by_code  # it renders the effort it was sent
    assert lint["counts"] == {"effort-not-honoured": 2, "reasoning-line-in-text": 2}
    markdown = paths["report_md"].read_text()
    section = markdown[markdown.index("### Request lint"):markdown.index("## Divergent cases")]
    assert markdown.index("## Discrepancy classes") < markdown.index("### Request lint")
    assert "`reasoning-line-in-text`" in section and "`effort-not-honoured`" in section
    assert f"| {typed['line']} |" in section and "ignores-effort" in section

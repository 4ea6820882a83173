"""The offline profile end to end, as `make compare` runs it: four backends (two local transformers paths,
`transformers serve`, the real vLLM from .venv-vllm) on the tiny model, capture ON through a real mitmdump,
report ON. One module-scoped run (slow: about 1-3 minutes on 2 cores), many assertions on its folder.
And a policy-module scenario through the two local backends."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import run_harness

CASES = 4
REPEATS = 2
BACKENDS = {"local-pipeline", "local-harmony", "transformers-serve", "vllm"}
HTTP_BACKENDS = {"transformers-serve", "vllm"}
FAKE_TOKEN = "hf_offlineTestTokenThatMustNeverLeak0123"


@pytest.fixture(scope="module")
def offline_run(tmp_path_factory):
    pytest.importorskip("transformers")
    tmp = tmp_path_factory.mktemp("offline")  # cwd: captures/ lands here, and no harness.toml is picked up
    done = run_harness("compare", "--profile", "offline", "--limit", str(CASES), "--repeats", str(REPEATS),
                       "--out", str(tmp / "run"), "--capture", "--no-progress", "--json", cwd=tmp,
                       env={"HF_TOKEN": FAKE_TOKEN, "OPENAI_API_KEY": FAKE_TOKEN},
                       timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    return {"tmp": tmp, "run": tmp / "run", "summary": summary, "done": done,
            "flows": tmp / "captures" / "run" / "flows.jsonl"}


def test_every_backend_answered_every_case_and_repeat(offline_run):
    summary = offline_run["summary"]
    assert set(summary["backends"]) == BACKENDS
    assert summary["summary"]["planned"] == len(BACKENDS) * CASES * REPEATS
    assert summary["summary"]["failed"] == 0, summary["summary"]["failures_by_cause"]
    records = pd.read_csv(offline_run["run"] / "records.csv")
    assert records.groupby("backend").size().to_dict() == {b: CASES * REPEATS for b in BACKENDS}
    assert records["error_cause"].isna().all()
    assert (records["completion_tokens"] > 0).all()


def test_labels_csv_is_the_stats_input_format(offline_run):
    labels = pd.read_csv(offline_run["run"] / "labels.csv", dtype=str, keep_default_na=False)
    assert list(labels.columns) == ["case_id", "backend", "repeat", "label", "gold"]
    assert len(labels) == len(BACKENDS) * CASES * REPEATS
    assert set(labels["repeat"]) == {str(r) for r in range(REPEATS)}
    # every answered item has a label; random weights mostly give parse failures, kept as their own outcome
    assert (labels["label"] != "").all()
    assert set(labels["label"]) <= {"0", "1", "parse-failure"}
    assert set(labels["gold"]) <= {"0", "1"}
    done = run_harness("stats", str(offline_run["run"] / "labels.csv"), "--json")
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["pairs"]) == 6


def test_renders_name_the_template_whitespace_difference(offline_run):
    renders = json.loads((offline_run["run"] / "renders.json").read_text())
    assert len(renders["cases"]) == CASES
    # harmony vs hf-template and vllm vs hf-template, in every case; harmony and vllm agree
    assert renders["class_counts"] == {"content-whitespace": 2 * CASES}
    for case in renders["cases"]:
        pair = next(p for p in case["pairs"] if {p["a"], p["b"]} == {"harmony", "hf-template"})
        assert pair["classes"] == ["content-whitespace"] and not pair["identical"]
        same = next(p for p in case["pairs"] if {p["a"], p["b"]} == {"harmony", "vllm"})
        assert same["identical"]


def test_backend_prompts_are_fingerprinted_against_the_renderers(offline_run):
    renders = json.loads((offline_run["run"] / "renders.json").read_text())
    records = pd.read_csv(offline_run["run"] / "records.csv")
    for case in renders["cases"]:
        served = case["backend_prompts"]
        # every backend here exposes its prompt ids, and each is exactly the renderer it is built on (the run and
        # the backends both use today's date; a run across midnight would show `date-line` here)
        # the real vLLM's served prompt is exactly the `vllm` renderer's (the release in .venv-vllm)
        assert "vllm" in served["vllm"]["matches"], served["vllm"]
        assert served["vllm"]["vs_closest"]["identical"]
        assert set(served["local-harmony"]["matches"]) == {"harmony", "vllm"}, served["local-harmony"]
        assert served["local-pipeline"]["matches"] == ["hf-template"], served["local-pipeline"]
        ids = records[(records.case_id == case["case_id"]) & (records.backend == "vllm")
                      & (records.repeat == 0)]["prompt_token_ids"].iloc[0]
        assert len(json.loads(ids)) == case["token_counts"]["vllm"]


def test_flows_link_every_http_call_to_its_case(offline_run):
    flows = [json.loads(line) for line in offline_run["flows"].read_text().splitlines()]
    chat = [f for f in flows if f["request"]["path"].endswith("/chat/completions")]
    records = pd.read_csv(offline_run["run"] / "records.csv")
    http = records[records.backend.isin(HTTP_BACKENDS)]
    # one flow per attempt: every answered item once with 200, plus one per retried attempt
    assert len(chat) == http["attempts"].sum()
    answered = sorted((f["case"]["case_id"], f["case"]["repeat"], f["case"]["backend"]) for f in chat
                      if f["response"]["status"] == 200)
    assert answered == sorted((r.case_id, r.repeat, r.backend) for r in http.itertuples())
    for flow in chat:
        names = {name.lower() for name, _ in flow["request"]["headers"]}
        assert "x-harness-case" not in names  # recorded in `case`, not forwarded upstream
        assert json.loads(flow["request"]["body"]["text"])["model"]


def test_real_vllm_answered_with_its_own_fingerprint_and_log(offline_run):
    from harness.servers.vllm_server import vllm_install

    flows = [json.loads(line) for line in offline_run["flows"].read_text().splitlines()]
    vllm_flows = [f for f in flows if f["case"]["backend"] == "vllm" and f["response"]["status"] == 200]
    assert len(vllm_flows) == CASES * REPEATS
    release = vllm_install().vllm_version
    for flow in vllm_flows:
        body = json.loads(flow["response"]["body"]["text"])
        assert body["system_fingerprint"].startswith(f"vllm-{release}-"), body.get("system_fingerprint")
        assert body["prompt_token_ids"] and body["choices"][0]["token_ids"]
    log = (offline_run["run"] / "vllm.log").read_text()
    assert "Starting vLLM" in log or "startup complete" in log
    env = json.loads((offline_run["run"] / "run.json").read_text())["environment"]["packages"]
    assert env["vllm (.venv-vllm)"] == release and env["vllm harmony (.venv-vllm)"].startswith("oss-harmony")


def test_no_secret_in_captures_or_run_files(offline_run):
    folders = [offline_run["run"], offline_run["flows"].parent]
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file() and path.suffix in (".jsonl", ".json", ".csv", ".md", ".html", ".log", ".sqlite"):
                data = path.read_bytes()
                assert FAKE_TOKEN.encode() not in data, path
                assert b"Bearer EMPTY" not in data, path  # even the local placeholder key is redacted
    text = offline_run["done"].stdout + offline_run["done"].stderr
    assert FAKE_TOKEN not in text


def test_stats_have_every_pair_with_intervals(offline_run):
    stats = json.loads((offline_run["run"] / "stats.json").read_text())
    pairs = {frozenset((p["a"], p["b"])): p for p in stats["pairs"]}
    assert len(pairs) == 6 and set().union(*pairs) == BACKENDS
    for pair in pairs.values():
        assert pair["n"] == CASES * REPEATS
        low, high = pair["agreement_ci_exact"]
        assert 0 <= low <= pair["agreement"] <= high <= 1
        assert len(pair["agreement_ci_wilson"]) == 2
    assert {n["backend"] for n in stats["noise"]} == BACKENDS


def test_report_was_written(offline_run):
    files = offline_run["summary"]["files"]
    for name in ("report_md", "report_html"):
        assert name in files and (offline_run["run"] / files[name].rsplit("/", 1)[-1]).stat().st_size > 0
    # the captured payloads themselves are in the report, redacted, for the HTTP backends only
    report = (offline_run["run"] / "report.md").read_text()
    wire = report.split("## Wire payloads", 1)[1].split("\n## ", 1)[0]
    assert "transformers-serve (capture)" in wire and "vllm (capture)" in wire
    assert "local-pipeline" not in wire and "curl -sS http://127.0.0.1:" in wire
    assert "authorization: Bearer [REDACTED]" in wire and "x-harness-case" not in wire
    # output level: real vLLM and the harmony path are fed the same prompt ids (vLLM renders like harmony here)
    summary = json.loads((offline_run["run"] / "summary.json").read_text())
    level = {(p["a"], p["b"]): p for p in summary["output_level"]}
    pair = level.get(("vllm", "local-harmony")) or level[("local-harmony", "vllm")]
    assert pair["n"] == CASES * REPEATS and pair["prompt_identical"] == pair["prompt_known"] == pair["n"]
    assert pair["exact"] + pair["numerics"] == pair["n"]  # same prompt: equal outputs, or a difference named numerics
    assert "## Output tokens" in report


def test_a_backend_hiding_its_prompt_ids_is_fingerprinted_and_explain_replays_that_render(offline_run):
    """transformers serve returns only a prompt-token count, and harmony's and the chat template's renders of these
    requests have the same length: the run fingerprints it (around the capture proxy) and explain uses the render
    the fingerprint names instead of leaving its prompts unknown."""
    from harness.explain.run import _answers
    from harness.report._load import load_run

    run = json.loads((offline_run["run"] / "run.json").read_text())
    served = run["backends"]["transformers-serve"]["served_render"]
    # transformers serve renders with the chat template, tool-call arguments parsed as the server does
    assert served["matches"] == ["hf-template-parsed-args"] and served["probes"] >= 3, served
    assert "hf-template" in served["ruled_out"] and "harmony" in served["ruled_out"]
    assert "served_render" not in run["backends"]["vllm"]  # it exposes its prompt ids
    flows = [json.loads(line) for line in offline_run["flows"].read_text().splitlines() if line.strip()]
    assert flows and not any(flow["case"]["raw"].startswith("fingerprint") for flow in flows)
    folder = load_run(offline_run["run"])
    named, _ = _answers(folder, run["date"], {"transformers-serve": served})
    sources = {a.prompt.source for (backend, _, _), a in named.items() if backend == "transformers-serve"}
    assert sources and all(s.startswith("render:hf-template-parsed-args (its fingerprint") for s in sources), sources
    by_count, _ = _answers(folder, run["date"], {})
    assert not any(a.prompt.known for (backend, _, _), a in by_count.items() if backend == "transformers-serve")
    report = (offline_run["run"] / "report.md").read_text()
    assert "| transformers-serve | `hf-template-parsed-args` |" in report


def test_a_rerun_resumes_every_backend_and_starts_no_server(offline_run):
    """Managed servers are keyed by what they serve, not their free port, so the plan is known before any server
    runs: a rerun whose answers are all stored starts none."""
    first = offline_run["summary"]["summary"]
    assert first["completed"] == first["planned"] == CASES * REPEATS * len(BACKENDS)
    vllm_log = offline_run["run"] / "vllm.log"
    started_at = vllm_log.stat().st_mtime_ns
    done = run_harness("compare", "--profile", "offline", "--limit", str(CASES), "--repeats", str(REPEATS),
                       "--out", str(offline_run["run"]), "--no-capture", "--no-report", "--no-progress", "--json",
                       cwd=offline_run["tmp"], timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    again = json.loads(done.stdout)["summary"]
    assert (again["skipped"], again["completed"], again["failed"]) == (first["planned"], 0, 0)
    # every answer was stored: the run started no server (vLLM would have rewritten its log)
    assert vllm_log.stat().st_mtime_ns == started_at
    run = json.loads((offline_run["run"] / "run.json").read_text())
    for name in HTTP_BACKENDS:
        fingerprint = run["backends"][name]["fingerprint"]
        assert fingerprint["base_url"].startswith("harness-managed:")
        assert fingerprint["revision"] == run["backends"]["local-harmony"]["fingerprint"]["revision"]
        managed = fingerprint["managed_server"]  # what its renders depend on, the date its prompts carry
        assert managed["template_sha256"] and managed["harmony_version"] and managed["served_by"]
        assert managed["date"] == run["backends"]["local-harmony"]["fingerprint"]["date"]
    assert run["backends"]["local-harmony"]["fingerprint"]["revision"].startswith("harmony-v")


def test_policy_module_scenario_labels_come_from_the_module_parse(tmp_path):
    pytest.importorskip("transformers")
    from harness.run.compare import CompareOptions, run_compare
    from harness.scenario import load_scenario

    result = run_compare(CompareOptions(scenario="spam-module", out=tmp_path / "run", profile="offline",
                                        backends=["local-harmony", "local-pipeline"], repeats=1, limit=3,
                                        capture=False, progress=False, max_tokens=24))
    assert result.summary.completed == 6 and result.summary.failed == 0
    parser = load_scenario("spam-module", limit=3).label_parser()
    records = pd.read_csv(tmp_path / "run" / "records.csv", keep_default_na=False)
    labels = pd.read_csv(tmp_path / "run" / "labels.csv", dtype=str, keep_default_na=False)
    assert len(records) == 6
    for record, label in zip(records.itertuples(), labels.itertuples()):
        assert (record.case_id, record.backend) == (label.case_id, label.backend)
        parsed = parser.parse(record.text)  # the module's parse() on what the model said
        if parsed.ok:
            assert label.label == str(parsed.label)
        else:  # never coerced to a label: a failure is its own outcome
            assert label.label == "parse-failure" and str(record.label_ok) == "False"

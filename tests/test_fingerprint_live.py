"""Fingerprinting real local servers: the harmony-reference server (vLLM's render), `transformers serve` (the chat
template), and flows captured through a real mitmdump proxy."""

from __future__ import annotations

import asyncio
import datetime
import json

import pytest
from conftest import run_harness

from harness.backends.base import BackendConfig, BackendContext, create_backend
from harness.fingerprint import analyse_flows, candidate_dates, fingerprint_backend
from harness.render import available_renderers
from harness.request import ChatRequest
from harness.servers.launch import start

# The reference server's clock is "yesterday": the fingerprint has to find the date, not assume today. A fixed
# clock, so that a run across midnight still searches the dates the server was given.
CLOCK = datetime.datetime(2026, 3, 14, 12, tzinfo=datetime.UTC)
DATES = candidate_dates(CLOCK)
YESTERDAY = DATES[1]


@pytest.fixture(scope="module")
def reference():
    with start("harmony-reference", date=YESTERDAY, preload=True) as server:
        yield server


@pytest.fixture(scope="module")
def transformers_serve():
    with start("transformers-serve", force_model=True) as server:
        yield server


def _reference_config(server, **options) -> BackendConfig:
    return BackendConfig(name="reference", kind="openai-compatible", base_url=server.base_url,
                         model="tiny-gpt-oss", options=options)


def test_reference_server_with_token_ids_is_vllm_at_its_own_date(reference):
    result = asyncio.run(fingerprint_backend(_reference_config(reference, return_token_ids=True),
                                             renderers=available_renderers(), dates=DATES))
    assert result.evidence == "ids"
    assert "vllm" in result.matches and "hf-template" not in result.matches and "vllm-0.10" not in result.matches
    assert result.date == YESTERDAY and result.date_pinned
    assert result.dates_by_renderer["vllm"] == [YESTERDAY]
    assert {"hf-template", "vllm-0.10"} <= set(result.ruled_out)
    for probe in result.probes:  # every probe that was sent separates something, and answered with ids
        assert probe.error is None and probe.observed.kind == "ids"
        assert len(set(probe.check.counts.values())) >= 2
        assert probe.sent_body["max_tokens"] == 1


def test_reference_server_by_count_only(reference):
    result = asyncio.run(fingerprint_backend(_reference_config(reference), renderers=available_renderers(),
                                             dates=DATES))
    assert result.evidence == "count"
    assert "vllm" in result.matches and not {"hf-template", "vllm-0.10"} & set(result.matches)
    # each ruled-out renderer is ruled out by a probe whose expected count differs from the observed one
    date = result.evidence_date()
    for renderer, probes in result.ruled_out.items():
        assert probes
        for probe in result.probes:
            if probe.probe.name in probes and result.best_dates[renderer] == date:
                row = probe.matches[date].get(renderer)
                assert row.expected_tokens != probe.observed.prompt_tokens


def test_transformers_serve_is_the_chat_template_with_parsed_arguments(transformers_serve):
    """transformers serve json-loads tool-call arguments before its template sees them: the tool-call probe tells
    it from a user who passes the body unchanged (`hf-template`)."""
    done = run_harness("fingerprint", "--base-url", transformers_serve.base_url, "--model", transformers_serve.model,
                       "--renderers", "harmony,hf-template,hf-template-parsed-args,vllm,vllm-0.10", "--json",
                       "--expect", "hf-template-parsed-args", timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["matches"] == ["hf-template-parsed-args"] and result["verdict"] == "hf-template-parsed-args"
    assert "tool-call-history" in result["ruled_out"]["hf-template"]
    # transformers serve reports usage.prompt_tokens (and no ids): count evidence on every probe
    assert result["evidence"] == "count"
    assert all(p["observed"]["kind"] == "count" and p["observed"]["prompt_tokens"] > 0 for p in result["probes"])
    assert set(result["ruled_out"]) == {"harmony", "hf-template", "vllm", "vllm-0.10"}
    assert {d["probe"] for d in result["dropped"]}.isdisjoint({p["probe"] for p in result["probes"]})


def test_cli_expect_mismatch_is_exit_1_and_human_output(reference):
    done = run_harness("fingerprint", "--base-url", reference.base_url, "--model", "tiny-gpt-oss",
                       "--return-token-ids", "--renderers", "hf-template,vllm", "--expect", "hf-template",
                       "--date", ",".join(DATES))
    assert done.returncode == 1, done.stderr
    assert "verdict: vllm" in done.stdout and "hf-template ruled out by" in done.stdout
    assert "drift" in done.stderr and "Traceback" not in done.stderr


def test_cli_configured_backend_and_bad_input(reference, tmp_path):
    config = tmp_path / "harness.toml"
    config.write_text(f'[backends.ref]\nkind = "openai-compatible"\nbase_url = "{reference.base_url}"\n'
                      f'model = "tiny-gpt-oss"\noptions = {{ server = "vllm" }}\n')
    done = run_harness("fingerprint", "--backend", "ref", "--config", str(config), "--json",
                       "--renderers", "harmony,vllm,vllm-0.10", "--date", YESTERDAY)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["dates_tried"] == [YESTERDAY] and result["evidence"] == "ids" and "vllm" in result["matches"]


@pytest.mark.parametrize("args", [
    [],
    ["--backend", "nope", "--config", "{config}"],
    ["--base-url", "{url}", "--model", "m", "--renderers", "vllm,nope"],
    ["--base-url", "{url}", "--model", "m", "--date", "yesterday"],
    ["--base-url", "http://127.0.0.1:9/v1", "--model", "m"],  # nothing listens there
], ids=["no-backend", "unknown-backend", "unknown-renderer", "bad-date", "unreachable"])
def test_cli_bad_input_is_one_line_exit_2(reference, tmp_path, capsys, args):
    from harness.cli import main

    config = tmp_path / "harness.toml"
    config.write_text('[backends.ref]\nkind = "openai-compatible"\nbase_url = "http://127.0.0.1:9/v1"\nmodel = "m"\n')
    code = main(["fingerprint", *[a.format(config=config, url=reference.base_url) for a in args]])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


def test_analyse_flows_captured_through_a_real_proxy(reference, tmp_path):
    from harness.capture.proxy import ProxySession, read_flows

    requests = {
        "ids/0/ref": (ChatRequest.from_body({"messages": [{"role": "system", "content": "Label spam as one"},
                                                          {"role": "user", "content": "cheap watches"}],
                                             "max_tokens": 2}), True),
        "count/0/ref": (ChatRequest.from_body({"messages": [{"role": "user", "content": "hello there"}],
                                               "reasoning_effort": "high", "max_tokens": 2}), False),
    }
    with ProxySession(tmp_path / "capture") as proxy:
        context = BackendContext(proxy_url=proxy.proxy_url, ca_bundle=str(proxy.ca_bundle))

        async def send():
            for case, (request, ids) in requests.items():
                backend = create_backend(_reference_config(reference, return_token_ids=ids), context)
                try:
                    await backend.complete(request, correlation=case)
                finally:
                    await backend.aclose()

        asyncio.run(send())
    flows = read_flows(proxy.flows_path)
    flows.append({"request": {"url": "http://x/v1/models", "body": {}}, "response": {"status": 200}})  # not chat
    verdicts = {v.case: v for v in analyse_flows(flows, available_renderers(), DATES)}
    assert set(verdicts) == set(requests)
    exact = verdicts["ids/0/ref"]
    assert exact.error is None and exact.date == YESTERDAY
    assert "vllm" in exact.exact and "hf-template" not in exact.exact
    assert exact.closest in exact.exact and exact.closest_classes == []
    template = exact.match.get("hf-template")
    assert template.exact is False and template.classes  # named by the token diff
    assert exact.endpoint.endswith("/v1/chat/completions")
    counted = verdicts["count/0/ref"]
    assert counted.error is None and counted.exact == [] and "vllm" in counted.by_count
    assert "vllm-0.10" not in counted.by_count
    # the same analysis from stored RunRecords (sent_body + completion), and a failed record
    from harness.records import Completion, RunRecord, Usage

    flow = next(f for f in flows if (f.get("case") or {}).get("raw") == "ids/0/ref")
    body = flow["response"]["body"]["json"]
    record = RunRecord("k", "ids", "ref", 0, requests["ids/0/ref"][0].to_body(),
                       Completion(text="", usage=Usage(prompt_tokens=body["usage"]["prompt_tokens"]),
                                  prompt_token_ids=body["prompt_token_ids"],
                                  sent_body=flow["request"]["body"]["json"]))
    failed = RunRecord("k", "gone", "ref", 0, requests["ids/0/ref"][0].to_body(), None, error_cause="timeout")
    from_records = analyse_flows([record, failed.to_dict()], available_renderers(), YESTERDAY)
    assert from_records[0].exact == exact.exact and from_records[0].source == "record"
    assert from_records[1].error and "timeout" in from_records[1].error


def test_analyse_flows_rejects_a_bad_date():
    from harness.errors import HarnessError

    with pytest.raises(HarnessError):
        analyse_flows([], ["vllm"], "2025-13-01")
    assert datetime.date.fromisoformat(YESTERDAY)

"""Reports from a REAL compare run of the tiny model (two in-process backends, two repeats), plus run folders
derived from it: a divergent case, every backend agreeing, and a backend whose every call failed."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, assert_clean_error, run_harness

SECTIONS_MD = ["## Verdict", "### Key statistics", "## Labels", "## Environment", "## Reproduce", "## Discrepancy classes", "### Prompt render",
               "### Request parameters", "### Output", "## Divergent cases", "## Latency and tokens",
               "## Output leaks"]
SUMMARY_KEYS = {"schema_version", "generated_at", "run", "scenario", "backends", "environment", "verdicts", "stats",
                "classes", "divergent_cases", "latency", "leaks", "files"}
NAN = re.compile(r"\bnan\b|\bNaN\b|\binf\b|\bNone\b", re.IGNORECASE)
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def base_run(tmp_path_factory, assets):
    from harness.run.compare import CompareOptions, run_compare

    out = tmp_path_factory.mktemp("report") / "run"
    run_compare(CompareOptions(scenario="spam", out=out, limit=6, repeats=2,
                               backends=["local-pipeline", "local-harmony"], profile="offline", capture=False,
                               progress=False))
    return out


@pytest.fixture(scope="module")
def reports(base_run):
    from harness.report import write_reports

    return write_reports(base_run)


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    for name in ("report.md", "report.html", "summary.json"):
        (dst / name).unlink(missing_ok=True)
    return dst


def _rewrite_labels(run_dir: Path, frame) -> None:
    """labels.csv and stats.json from a labels frame, the way compare writes them."""
    from harness.stats import compute_stats

    frame.to_csv(run_dir / "labels.csv", index=False)
    stats = compute_stats(frame.dropna(subset=["label"]))
    (run_dir / "stats.json").write_text(json.dumps(stats.to_json(), allow_nan=False))


def _labels(run_dir: Path):
    import pandas as pd

    return pd.read_csv(run_dir / "labels.csv", dtype={"case_id": str, "backend": str, "label": str, "gold": str})


@pytest.fixture(scope="module")
def divergent_run(base_run, tmp_path_factory):
    """Same records; one backend's label for one case changed, so the labels diverge there."""
    run_dir = _copy(base_run, tmp_path_factory.mktemp("divergent") / "run")
    frame = _labels(run_dir)
    frame["label"] = frame["label"].where(frame["label"].isna(), "0")
    case = frame["case_id"].iloc[0]
    target = (frame["case_id"] == case) & (frame["backend"] == "local-pipeline") & (frame["repeat"] == 1)
    frame.loc[target, "label"] = "1"
    other = (frame["case_id"] == case) & (frame["backend"] == "local-harmony") & (frame["repeat"] == 1)
    frame.loc[other, "label"] = "0"
    _rewrite_labels(run_dir, frame)
    return run_dir, case


@pytest.fixture(scope="module")
def agree_run(base_run, tmp_path_factory):
    run_dir = _copy(base_run, tmp_path_factory.mktemp("agree") / "run")
    frame = _labels(run_dir)
    frame["label"] = "1"  # every call labelled, all the same
    _rewrite_labels(run_dir, frame)
    return run_dir


@pytest.fixture(scope="module")
def errors_run(base_run, tmp_path_factory):
    """local-harmony failed every call (after retries); local-pipeline as recorded."""
    from harness.records import RunRecord
    from harness.run.store import ResultStore, records_frame

    run_dir = tmp_path_factory.mktemp("errors") / "run"
    run_dir.mkdir()
    for name in ("run.json", "renders.json"):
        shutil.copy(base_run / name, run_dir / name)
    with ResultStore(base_run / "results.sqlite") as store:
        records = store.latest()
    rewritten = [r if r.backend != "local-harmony" else RunRecord(
        run_key=r.run_key, case_id=r.case_id, backend=r.backend, repeat=r.repeat, request=r.request, completion=None,
        error_cause="server-error", error_message="HTTP 500 from upstream", latency_s=None, attempts=3)
        for r in records]
    with ResultStore(run_dir / "results.sqlite") as store:
        for record in rewritten:
            store.append(record)
    frame = records_frame(rewritten)
    frame.to_csv(run_dir / "records.csv", index=False)
    labels = frame[["case_id", "backend", "repeat", "label"]].copy()
    labels["label"] = labels["label"].where(frame["label_ok"].fillna(False).astype(bool), "parse-failure")
    labels.loc[frame["error_cause"].notna(), "label"] = None
    labels["gold"] = "1"
    _rewrite_labels(run_dir, labels)
    return run_dir


def _no_nan(text: str, where: str) -> None:
    visible = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", text)
    match = NAN.search(visible)
    assert match is None, f"{where}: {visible[max(0, match.start() - 80):match.end() + 80]!r}"


def _strict_json(path: Path) -> dict:
    def reject(name):
        raise AssertionError(f"{path}: {name} in JSON")

    return json.loads(path.read_text(), parse_constant=reject)


def _check_all(paths: dict[str, Path]) -> tuple[str, dict]:
    assert set(paths) == {"report_md", "report_html", "summary_json"}
    markdown = paths["report_md"].read_text()
    for section in SECTIONS_MD:
        assert re.search(rf"(?m)^{re.escape(section)}", markdown), section
    _no_nan(markdown, "report.md")
    _no_nan(paths["report_html"].read_text(), "report.html")
    summary = _strict_json(paths["summary_json"])
    _no_nan(paths["summary_json"].read_text().replace("null", ""), "summary.json")
    assert SUMMARY_KEYS <= set(summary)
    return markdown, summary


# ---------------------------------------------------------------------------------------------------------------


def test_sections_present_in_order_and_no_nan(reports):
    markdown, summary = _check_all(reports)
    positions = [markdown.index(section) for section in SECTIONS_MD]
    assert positions == sorted(positions), "verdict and key table must come first, sections in order"
    assert markdown.index("## Verdict") < markdown.index("## Environment")
    assert summary["schema_version"] == 1


def test_key_table_matches_stats(reports, base_run):
    markdown, summary = _check_all(reports)
    stats = json.loads((base_run / "stats.json").read_text())
    assert summary["stats"] == stats
    assert len(summary["verdicts"]) == len(stats["pairs"]) == 1
    pair, verdict = stats["pairs"][0], summary["verdicts"][0]
    assert verdict["verdict"] == pair["verdict"] in ("equivalent", "different", "inconclusive")
    assert verdict["agreement"] == pair["agreement"]
    row = next(line for line in markdown.splitlines() if line.startswith(f"| {pair['a']} vs {pair['b']} |"))
    assert pair["verdict"] in row
    if pair["agreement"] is not None:
        assert f"{100 * pair['agreement']:.1f}%" in row


def test_labels_section_matches_stats(reports, base_run):
    markdown, _ = _check_all(reports)
    stats = json.loads((base_run / "stats.json").read_text())
    section = markdown[markdown.index("## Labels"):markdown.index("## Environment")]
    for d in stats["distributions"]:
        row = next(line for line in section.splitlines() if line.startswith(f"| {d['backend']} | {d['n']} |"))
        for entry in d["labels"]:
            assert f"{entry['count']} ({100 * entry['share']:.1f}%" in row
    assert "chi-square" in section
    for g in stats["gold"]:  # the spam cases carry gold labels
        row = next(line for line in section.splitlines() if line.startswith(f"| {g['backend']} | {g['n']} |")
                   and "%" in line and "(" not in line)
        assert f"{100 * g['accuracy']:.1f}%" in row
    assert "Confusion matrix per pair" in section
    assert "All backends together" not in section  # two backends: no multi-rater table


def test_labels_section_with_three_backends_on_a_scale():
    import pandas as pd

    from harness.report._markdown import _labels
    from harness.stats import compute_stats

    rows = [{"case_id": f"c{i}", "backend": b, "label": str(1 + (i + shift) % 5)}
            for i in range(20) for b, shift in (("a", 0), ("b", 0), ("c", i % 2))]
    stats = compute_stats(pd.DataFrame(rows), n_boot=100).to_json()
    section = "\n".join(_labels({"stats": stats}))
    multi = stats["multi"]
    row = next(line for line in section.splitlines() if line.startswith("| a, b, c |"))
    assert f"| {multi['krippendorff_alpha']:.3f} | " in row and f"| {multi['krippendorff_alpha_ordinal']:.3f} | " in row
    low, high = multi["krippendorff_alpha_ordinal_ci"]
    assert f"| {low:.3f} - {high:.3f} |" in row
    assert "Against the gold labels" not in section  # no gold column


def test_reproduce_command_parses_to_this_run(reports, base_run):
    import shlex

    from harness.cli import build_parser

    markdown, summary = _check_all(reports)
    section = markdown[markdown.index("## Reproduce"):markdown.index("## Discrepancy classes")]
    command = next(line for line in section.splitlines() if line.startswith("harness compare "))
    args = build_parser().parse_args(shlex.split(command)[1:])
    run = json.loads((base_run / "run.json").read_text())
    assert args.scenario == "spam" and args.profile == "offline" and args.repeats == run["repeats"] == 2
    assert args.backends.split(",") == list(run["backends"]) and args.limit == 6 and args.date == run["date"]
    assert summary["run"]["invocation"]["backends"] == list(run["backends"])
    assert "harness.toml" not in section  # the offline profile needs no config


def test_reproduce_config_for_configured_backends_loads(base_run, tmp_path):
    """A run with the config profile prints its backends as harness.toml entries that load as they were."""
    import tomllib

    from harness.config import load_config
    from harness.report import write_reports

    run_dir = _copy(base_run, tmp_path / "configured")
    run = json.loads((run_dir / "run.json").read_text())
    run["invocation"]["profile"] = "config"
    first = next(iter(run["backends"]))
    run["backends"][first]["config"].update(kind="hf-inference", provider="groq", api_key_env="HF_TOKEN",
                                            base_url=None, reasoning_effort="low", model="openai/gpt-oss-20b")
    run["backends"][first]["fingerprint"] = {"extra_body": {"reasoning_format": "parsed", "note": "😀 \x7f"}}
    (run_dir / "run.json").write_text(json.dumps(run))
    markdown = write_reports(run_dir)["report_md"].read_text()
    section = markdown[markdown.index("## Reproduce"):markdown.index("## Discrepancy classes")]
    toml_text = section.split("```toml\n", 1)[1].split("\n```", 1)[0]
    (tmp_path / "harness.toml").write_text(toml_text)
    assert set(tomllib.loads(toml_text)["backends"]) == set(run["backends"])
    loaded = load_config(tmp_path / "harness.toml")
    groq = loaded[first]
    assert (groq.kind, groq.provider, groq.api_key_env, groq.reasoning_effort) == ("hf-inference", "groq", "HF_TOKEN",
                                                                                  "low")
    assert groq.sampling.temperature == run["backends"][first]["config"]["sampling"]["temperature"]
    assert groq.options == {"extra_body": {"reasoning_format": "parsed", "note": "😀 \x7f"}}  # as it was sent
    assert "--profile config" in section


def test_environment_fingerprint(reports, base_run):
    markdown, summary = _check_all(reports)
    run = json.loads((base_run / "run.json").read_text())
    env = markdown[markdown.index("## Environment"):markdown.index("## Discrepancy classes")]
    assert f"torch {run['environment']['packages']['torch']}" in env
    for name, backend in run["backends"].items():
        fingerprint = backend["fingerprint"]
        assert name in env
        assert fingerprint["template_sha256"][:12] in env
        assert summary["backends"][name]["harmony_version"] == fingerprint["harmony_version"]
        assert summary["backends"][name]["model"] == fingerprint["model"]


def test_classes_counts_from_evidence(reports, base_run):
    _, summary = _check_all(reports)
    renders = json.loads((base_run / "renders.json").read_text())
    assert summary["classes"]["render"]["counts"] == renders["class_counts"]
    # every class id reported is a TAXONOMY id string (lowercase, dashes)
    classes = summary["classes"]
    for group in (classes["render"]["counts"], classes["params"]["counts"], classes["output"]["counts"]):
        assert all(re.fullmatch(r"[a-z]+(-[a-z]+)*", k) for k in group), group
    import pandas as pd

    records = pd.read_csv(base_run / "records.csv")
    ok = records[records["error_cause"].isna()]
    checked = summary["classes"]["output"]["completions_checked"]
    assert checked == {b: int(n) for b, n in ok.groupby("backend").size().items()}
    truncated = ok[ok["finish_reason"] == "length"].groupby("backend").size()
    for backend, n in truncated.items():
        assert summary["classes"]["output"]["by_backend"][backend]["finish-length"]["count"] == n


def test_latency_tokens_errors_from_records(reports, base_run):
    import numpy as np
    import pandas as pd

    markdown, summary = _check_all(reports)
    records = pd.read_csv(base_run / "records.csv")
    for backend, rows in records.groupby("backend"):
        entry = summary["latency"][backend]
        ok = rows[rows["error_cause"].isna()]
        assert entry["calls"] == len(rows)
        assert entry["errors"] == len(rows) - len(ok)
        assert entry["retries"] == int((rows["attempts"] - 1).clip(lower=0).sum())
        assert entry["latency_s"]["n"] == len(ok)
        if len(ok):
            assert entry["latency_s"]["p50"] == pytest.approx(float(np.percentile(ok["latency_s"], 50)))
            assert entry["completion_tokens"]["total"] == int(ok["completion_tokens"].sum())
    section = markdown[markdown.index("## Latency and tokens"):markdown.index("## Output leaks")]
    for backend in summary["latency"]:
        assert f"| {backend} |" in section


def test_leaks_section_matches_output_checks(reports, base_run):
    from harness.outputs import check_completion
    from harness.run.store import ResultStore

    markdown, summary = _check_all(reports)
    with ResultStore(base_run / "results.sqlite") as store:
        records = store.latest()
    expected: dict[str, int] = {}
    for record in records:
        if record.completion is not None:
            leaking = any(f.cls == "control-token-leak"
                          for f in check_completion(record.completion, label_ok=record.label_ok))
            expected[record.backend] = expected.get(record.backend, 0) + leaking
    assert {b: e["leaking"] for b, e in summary["leaks"].items() if e["checked"]} == expected
    for backend, entry in summary["leaks"].items():
        if entry["leaking"]:
            assert len(entry["examples"]) >= 1
            assert f"{backend}: leak examples" in markdown


def test_summary_schema_documents_every_key(reports):
    _, summary = _check_all(reports)
    doc = (ROOT / "docs" / "summary-schema.md").read_text()
    documented = set(re.findall(r"`([a-z_0-9]+)`", doc))
    missing = sorted(k for k in summary if k not in documented)
    for section in ("run", "classes", "divergent_cases"):
        missing += [f"{section}.{k}" for k in summary[section] if k not in documented]
    for group in ("verdicts",):
        missing += [f"{group}[].{k}" for row in summary[group] for k in row if k not in documented]
    for group in ("latency", "leaks", "backends"):
        missing += [f"{group}.*.{k}" for entry in summary[group].values() for k in entry if k not in documented]
    assert not sorted(set(missing)), f"undocumented keys: {sorted(set(missing))}"


def test_divergent_case_has_token_diff_and_request(divergent_run):
    from harness.report import write_reports

    run_dir, case = divergent_run
    markdown, summary = _check_all(write_reports(run_dir))
    assert summary["divergent_cases"]["count"] == 1
    shown = summary["divergent_cases"]["shown"][0]
    assert shown["case_id"] == case and shown["repeats_differing"] == [1]
    section = markdown[markdown.index("## Divergent cases"):markdown.index("## Latency and tokens")]
    assert f"### `{case}`" in section
    differing = [p for p in shown["render_pairs"] if not p["identical"]]
    assert differing, "the spam scenario's renders differ (content-whitespace), the report must show it"
    assert all(p["segments"] for p in differing)
    assert f"<summary>token diff {differing[0]['a']} vs {differing[0]['b']}</summary>" in section
    assert "<summary>request local-pipeline sent" in section
    assert section.count("<details>") == section.count("</details>")


def test_all_backends_agree(agree_run):
    from harness.report import write_reports

    markdown, summary = _check_all(write_reports(agree_run))
    verdict = summary["verdicts"][0]
    assert verdict["agreement"] == 1.0 and verdict["kappa"] is None  # one label throughout: kappa undefined
    assert summary["divergent_cases"]["count"] == 0
    assert "No case where the backends' labels differ" in markdown
    assert "kappa undefined" in markdown  # the "-" comes with its reason


def test_backend_with_only_errors(errors_run):
    from harness.report import write_reports

    markdown, summary = _check_all(write_reports(errors_run))
    assert summary["verdicts"] == []
    assert "No backend pair to compare" in markdown
    failed = summary["latency"]["local-harmony"]
    assert failed["ok"] == 0 and failed["errors"] == failed["calls"] > 0
    assert failed["retries"] == 2 * failed["calls"]
    assert failed["latency_s"]["p50"] is None
    assert "server-error x" in markdown
    assert summary["leaks"]["local-harmony"]["rate"] is None


def test_curl_is_redacted():
    from harness.report._curl import curl_from_body, curl_from_flow

    flow = {"request": {"method": "POST", "url": "https://router.huggingface.co/groq/openai/v1/chat/completions?"
                                                "api_key=hf_abcdefghijklmnop",
                        "headers": [["Authorization", "Bearer hf_abcdefghijklmnop"], ["Host", "x"],
                                    ["x-harness-case", "a/0/b"], ["Content-Type", "application/json"]],
                        "body": {"json": {"messages": [{"role": "user", "content": "key sk-proj1234567890"}],
                                          "api_key": "plain-secret-value"}}}}
    curl = curl_from_flow(flow)
    assert "hf_abcdefghijklmnop" not in curl and "sk-proj1234567890" not in curl
    assert "plain-secret-value" not in curl
    assert "Bearer [REDACTED]" in curl and "x-harness-case" not in curl and "Host:" not in curl
    assert curl.startswith("curl -sS 'https://router.huggingface.co/groq/openai/v1/chat/completions")
    body_curl = curl_from_body("http://127.0.0.1:1/v1/chat/completions", {"messages": []}, "GROQ_API_KEY")
    assert '"Authorization: Bearer $GROQ_API_KEY"' in body_curl


def test_cli_report_and_bad_input(reports, base_run, tmp_path):
    done = run_harness("report", str(base_run), "--json", timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["verdicts"][0]["a"]
    assert_clean_error(run_harness("report", str(tmp_path / "missing")))
    (tmp_path / "empty").mkdir()
    assert_clean_error(run_harness("report", str(tmp_path / "empty")))
    broken = _copy(base_run, tmp_path / "broken")
    (broken / "run.json").write_text("{not json")
    assert_clean_error(run_harness("report", str(broken)))


def _distinct_colours(png: bytes) -> int:
    import matplotlib.image as mpimg
    import numpy as np

    image = mpimg.imread(io.BytesIO(png), format="png")
    pixels = (image[..., :3] * 255).astype("uint8").reshape(-1, 3)
    return len(np.unique(pixels, axis=0))


def test_html_is_self_contained_with_plots(reports):
    page = reports["report_html"].read_text()
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 4
    for data in images:
        assert _distinct_colours(base64.b64decode(data)) > 20  # a drawn figure, not a blank canvas
    assert not re.search(r'(?:src|href)="(?:https?:)?//', page), "no external resource"
    assert "<style>" in page


def test_html_screenshot_in_headless_chromium(reports, tmp_path):
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is required under CI (make browser installs it)")
        pytest.skip("chromium missing (make browser installs it as root)")
    shot = tmp_path / "report.png"
    subprocess.run([str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1280,2400",
                    reports["report_html"].resolve().as_uri()],
                   capture_output=True, timeout=120, check=False)
    assert shot.exists(), "chromium wrote no screenshot"
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    assert _distinct_colours(data) > 200  # text, tables and the plots' colour maps, not one blank colour


def test_pair_notes_are_grouped_once_per_note():
    from harness.report._markdown import _pair_notes

    verdicts = [{"a": "x", "b": "y", "notes": ["no repeats", "kappa undefined"]},
                {"a": "x", "b": "z", "notes": ["no repeats"]},
                {"a": "y", "b": "z", "notes": ["no repeats"]}]
    assert _pair_notes(verdicts) == ["every pair: no repeats", "x vs y: kappa undefined"]
    assert _pair_notes(verdicts[:1]) == ["x vs y: no repeats", "x vs y: kappa undefined"]
    assert _pair_notes([]) == []


def test_free_text_labels_keep_the_tables_whole():
    import pandas as pd
    from markdown_it import MarkdownIt

    from harness.report._markdown import _labels, code
    from harness.stats import compute_stats

    labels = ["a|b", "c`d", "<e>"]
    rows = [{"case_id": f"c{i}", "backend": b, "label": labels[(i + shift) % 3]}
            for i in range(9) for b, shift in (("x", 0), ("y", i % 2), ("z", 0))]
    markdown = "\n".join(_labels({"stats": compute_stats(pd.DataFrame(rows), n_boot=50).to_json()}))
    page = MarkdownIt("commonmark").enable("table").render(markdown.replace("<details>", "").replace("</details>", ""))
    delimiter_rows = [line for line in markdown.splitlines() if line.startswith("|---")]
    assert page.count("<table>") == len(delimiter_rows) >= 3  # every table parsed as a table
    for label in ("a|b", "c`d", "&lt;e&gt;"):
        assert f"<code>{label}</code>" in page
    assert "<e>" not in page
    assert code("``x") == "``` ``x ```" and code("plain") == "`plain`"

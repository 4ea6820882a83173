"""Reports of a compare run: report.md (paste into an issue), report.html (self-contained, plots inline) and
summary.json (machine-readable; schema in docs/summary-schema.md).

    from harness.report import write_reports, build_report
    paths = write_reports(Path("reports/spam-offline"))   # {"report_md", "report_html", "summary_json"}
    summary = build_report(Path("reports/spam-offline"))  # the summary dict, nothing written
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.report._load import RunFolder, load_run
from harness.report._summary import SCHEMA_VERSION, build_summary

__all__ = ["SCHEMA_VERSION", "RunFolder", "build_report", "load_run", "write_reports"]

FILES = {"report_md": "report.md", "report_html": "report.html", "summary_json": "summary.json"}
RUN_FILES = ("run.json", "labels.csv", "records.csv", "stats.json", "renders.json", "results.sqlite")


def build_report(run_dir: str | Path) -> dict[str, Any]:
    """The summary dict of a run folder (raises HarnessError when it is not one)."""
    return _summary(load_run(run_dir))


def write_reports(run_dir: str | Path) -> dict[str, Path]:
    """Write report.md, report.html and summary.json into the run folder; returns their paths."""
    from harness.report._html import figures, render_html
    from harness.report._markdown import render_markdown

    folder = load_run(run_dir)
    summary = _summary(folder)
    markdown = render_markdown(summary)
    latencies: dict[str, list[float]] = {}
    for record in folder.records:
        if record.completion is not None and record.latency_s is not None:
            latencies.setdefault(record.backend, []).append(record.latency_s)
    title = f"Backend equivalence: {(summary.get('scenario') or {}).get('name', '-')}"
    page = render_html(markdown, figures(summary, latencies), title)
    paths = {key: folder.path / name for key, name in FILES.items()}
    paths["report_md"].write_text(markdown, encoding="utf-8")
    paths["report_html"].write_text(page, encoding="utf-8")
    paths["summary_json"].write_text(json.dumps(summary, indent=2, allow_nan=False, ensure_ascii=False) + "\n",
                                     encoding="utf-8")
    return paths


def _summary(folder: RunFolder) -> dict[str, Any]:
    summary = build_summary(folder)
    summary["files"] = _files(folder)
    return summary


def _files(folder: RunFolder) -> dict[str, str]:
    files = {name: name for name in RUN_FILES if (folder.path / name).exists()}
    files.update({key: name for key, name in FILES.items()})
    if folder.flows_path is not None:
        files["flows"] = str(folder.flows_path)
    return files

"""Views of a drift report: a markdown summary (for $GITHUB_STEP_SUMMARY) and a rich table (for a terminal)."""

from __future__ import annotations

from harness.check.drift import DriftReport

MARK = {"pass": "✅ pass", "fail": "❌ FAIL", "skip": "⏭ skip"}


def markdown(report: DriftReport) -> str:
    lines = [f"## harness check: {report.scenario}", "",
             f"**{report.summary()}**", "",
             f"run `{report.run}` against baseline `{report.baseline}`: {report.shared_cases} shared cases, "
             f"margin {report.margin:g}, confidence {report.confidence:g}"
             + (f", reference `{report.reference}`" if report.reference else ""), "",
             "| backend | check | status | detail |", "|---|---|---|---|"]
    for result in report.results:
        detail = result.message.replace("|", "\\|")
        lines.append(f"| {result.backend} | {result.check} | {MARK[result.status]} | {detail} |")
    if report.notes:
        lines += ["", *[f"- note: {note}" for note in report.notes]]
    return "\n".join(lines) + "\n"


def rich_table(report: DriftReport):
    from rich.table import Table

    table = Table(title=f"harness check {report.scenario}: {report.shared_cases} shared cases, "
                        f"margin {report.margin:g}, confidence {report.confidence:g}")
    for column in ("backend", "check", "status", "detail"):
        table.add_column(column, overflow="fold")
    style = {"pass": "green", "fail": "bold red", "skip": "dim"}
    for result in report.results:
        table.add_row(result.backend, result.check, f"[{style[result.status]}]{result.status}[/]", result.message)
    return table

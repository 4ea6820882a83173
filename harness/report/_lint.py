"""`classes.lint` of summary.json: request lint (`harness.lint`) over the scenario's requests as the run recorded
them, plus the effort check on every prompt a backend exposed (one per case and backend).

Findings that read the same (same code, source, message index, line and text: a policy every case shares) are
listed once with the cases they occur in.
"""

from __future__ import annotations

from typing import Any

from harness.report._load import RunFolder

SHOWN_CASES = 5


def lint_summary(folder: RunFolder) -> dict[str, Any]:
    from harness.errors import HarnessError
    from harness.lint import lint_request, lint_served
    from harness.request import ChatRequest

    configs = folder.run.get("backends") or {}
    pinned = {name: (info.get("config") or {}).get("reasoning_effort") for name, info in configs.items()}
    requests: dict[str, ChatRequest] = {}
    notes: list[str] = []
    groups: dict[tuple, dict[str, Any]] = {}
    served_checked: set[tuple[str, str]] = set()

    def add(case_id: str, finding) -> None:
        key = (finding.code, finding.source, finding.message_index, finding.line, finding.message)
        entry = groups.setdefault(key, {**finding.to_json(), "cases": []})
        if case_id not in entry["cases"]:
            entry["cases"].append(case_id)

    for record in folder.records:
        case_id = record.case_id
        if case_id not in requests:
            if not record.request:
                continue
            try:
                requests[case_id] = ChatRequest.from_body(record.request)
            except HarnessError as exc:
                notes.append(f"{case_id}: request not lintable ({exc})")
                continue
            for finding in lint_request(requests[case_id]):
                add(case_id, finding)
        ids = record.completion.prompt_token_ids if record.completion is not None else None
        if not ids or (case_id, record.backend) in served_checked:
            continue
        served_checked.add((case_id, record.backend))
        for finding in lint_served(requests[case_id], ids, source=record.backend, effort=pinned.get(record.backend)):
            add(case_id, finding)
    findings = sorted(groups.values(), key=lambda f: (f["code"], f["source"], f["message_index"] or 0,
                                                       f["line"] or 0))
    for entry in findings:
        entry["count"] = len(entry["cases"])
    counts: dict[str, int] = {}
    for entry in findings:
        counts[entry["code"]] = counts.get(entry["code"], 0) + entry["count"]
    if not requests:
        notes.append("no recorded request bodies: nothing to lint")
    return {"available": bool(requests), "cases_checked": len(requests),
            "prompts_checked": len(served_checked), "counts": dict(sorted(counts.items())),
            "findings": findings, "notes": notes}


def lint_markdown(lint: dict[str, Any] | None) -> list[str]:
    """The `### Request lint` subsection of "Discrepancy classes"."""
    from harness.report._markdown import code, table

    out = ["### Request lint", ""]
    if not lint or not lint.get("available"):
        return out + ["No recorded requests to lint.", ""]
    out += [(f"{lint['cases_checked']} case request(s) and {lint['prompts_checked']} backend prompt(s) checked for "
             "what will not do what the request's author thinks (`harness.lint`)."), ""]
    if not lint["findings"]:
        return out + ["Nothing found.", ""]
    rows = []
    for f in lint["findings"]:
        shown = ", ".join(code(c) for c in f["cases"][:SHOWN_CASES])
        more = f" and {f['count'] - SHOWN_CASES} more" if f["count"] > SHOWN_CASES else ""
        rows.append([f"`{f['code']}`", f["source"], f["message_index"], f["line"], _text(f["message"]),
                     f"{f['count']}: {shown}{more}"])
    return out + table(["code", "source", "message", "line", "finding", "cases"], rows)


def _text(text: str) -> str:
    """Free text for a table cell: `cell` escapes it unless it holds a code span; then escape it here."""
    from harness.report._markdown import esc

    return esc(text) if "`" in text else text

"""The CI drift gate: a committed baseline of one run, and a check of a new run against it.

    from harness.check import save_baseline, check_run, write_junit
    save_baseline("reports/spam-offline", "reports/baselines/spam-offline.json")
    report = check_run("reports/spam-offline", "reports/baselines/spam-offline.json", margin=0.05)
    report.failures, report.summary(), report.to_json()
"""

from harness.check._run import RunData, load_run
from harness.check.baseline import build_baseline, dumps_baseline, load_baseline, save_baseline
from harness.check.drift import CHECKS, CheckResult, DriftReport, check_run
from harness.check.junit import junit_xml, write_junit
from harness.check.view import markdown, rich_table

__all__ = [
    "CHECKS", "CheckResult", "DriftReport", "RunData", "build_baseline", "check_run", "dumps_baseline",
    "junit_xml", "load_baseline", "load_run", "markdown", "rich_table", "save_baseline", "write_junit",
]

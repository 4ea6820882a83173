"""JUnit XML of a drift report: one testsuite, one testcase per backend and check (CI shows them as tests)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from harness.check.drift import DriftReport


def junit_xml(report: DriftReport) -> str:
    suites = ET.Element("testsuites", name="harness check")
    suite = ET.SubElement(suites, "testsuite", {
        "name": f"drift {report.scenario}",
        "tests": str(len(report.results)),
        "failures": str(len(report.failures)),
        "errors": "0",
        "skipped": str(sum(r.status == "skip" for r in report.results)),
    })
    properties = ET.SubElement(suite, "properties")
    for name, value in (("run", report.run), ("baseline", report.baseline), ("margin", report.margin),
                        ("confidence", report.confidence), ("shared_cases", report.shared_cases),
                        ("reference", report.reference or "")):
        ET.SubElement(properties, "property", name=name, value=str(value))
    for result in report.results:
        case = ET.SubElement(suite, "testcase", classname=f"drift.{result.backend}",
                             name=f"{result.backend} {result.check}", time="0")
        if result.status == "fail":
            failure = ET.SubElement(case, "failure", message=result.message, type=result.check)
            failure.text = result.message + (f"\nflipped cases: {', '.join(result.cases)}" if result.cases else "")
        elif result.status == "skip":
            ET.SubElement(case, "skipped", message=result.message)
        else:
            ET.SubElement(case, "system-out").text = result.message
    if report.notes:
        ET.SubElement(suite, "system-out").text = "\n".join(report.notes)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def write_junit(report: DriftReport, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(junit_xml(report), encoding="utf-8")
    return path

"""report.html: the markdown report's sections rendered to HTML (markdown-it, which rich already brings), with
inline CSS and the plots embedded as base64 PNG. One file, no external resource, opens offline."""

from __future__ import annotations

import html
import re
from typing import Any

from harness.report import _plots

CSS = """
body { font: 14px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1f2328; margin: 0;
       background: #fff; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 32px 64px; }
h1 { font-size: 24px; border-bottom: 1px solid #d0d7de; padding-bottom: 8px; }
h2 { font-size: 20px; border-bottom: 1px solid #d0d7de; padding-bottom: 6px; margin-top: 32px; }
h3 { font-size: 16px; margin-top: 20px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
th, td { border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
code { background: #f6f8fa; padding: 1px 4px; border-radius: 4px; font-size: 12px; }
pre { background: #f6f8fa; padding: 10px; overflow-x: auto; border-radius: 6px; }
pre code { padding: 0; }
details { margin: 6px 0; }
summary { cursor: pointer; color: #0969da; }
.figures { display: flex; flex-wrap: wrap; gap: 16px; margin: 12px 0; }
.figures figure { margin: 0; border: 1px solid #d0d7de; border-radius: 6px; padding: 6px; background: #fff; }
.figures img { display: block; max-width: 560px; height: auto; }
figcaption { font-size: 12px; color: #57606a; margin-top: 4px; }
"""

# Figures shown right after the section whose heading starts with the key.
FIGURES_AFTER = {
    "## Verdict": [("agreement", "agreement matrix (diagonal: a backend against its own repeats)"),
                   ("disagreement", "disagreement per pair with its 95% interval, noise floor and margin")],
    "## Labels": [("distribution", "label distribution per backend")],
    "## Latency": [("latency", "latency per backend (box: quartiles; diamond p50, triangle p95)")],
}


def figures(summary: dict[str, Any], latencies: dict[str, list[float]]) -> dict[str, str]:
    return {"agreement": _plots.agreement_heatmap(summary),
            "disagreement": _plots.disagreement_intervals(summary),
            "distribution": _plots.label_distribution(summary),
            "latency": _plots.latency_plot(summary, latencies)}


def render_html(markdown_text: str, pngs: dict[str, str], title: str) -> str:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark").enable("table")
    # Split before each level-2 heading so the figures land after their section.
    sections = re.split(r"(?m)^(?=## )", markdown_text)
    body = []
    for section in sections:
        body.append(md.render(section))
        for heading, figs in FIGURES_AFTER.items():
            if section.startswith(heading):
                body.append('<div class="figures">')
                for key, caption in figs:
                    body.append(f'<figure><img alt="{html.escape(caption)}" '
                                f'src="data:image/png;base64,{pngs[key]}"><figcaption>{html.escape(caption)}'
                                "</figcaption></figure>")
                body.append("</div>")
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head>\n<body><main>\n"
            + "\n".join(body) + "\n</main></body></html>\n")

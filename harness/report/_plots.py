"""The report's figures as base64 PNG (matplotlib, Agg backend: no display needed). Each takes the summary dict
and draws a readable "no data" panel rather than failing when its data is empty."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np


def _figure(width: float = 6.4, height: float = 3.6):
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height), dpi=100)


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _empty(ax, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=11, color="#555")
    ax.set_axis_off()


def agreement_heatmap(s: dict[str, Any]) -> str:
    """Backends x backends: cross agreement off the diagonal, self agreement (1 - flip rate) on it."""
    names = list(s["backends"])
    fig, ax = _figure(5.6, 4.6)
    if len(names) < 2 or not s["verdicts"]:
        _empty(ax, "fewer than two backends: no agreement matrix")
        return _png(fig)
    index = {n: i for i, n in enumerate(names)}
    matrix = np.full((len(names), len(names)), np.nan)
    for v in s["verdicts"]:
        if v["agreement"] is not None:
            matrix[index[v["a"]], index[v["b"]]] = matrix[index[v["b"]], index[v["a"]]] = v["agreement"]
    for noise in (s.get("stats") or {}).get("noise") or []:
        if noise["backend"] in index and noise.get("flip_rate") is not None:
            matrix[index[noise["backend"]], index[noise["backend"]]] = 1 - noise["flip_rate"]
    image = ax.imshow(np.ma.masked_invalid(matrix), vmin=0, vmax=1, cmap="viridis")
    ax.set_facecolor("#e6e6e6")
    for i in range(len(names)):
        for j in range(len(names)):
            value = matrix[i, j]
            ax.text(j, i, "-" if np.isnan(value) else f"{value:.0%}", ha="center", va="center",
                    color="black" if np.isnan(value) or value > 0.6 else "white", fontsize=10)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_title("label agreement (diagonal: self, across repeats)")
    fig.colorbar(image, ax=ax, fraction=0.046)
    return _png(fig)


def label_distribution(s: dict[str, Any]) -> str:
    distributions = (s.get("stats") or {}).get("distributions") or []
    fig, ax = _figure()
    if not distributions:
        _empty(ax, "no labelled answers")
        return _png(fig)
    labels = list(dict.fromkeys(share["label"] for d in distributions for share in d["labels"]))
    backends = [d["backend"] for d in distributions]
    bottom = np.zeros(len(backends))
    colours = __import__("matplotlib").colormaps["tab10"]
    for k, label in enumerate(labels):
        counts = np.array([next((x["count"] for x in d["labels"] if x["label"] == label), 0) for d in distributions],
                          dtype=float)
        ax.barh(backends, counts, left=bottom, label=label, color=colours(k % 10))
        bottom += counts
    ax.set_xlabel("answers")
    ax.set_title("label distribution per backend")
    ax.legend(fontsize=8, loc="lower right", framealpha=0.8)
    return _png(fig)


def disagreement_intervals(s: dict[str, Any]) -> str:
    """Per pair: disagreement with its exact 95% interval, the noise floor and the equivalence margin."""
    rows = [v for v in s["verdicts"] if v["agreement"] is not None and v["agreement_ci_exact"]]
    fig, ax = _figure(6.4, max(2.4, 0.7 * len(rows) + 1.6))
    if not rows:
        _empty(ax, "no matched answers: no disagreement to show")
        return _png(fig)
    y = np.arange(len(rows))
    point = np.array([1 - v["agreement"] for v in rows])
    low = np.array([1 - v["agreement_ci_exact"][1] for v in rows])
    high = np.array([1 - v["agreement_ci_exact"][0] for v in rows])
    ax.errorbar(point, y, xerr=[point - low, high - point], fmt="o", color="#1f77b4", capsize=4,
                label="disagreement (95% CI)")
    floors = [v["noise_floor"] for v in rows]
    if any(f is not None for f in floors):
        ax.scatter([f if f is not None else np.nan for f in floors], y, marker="|", s=300, color="#d62728",
                   label="noise floor")
    margin = rows[0].get("margin")
    if margin is not None:
        ax.axvline(margin, linestyle="--", color="#555", label=f"margin {margin:.0%}")
    ax.set_yticks(y, [f"{v['a']} vs {v['b']}\n{v['verdict']}" for v in rows])
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel("share of matched answers that differ")
    ax.set_title("cross-backend disagreement")
    ax.legend(fontsize=8, loc="lower right")
    return _png(fig)


def latency_plot(s: dict[str, Any], latencies: dict[str, list[float]]) -> str:
    names = [n for n in s["latency"] if latencies.get(n)]
    fig, ax = _figure()
    if not names:
        _empty(ax, "no successful calls: no latency")
        return _png(fig)
    ax.boxplot([latencies[n] for n in names], orientation="horizontal", tick_labels=names, showfliers=True)
    for i, name in enumerate(names, start=1):
        lat = s["latency"][name]["latency_s"]
        ax.scatter([lat["p50"]], [i], marker="D", color="#2ca02c", zorder=3, label="p50" if i == 1 else None)
        ax.scatter([lat["p95"]], [i], marker="^", color="#d62728", zorder=3, label="p95" if i == 1 else None)
    ax.set_xlabel("seconds per call")
    ax.set_title("latency per backend")
    ax.legend(fontsize=8, loc="lower right")
    return _png(fig)

"""Statistics at scale: 100,000 cases x 4 backends x 2 repeats, wall seconds and peak memory.

Each run happens in a fresh subprocess so that its peak RSS (ru_maxrss) is its own; the figure is the median."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

CASES, BACKENDS, REPEATS, RUNS = 100_000, 4, 2, 3

_CHILD = r"""
import json, resource, sys, time
import numpy as np, pandas as pd
from harness.stats import compute_stats

cases, backends, repeats = (int(v) for v in sys.argv[1:4])
rng = np.random.default_rng(1)
# Ordinal 1-5 labels: each backend agrees with a per-case truth most of the time, with a few parse failures.
truth = rng.integers(1, 6, size=cases)
frames = []
for b in range(backends):
    for r in range(repeats):
        labels = np.where(rng.random(cases) < 0.9 - 0.02 * b, truth, rng.integers(1, 6, size=cases)).astype(str)
        labels[rng.random(cases) < 0.01] = "parse-failure"
        frames.append(pd.DataFrame({"case_id": np.char.add("case-", np.arange(cases).astype(str)),
                                    "backend": f"backend-{b}", "repeat": r, "label": labels,
                                    "gold": truth.astype(str)}))
df = pd.concat(frames, ignore_index=True)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
result = compute_stats(df, seed=0)
text = result.dumps()
wall = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"wall": wall, "peak_mib": peak / 1024, "base_mib": base / 1024, "pairs": len(result.pairs)}))
"""


def measure() -> dict:
    done = subprocess.run([sys.executable, "-c", _CHILD, str(CASES), str(BACKENDS), str(REPEATS)],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run() -> list[dict]:
    runs = [measure() for _ in range(RUNS)]
    label = f"{CASES:,} cases x {BACKENDS} backends x {REPEATS} repeats"
    return [
        {"name": f"stats wall time ({label})", "value": statistics.median(r["wall"] for r in runs),
         "unit": "s", "target": 30, "higher_is_better": False, "baseline": None},
        {"name": f"stats peak memory, whole process ({label})",
         "value": statistics.median(r["peak_mib"] for r in runs), "unit": "MiB", "target": 2048,
         "higher_is_better": False, "baseline": None},
    ]


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))

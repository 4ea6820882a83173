"""`make bench`: run every bench/bench_*.py module and write reports/bench/results.json.

Each module exposes `run() -> list[dict]`, one dict per figure an issue asks for:
{"name", "value", "unit", "target", "higher_is_better", "baseline"} (baseline: what a ratio was measured against,
side by side in the same run). Figures are medians of several runs. Benchmarks are not tests: nothing here fails.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import platform
import sys
import time
from pathlib import Path

OUT = Path("reports/bench/results.json")


def machine() -> dict:
    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "processor": platform.processor(), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def main(selected: list[str]) -> int:
    import bench

    results = []
    for info in sorted(pkgutil.iter_modules(bench.__path__), key=lambda m: m.name):
        if not info.name.startswith("bench_") or (selected and info.name not in selected):
            continue
        module = importlib.import_module(f"bench.{info.name}")
        print(f"bench: {info.name} ...", flush=True)
        for figure in module.run():
            figure.setdefault("baseline", None)
            results.append(figure)
            print(f"  {figure['name']}: {figure['value']:.4g} {figure['unit']} (target {figure['target']})",
                  flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"machine": machine(), "results": results}, indent=2) + "\n")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

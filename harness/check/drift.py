"""`harness check`: does a run still match its committed baseline? One `CheckResult` per backend and check.

Checks, each gated on its own:
  labels          answers on the shared cases, matched on (case, repeat), against the baseline's answers. Drift
                  when the lower bound of the disagreement beyond the noise floor (the flip rate of the backend
                  across repeats, in the run and in the baseline) exceeds the margin: harness.stats does the math.
  distribution    the label distribution on the shared cases against the baseline's: chi-square when every
                  expected count is >= 5, else Fisher's exact test (scipy); drift when p < 1 - confidence.
  render-classes  a discrepancy class (TAXONOMY.md) between the backend's prompt and its closest renderer that
                  the baseline never saw, or another closest renderer; scenario-wide, new renderer-pair classes.
  param-classes   a request-parameter class between two captured backends that the baseline never saw.
  provider        the providers that served the backend are not the baseline's.
  reference       (with --reference) each backend against the reference backend within the run, same rule as
                  labels.
Prompt hashes and versions are compared too, but only reported: the render date changes every day.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from harness.check._run import RunData, load_run
from harness.check.baseline import load_baseline, render_summary
from harness.errors import HarnessError

CHECKS = ("labels", "distribution", "render-classes", "param-classes", "provider")
RENDERERS = "renderers"  # the pseudo-backend of scenario-wide render classes
MAX_CASES_SHOWN = 20
EXACT_TABLE_LIMIT = 200  # above this many answers an r x c exact test enumerates too much: Monte Carlo


@dataclass
class CheckResult:
    backend: str
    check: str
    status: str  # "pass" | "fail" | "skip"
    message: str  # one line
    cases: list[str] = field(default_factory=list)  # flipped case ids (labels, reference)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.status == "fail"


@dataclass
class DriftReport:
    run: str
    baseline: str
    scenario: str
    confidence: float
    margin: float
    reference: str | None
    shared_cases: int
    results: list[CheckResult]
    notes: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.failed]

    def summary(self) -> str:
        """One line: what drifted (or that nothing did)."""
        if not self.failures:
            return (f"no drift: {len(self.results)} checks on {self.shared_cases} shared cases "
                    f"({sum(r.status == 'skip' for r in self.results)} skipped)")
        parts = []
        for result in self.failures:
            cases = f" ({', '.join(result.cases[:5])}{', ...' if len(result.cases) > 5 else ''})" \
                if result.cases else ""
            parts.append(f"{result.backend} {result.check}{cases}")
        return f"drift in {len(self.failures)} check(s): " + "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        from harness.stats._json import plain

        return plain({**asdict(self), "drift": bool(self.failures), "summary": self.summary()})


def check_run(run_dir: str | Path, baseline_path: str | Path, *, margin: float = 0.05, confidence: float = 0.95,
              reference: str | None = None, seed: int = 0, fail_on_causes: tuple[str, ...] = ()) -> DriftReport:
    from harness.explain.attribution import CAUSES

    unknown = [c for c in fail_on_causes if c not in CAUSES]
    if unknown:
        raise HarnessError(f"--fail-on-cause {unknown[0]!r} is not a flip cause (causes: {', '.join(CAUSES)})")
    if not 0 < margin < 1:
        raise HarnessError(f"--max-disagreement must be between 0 and 1 (got {margin})")
    if not 0 < confidence < 1:
        raise HarnessError(f"--confidence must be between 0 and 1 (got {confidence})")
    run = load_run(run_dir)
    baseline = load_baseline(baseline_path)
    notes = list(run.notes)
    base_scenario, run_scenario = baseline["scenario"], run.scenario
    if base_scenario.get("name") != run_scenario.get("name"):
        raise HarnessError(f"baseline {baseline_path} is for scenario {base_scenario.get('name')!r}, "
                           f"the run is {run_scenario.get('name')!r}")
    if base_scenario.get("fingerprint") != run_scenario.get("fingerprint"):
        notes.append("the scenario's fingerprint differs from the baseline's (other cases, policy or parser): "
                     "only the shared cases are compared; save a new baseline if the policy changed")
    shared = sorted(run.case_ids & set(baseline["labels"]))
    if not shared:
        raise HarnessError(f"no shared cases between run {run.path} and baseline {baseline_path}")
    run_backends = set(run.labels["backend"])
    if reference is not None and reference not in run_backends:
        raise HarnessError(f"--reference {reference} is not a backend of this run "
                           f"(backends: {', '.join(sorted(run_backends))})")
    notes += _version_notes(baseline.get("versions") or {}, run.environment)

    run_renders = render_summary(run)
    results: list[CheckResult] = []
    for backend in sorted(run_backends | set(baseline["backends"])):
        if backend not in run_backends:
            results += [CheckResult(backend, c, "skip", "not in this run (no answers)") for c in CHECKS]
            continue
        if backend not in baseline["backends"]:
            results += [CheckResult(backend, c, "skip", "not in the baseline") for c in CHECKS]
            continue
        base_rows = _baseline_rows(baseline, backend, shared)
        run_rows = run.labels[(run.labels["backend"] == backend) & run.labels["case_id"].isin(shared)]
        results.append(labels_check(backend, base_rows, run_rows, confidence, margin, seed))
        results.append(distribution_check(backend, base_rows, run_rows, confidence, seed))
        results.append(render_check(backend, baseline.get("renders"), run_renders))
        results.append(param_check(backend, baseline.get("params"), run.param_classes))
        results.append(provider_check(backend, baseline["backends"][backend], run))
    results.append(renderer_pairs_check(baseline.get("renders"), run_renders))
    if reference is not None:
        results += reference_checks(run, reference, confidence, margin, seed)
    if fail_on_causes:
        results.append(cause_check(run.path, fail_on_causes))
    return DriftReport(run=str(run.path), baseline=str(baseline_path), scenario=str(run_scenario.get("name")),
                       confidence=confidence, margin=margin, reference=reference, shared_cases=len(shared),
                       results=results, notes=notes)


def cause_check(run_dir: Path, causes: tuple[str, ...]) -> CheckResult:
    """Fail when the run's attribution (`harness explain`) names flips of these causes between its backends."""
    from harness.explain.run import load_attribution

    name = "flip-causes"
    attribution = load_attribution(run_dir)
    if attribution is None:
        return CheckResult(RENDERERS, name, "fail", "no attribution.json in the run: run `harness explain RUN` "
                                                    "(or compare without --no-explain) before gating on causes")
    flips = [f for f in attribution.get("flips") or [] if f.get("cause") in causes]
    if not flips:
        return CheckResult(RENDERERS, name, "pass", f"no {'/'.join(causes)} flip among "
                                                    f"{len(attribution.get('flips') or [])} flips")
    counts = {c: sum(f["cause"] == c for f in flips) for c in causes}
    return CheckResult(RENDERERS, name, "fail",
                       ", ".join(f"{n} {c}" for c, n in counts.items() if n) + " flip(s) between backends",
                       cases=sorted({f["case_id"] for f in flips}), details={"counts": counts})


# --------------------------------------------------------------------------------------------------------- labels

def _baseline_rows(baseline: dict[str, Any], backend: str, shared: list[str]) -> pd.DataFrame:
    rows = []
    for case_id in shared:
        entry = baseline["labels"][case_id].get(backend) or {}
        for repeat, label in enumerate(entry.get("repeats") or []):
            if label is not None:
                rows.append({"case_id": case_id, "repeat": repeat, "label": str(label)})
    return pd.DataFrame(rows, columns=["case_id", "repeat", "label"])


def _excess(a_rows: pd.DataFrame, b_rows: pd.DataFrame, confidence: float, margin: float, seed: int):
    """harness.stats on two label sets matched on (case, repeat): the pair and its noise comparison."""
    from harness.stats import compute_stats

    frame = pd.concat([a_rows.assign(backend="a"), b_rows.assign(backend="b")], ignore_index=True)
    stats = compute_stats(frame[["case_id", "backend", "repeat", "label"]], confidence=confidence, margin=margin,
                          seed=seed)
    return stats.pairs[0] if stats.pairs else None


def _flipped(a_rows: pd.DataFrame, b_rows: pd.DataFrame) -> list[str]:
    merged = a_rows.merge(b_rows, on=["case_id", "repeat"], suffixes=("_a", "_b"))
    return sorted(set(merged.loc[merged["label_a"] != merged["label_b"], "case_id"]))


def _gate(backend: str, check: str, pair, flipped: list[str], margin: float, confidence: float,
          against: str) -> CheckResult:
    if pair is None or pair.n == 0:
        return CheckResult(backend, check, "skip", f"no (case, repeat) answered both here and in {against}")
    nc = pair.noise_comparison
    low, high = nc.excess_ci or (None, None)
    details = {"n": pair.n, "disagree": pair.disagree, "disagreement": pair.disagree / pair.n,
               "noise_floor": nc.noise_floor, "noise_source": nc.noise_source, "excess": nc.excess,
               "excess_ci": nc.excess_ci, "margin": margin, "verdict": nc.verdict, "flipped_cases": flipped}
    level = f"{confidence:.0%}"
    interval = "-" if low is None else f"{low:.3f}..{high:.3f}"
    text = (f"{pair.disagree}/{pair.n} answers differ from {against}; beyond the noise floor "
            f"{nc.noise_floor or 0:.3f}: {nc.excess or 0:.3f} ({level} CI {interval}), margin {margin:g}")
    shown = ", ".join(flipped[:MAX_CASES_SHOWN]) + (", ..." if len(flipped) > MAX_CASES_SHOWN else "")
    if low is not None and low > margin:
        return CheckResult(backend, check, "fail", f"{backend}: {text}; flipped cases: {shown}", flipped, details)
    suffix = f"; flipped cases within the noise: {shown}" if flipped else ""
    return CheckResult(backend, check, "pass", text + suffix, flipped, details)


def labels_check(backend: str, base_rows: pd.DataFrame, run_rows: pd.DataFrame, confidence: float,
                 margin: float, seed: int = 0) -> CheckResult:
    if base_rows.empty or run_rows.empty:
        return CheckResult(backend, "labels", "skip", "no answers on the shared cases in "
                           + ("the baseline" if base_rows.empty else "this run"))
    run_rows = run_rows[["case_id", "repeat", "label"]]
    pair = _excess(base_rows, run_rows, confidence, margin, seed)
    return _gate(backend, "labels", pair, _flipped(base_rows, run_rows), margin, confidence, "the baseline")


def reference_checks(run: RunData, reference: str, confidence: float, margin: float, seed: int) -> list[CheckResult]:
    ref_rows = run.labels[run.labels["backend"] == reference][["case_id", "repeat", "label"]]
    results = []
    for backend in sorted(set(run.labels["backend"]) - {reference}):
        rows = run.labels[run.labels["backend"] == backend][["case_id", "repeat", "label"]]
        pair = _excess(ref_rows, rows, confidence, margin, seed)
        results.append(_gate(backend, "reference", pair, _flipped(ref_rows, rows), margin, confidence, reference))
    return results


# --------------------------------------------------------------------------------------------------- distribution

def distribution_check(backend: str, base_rows: pd.DataFrame, run_rows: pd.DataFrame, confidence: float,
                       seed: int = 0) -> CheckResult:
    import numpy as np

    if base_rows.empty or run_rows.empty:
        return CheckResult(backend, "distribution", "skip", "no answers on the shared cases")
    base, now = Counter(base_rows["label"]), Counter(run_rows["label"])
    labels = sorted(set(base) | set(now))
    table = np.array([[base[label] for label in labels], [now[label] for label in labels]])
    shares = ", ".join(f"{label}: {base[label]}->{now[label]}" for label in labels)
    details = {"labels": labels, "baseline": [base[x] for x in labels], "run": [now[x] for x in labels]}
    if len(labels) < 2:
        return CheckResult(backend, "distribution", "pass", f"one label throughout ({shares})", details=details)
    test, p = _independence_test(table, seed)
    alpha = 1 - confidence
    details.update({"test": test, "p": p, "alpha": alpha})
    text = f"{shares} ({test} p={p:.3g}, alpha {alpha:.3g})"
    if p < alpha:
        return CheckResult(backend, "distribution", "fail", f"{backend}: label distribution shifted: {text}",
                           details=details)
    return CheckResult(backend, "distribution", "pass", text, details=details)


def _independence_test(table, seed: int) -> tuple[str, float]:
    """chi-square when every expected count is >= 5; else Fisher's exact test (Monte Carlo for big r x c)."""
    import numpy as np
    from scipy.stats import MonteCarloMethod, chi2_contingency, fisher_exact

    _, p, _, expected = chi2_contingency(table, correction=False)
    if (expected >= 5).all():
        return "chi-square", float(p)
    if table.shape == (2, 2) or table.sum() <= EXACT_TABLE_LIMIT:
        return "fisher", float(fisher_exact(table).pvalue)
    method = MonteCarloMethod(n_resamples=9999, rng=np.random.default_rng(seed))
    return "fisher-monte-carlo", float(fisher_exact(table, method=method).pvalue)


# ---------------------------------------------------------------------------------------- render and param classes

def render_check(backend: str, base: dict[str, Any] | None, run: dict[str, Any] | None) -> CheckResult:
    base_prompt = ((base or {}).get("backend_prompts") or {}).get(backend)
    run_prompt = ((run or {}).get("backend_prompts") or {}).get(backend)
    if base_prompt is None or run_prompt is None:
        where = "this run" if run_prompt is None else "the baseline"
        return CheckResult(backend, "render-classes", "skip", f"no prompt token ids from this backend in {where}")
    new = sorted(set(run_prompt["classes"]) - set(base_prompt["classes"]))
    details = {"new_classes": new, "classes": run_prompt["classes"], "closest": run_prompt["closest"],
               "baseline_closest": base_prompt["closest"],
               "prompt_sha256_changed": _changed_hashes(backend, base, run)}
    problems = []
    if new:
        problems.append(f"new render class(es) against {'/'.join(run_prompt['closest'])}: {', '.join(new)}")
    if run_prompt["closest"] != base_prompt["closest"]:
        problems.append(f"closest renderer now {'/'.join(run_prompt['closest']) or '-'} "
                        f"(baseline {'/'.join(base_prompt['closest']) or '-'})")
    if problems:
        return CheckResult(backend, "render-classes", "fail", f"{backend}: " + "; ".join(problems), details=details)
    seen = ", ".join(run_prompt["classes"]) or "none"
    return CheckResult(backend, "render-classes", "pass",
                       f"renders like {'/'.join(run_prompt['closest'])}; classes seen: {seen}", details=details)


def _changed_hashes(backend: str, base: dict[str, Any] | None, run: dict[str, Any] | None) -> list[str]:
    """Cases whose prompt ids hash differently (reported only: the date line changes them every day)."""
    before = (base or {}).get("prompt_sha256") or {}
    after = (run or {}).get("prompt_sha256") or {}
    return sorted(c for c in set(before) & set(after)
                  if backend in before[c] and backend in after[c] and before[c][backend] != after[c][backend])


def renderer_pairs_check(base: dict[str, Any] | None, run: dict[str, Any] | None) -> CheckResult:
    if base is None or run is None:
        return CheckResult(RENDERERS, "render-classes", "skip", "no renders.json in "
                           + ("the baseline" if base is None else "this run"))
    new = {pair: sorted(set(classes) - set(base["pair_classes"].get(pair, [])))
           for pair, classes in run["pair_classes"].items() if pair in base["pair_classes"]}
    new = {pair: classes for pair, classes in new.items() if classes}
    details = {"new_classes": new, "renderer_sha256_changed": sorted(
        r for r, sha in run.get("renderer_sha256", {}).items()
        if r in base.get("renderer_sha256", {}) and base["renderer_sha256"][r] != sha)}
    if new:
        text = "; ".join(f"{pair.replace('|', ' vs ')}: {', '.join(c)}" for pair, c in sorted(new.items()))
        return CheckResult(RENDERERS, "render-classes", "fail", f"new render class(es) between renderers: {text}",
                           details=details)
    return CheckResult(RENDERERS, "render-classes", "pass",
                       f"no new classes over {len(run['pair_classes'])} renderer pairs", details=details)


def param_check(backend: str, base: dict[str, Any] | None, run: dict[str, list[str]] | None) -> CheckResult:
    if run is None:
        return CheckResult(backend, "param-classes", "skip", "no capture in this run")
    if base is None:
        return CheckResult(backend, "param-classes", "skip", "the baseline has no capture")
    before = base.get("pair_classes") or {}
    mine = {pair: classes for pair, classes in run.items() if backend in pair.split("|") and pair in before}
    if not mine:
        return CheckResult(backend, "param-classes", "skip", "no captured pair with this backend in both")
    new = {pair: sorted(set(classes) - set(before[pair])) for pair, classes in mine.items()}
    new = {pair: classes for pair, classes in new.items() if classes}
    details = {"new_classes": new, "classes": mine}
    if new:
        text = "; ".join(f"{pair.replace('|', ' vs ')}: {', '.join(c)}" for pair, c in sorted(new.items()))
        return CheckResult(backend, "param-classes", "fail", f"{backend}: new parameter class(es): {text}",
                           details=details)
    return CheckResult(backend, "param-classes", "pass", f"no new classes over {len(mine)} captured pair(s)",
                       details=details)


# ------------------------------------------------------------------------------------------------------ provider

def provider_check(backend: str, base_backend: dict[str, Any], run: RunData) -> CheckResult:
    if backend not in run.providers:
        return CheckResult(backend, "provider", "skip", "no completed records in the result store")
    before, now = sorted(base_backend.get("providers") or []), run.providers[backend]
    details = {"baseline": before, "run": now}
    if before != now:
        return CheckResult(backend, "provider", "fail", f"{backend}: served by {', '.join(now) or 'no provider'} "
                           f"(baseline: {', '.join(before) or 'no provider'})", details=details)
    return CheckResult(backend, "provider", "pass",
                       f"served by {', '.join(now)}" if now else "no serving provider (local backend)",
                       details=details)


def _version_notes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    old, new = before.get("packages") or {}, after.get("packages") or {}
    changed = [f"{name} {old.get(name)} -> {new.get(name)}" for name in sorted(set(old) | set(new))
               if old.get(name) != new.get(name)]
    if before.get("python") != after.get("python"):
        changed.insert(0, f"python {before.get('python')} -> {after.get('python')}")
    return [f"versions changed since the baseline: {'; '.join(changed)}"] if changed else []

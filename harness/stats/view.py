"""Terminal view of a StatsResult: rich tables built from the plain data (no math here)."""

from __future__ import annotations

from rich.table import Table

from harness.stats._results import StatsResult


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _ci(interval) -> str:
    return "-" if interval is None else f"[{interval[0]:.3f}, {interval[1]:.3f}]"


def _p(value: float | None) -> str:
    return "-" if value is None else (f"{value:.2e}" if value < 1e-3 else f"{value:.4f}")


def tables(result: StatsResult) -> list[Table]:
    """Pairs, noise floor, parse failures, distributions and gold metrics as rich tables."""
    pct = f"{result.confidence:.0%}"
    out = []
    pairs = Table(title=f"Agreement per backend pair ({result.label_kind} labels, {pct} intervals)")
    for column in ("a", "b", "n", "agree", "agreement", "exact CI", "kappa", "kappa CI", "missing"):
        pairs.add_column(column, justify="left" if column in ("a", "b") else "right")
    tests = Table(title=f"Tests and verdict per pair (margin {result.margin:g} over the noise floor)")
    for column in ("a", "b", "kappa lin", "McNemar p", "S-M p", "excess", "excess CI", "verdict"):
        tests.add_column(column, justify="left" if column in ("a", "b", "verdict") else "right")
    for p in result.pairs:
        c = p.noise_comparison
        pairs.add_row(p.a, p.b, str(p.n), str(p.agree), _num(p.agreement), _ci(p.agreement_ci_exact),
                      _num(p.kappa), _ci(p.kappa_ci), str(p.missing))
        tests.add_row(p.a, p.b, _num(p.kappa_linear), _p(p.mcnemar_p), _p(p.stuart_maxwell_p), _num(c.excess),
                      _ci(c.excess_ci), p.verdict + (f" (~{c.cases_needed} cases)" if c.cases_needed else ""))
    out += [pairs, tests]
    if result.noise:
        noise = Table(title="Noise floor: each backend against its own repeats")
        for column in ("backend", "cases", "repeat pairs", "flips", "flip rate", "exact CI"):
            noise.add_column(column, justify="left" if column == "backend" else "right")
        for s in result.noise:
            noise.add_row(s.backend, str(s.cases), str(s.n), str(s.flips), _num(s.flip_rate), _ci(s.flip_ci_exact))
        out.append(noise)
    dist = Table(title=f"Label distribution per backend (Wilson {pct}); parse failures; "
                       f"chi-square p = {_p(result.distribution_test.p)}")
    labels = [share.label for share in result.distributions[0].labels] if result.distributions else []
    dist.add_column("backend")
    dist.add_column("n", justify="right")
    for label in labels:
        dist.add_column(label, justify="right")
    dist.add_column("parse-failure rate", justify="right")
    for d, pf in zip(result.distributions, result.parse_failures, strict=True):
        dist.add_row(d.backend, str(d.n), *(f"{s.share:.3f}" if s.share is not None else "-" for s in d.labels),
                     f"{_num(pf.rate)} {_ci(pf.ci_exact)}")
    out.append(dist)
    if result.multi is not None:
        multi = Table(title="All backends together")
        for column in ("backends", "n", "Fleiss kappa", "CI", "Krippendorff alpha (nominal)", "CI",
                       "alpha (ordinal)", "CI", "units"):
            multi.add_column(column)
        m = result.multi
        multi.add_row(", ".join(m.backends), str(m.n), _num(m.fleiss_kappa), _ci(m.fleiss_kappa_ci),
                      _num(m.krippendorff_alpha), _ci(m.krippendorff_alpha_ci), _num(m.krippendorff_alpha_ordinal),
                      _ci(m.krippendorff_alpha_ordinal_ci), str(m.krippendorff_n))
        out.append(multi)
    out += preference_tables(result.preference, pct, "")
    if result.fine is not None:
        fine = Table(title=f"Fine-grained agreement per backend pair ({result.fine.label_kind} fine labels, "
                           f"{pct} intervals)")
        for column in ("a", "b", "n", "agree", "agreement", "exact CI", "kappa", "kappa CI", "kappa lin", "S-M p"):
            fine.add_column(column, justify="left" if column in ("a", "b") else "right")
        for p in result.fine.pairs:
            fine.add_row(p.a, p.b, str(p.n), str(p.agree), _num(p.agreement), _ci(p.agreement_ci_exact),
                         _num(p.kappa), _ci(p.kappa_ci), _num(p.kappa_linear), _p(p.stuart_maxwell_p))
        out.append(fine)
        out += preference_tables(result.fine.preference, pct, " (fine labels)")
    if result.gold:
        gold = Table(title="Against gold labels")
        for column in ("backend", "n", "accuracy", "Wilson CI", "macro F1"):
            gold.add_column(column, justify="left" if column == "backend" else "right")
        for g in result.gold:
            gold.add_row(g.backend, str(g.n), _num(g.accuracy), _ci(g.accuracy_ci_wilson), _num(g.macro_f1))
        out.append(gold)
        diff = Table(title="Gold metrics, a minus b (paired bootstrap)")
        for column in ("a", "b", "n", "accuracy diff", "CI", "macro F1 diff", "CI "):
            diff.add_column(column)
        for d in result.gold_differences:
            diff.add_row(d.a, d.b, str(d.n), _num(d.accuracy_diff), _ci(d.accuracy_diff_ci), _num(d.macro_f1_diff),
                         _ci(d.macro_f1_diff_ci))
        out.append(diff)
    return out


def preference_tables(studies, pct: str, what: str) -> list[Table]:
    """The preference study per pair: shift tests, then each rating's share on both sides."""
    out = []
    for st in studies:
        shift = Table(title=f"Preference study{what}: {st.a} vs {st.b} over {st.n} items rated by both")
        for column in ("ratings differ", "exact CI", "a higher / b higher", "mean a - b", "Wilcoxon p",
                       "Stuart-Maxwell p", "kappa lin", "kappa quad"):
            shift.add_column(column, justify="right")
        shift.add_row(f"{_num(st.differ_share)} ({st.differ}/{st.n})", _ci(st.differ_ci_exact),
                      f"{st.a_higher} / {st.b_higher}", _num(st.mean_difference), _p(st.wilcoxon_p),
                      _p(st.stuart_maxwell_p), _num(st.kappa_linear), _num(st.kappa_quadratic))
        shares = Table(title=f"Share of each rating{what} (Wilson {pct}), paired McNemar p")
        for column in ("rating", st.a, f"{st.a} CI", st.b, f"{st.b} CI", "a - b", "McNemar p"):
            shares.add_column(column, justify="left" if column == "rating" else "right")
        for r in st.shares:
            shares.add_row(r.rating, _num(r.share_a), _ci(r.ci_a), _num(r.share_b), _ci(r.ci_b), _num(r.difference),
                           _p(r.mcnemar_p))
        out += [shift, shares]
    return out

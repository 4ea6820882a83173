"""Typed results of the statistics: plain data, no printing. `to_json()` gives strict JSON-ready dicts."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from harness.stats._json import plain

Interval = tuple[float, float] | None


class _JsonMixin:
    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (no NaN, no numpy types)."""
        return plain(self)


@dataclass
class Confusion(_JsonMixin):
    labels: list[str]  # row labels = backend a, column labels = backend b
    matrix: list[list[int]]


@dataclass
class NoiseComparison(_JsonMixin):
    """Does the cross-backend disagreement exceed what each backend disagrees with itself?"""

    n_cases: int  # cases with at least one matched (case, repeat)
    cross_disagreement: float | None
    noise_floor: float | None  # mean self-disagreement of the two backends (0 assumed without repeats)
    noise_source: str  # "both", "a", "b" or "none"
    excess: float | None
    excess_ci: Interval
    margin: float
    verdict: str  # "equivalent" | "different" | "inconclusive"
    cases_needed: int | None  # for "inconclusive": about how many cases would decide
    notes: list[str] = field(default_factory=list)


@dataclass
class PairCore(_JsonMixin):
    """The agreement of one backend pair on one label (the label, or the fine label): what every pair reports."""

    a: str
    b: str
    n: int
    agree: int
    disagree: int
    agreement: float | None
    agreement_ci_wilson: Interval
    agreement_ci_exact: Interval  # Clopper-Pearson
    kappa: float | None
    kappa_ci: Interval
    kappa_linear: float | None  # ordinal (numeric) labels only: weighted by distance on the scale
    kappa_linear_n: int | None  # matched cases where both labels are numbers
    mcnemar_p: float | None  # binary labels only (exact)
    stuart_maxwell_p: float | None
    stuart_maxwell_statistic: float | None
    missing: int  # matched keys present for one backend only
    missing_in_a: int
    missing_in_b: int
    missing_examples: list[dict[str, Any]]
    confusion: Confusion


@dataclass
class PairStats(PairCore):
    verdict: str
    noise_comparison: NoiseComparison
    notes: list[str] = field(default_factory=list)


@dataclass
class NoiseStats(_JsonMixin):
    """One backend against itself across repeats of the same case."""

    backend: str
    n: int  # repeat pairs compared
    flips: int  # repeat pairs with different labels
    flip_rate: float | None
    flip_ci_exact: Interval
    flip_ci_wilson: Interval
    cases: int  # cases with >= 2 repeats
    cases_with_flip: int
    notes: list[str] = field(default_factory=list)


@dataclass
class LabelShare(_JsonMixin):
    label: str
    count: int
    share: float | None
    ci_wilson: Interval


@dataclass
class Distribution(_JsonMixin):
    backend: str
    n: int
    labels: list[LabelShare]


@dataclass
class DistributionTest(_JsonMixin):
    """Chi-square test of backends x labels: do the backends answer with different label frequencies?"""

    chi2: float | None
    dof: int | None
    p: float | None
    per_label: list[dict[str, Any]]  # {"label", "chi2", "p"}: this label against all others, across backends
    notes: list[str] = field(default_factory=list)


@dataclass
class ParseFailures(_JsonMixin):
    backend: str
    n: int
    failures: int
    rate: float | None
    ci_exact: Interval


@dataclass
class LabelScore(_JsonMixin):
    label: str
    support: int  # gold count
    predicted: int
    tp: int
    precision: float | None
    precision_ci_wilson: Interval
    recall: float | None
    recall_ci_wilson: Interval
    f1: float | None


@dataclass
class GoldScores(_JsonMixin):
    backend: str
    n: int
    correct: int
    accuracy: float | None
    accuracy_ci_wilson: Interval
    macro_f1: float | None
    per_label: list[LabelScore]


@dataclass
class GoldDifference(_JsonMixin):
    """Paired bootstrap over cases (same gold cases for both backends) of a minus b."""

    a: str
    b: str
    n: int
    accuracy_diff: float | None
    accuracy_diff_ci: Interval
    macro_f1_diff: float | None
    macro_f1_diff_ci: Interval
    notes: list[str] = field(default_factory=list)


@dataclass
class MultiRater(_JsonMixin):
    """Fleiss' kappa over the keys every backend labelled (three or more backends)."""

    backends: list[str]
    n: int
    fleiss_kappa: float | None
    fleiss_kappa_ci: Interval  # case bootstrap
    krippendorff_alpha: float | None = None  # nominal; uses partially labelled keys too
    krippendorff_n: int = 0  # keys with at least two labels
    krippendorff_alpha_ordinal: float | None = None  # numeric labels only (parse failures left out), else None
    krippendorff_alpha_ci: Interval = None  # case bootstrap
    krippendorff_alpha_ordinal_ci: Interval = None
    notes: list[str] = field(default_factory=list)


@dataclass
class RatingShare(_JsonMixin):
    """One rating of the scale: how often each backend gave it over the matched items."""

    rating: str
    count_a: int
    share_a: float | None
    ci_a: Interval  # Wilson
    count_b: int
    share_b: float | None
    ci_b: Interval
    difference: float | None  # share_a - share_b
    mcnemar_p: float | None  # exact, paired: "gave this rating" on a vs on b for the same items


@dataclass
class PreferenceStudy(_JsonMixin):
    """Two backends rating the same items on an ordinal scale (e.g. 1-5): do the ratings shift?"""

    a: str
    b: str
    n: int  # matched (case_id, repeat) rated by both (numbers on both sides)
    excluded: int  # matched with a parse failure on either side
    scale: list[str]
    differ: int  # items whose two ratings differ
    differ_share: float | None
    differ_ci_wilson: Interval
    differ_ci_exact: Interval
    a_higher: int
    b_higher: int
    mean_a: float | None
    mean_b: float | None
    mean_difference: float | None  # mean of a - b
    median_a: float | None
    median_b: float | None
    shares: list[RatingShare]
    wilcoxon_statistic: float | None  # scipy.stats.wilcoxon on the paired ratings (zero differences dropped)
    wilcoxon_p: float | None
    wilcoxon_zero_method: str
    stuart_maxwell_statistic: float | None  # marginal homogeneity (statsmodels SquareTable.homogeneity)
    stuart_maxwell_dof: int | None
    stuart_maxwell_p: float | None
    kappa_linear: float | None  # weighted by distance on the scale
    kappa_quadratic: float | None
    confusion: Confusion  # every rating of the scale, a rows x b columns
    notes: list[str] = field(default_factory=list)


@dataclass
class FinePair(PairCore):
    """Agreement on the fine label of one backend pair (the fields of a pair, without the noise verdict)."""

    notes: list[str] = field(default_factory=list)


@dataclass
class FineAgreement(_JsonMixin):
    """Agreement on the parsers' fine labels (spam codes, ratings, dicts as sorted JSON) beside the label."""

    labels: list[str]  # every fine outcome seen; "(none)": answered without a fine label
    label_kind: str  # "binary" | "ordinal" | "nominal"
    n_rows: int
    pairs: list[FinePair]
    distributions: list[Distribution]
    preference: list[PreferenceStudy]  # when the fine labels are ratings
    notes: list[str] = field(default_factory=list)


@dataclass
class StatsResult(_JsonMixin):
    backends: list[str]
    n_rows: int
    n_cases: int
    confidence: float
    margin: float
    seed: int
    bootstrap_resamples: int
    labels: list[str]  # every outcome seen, parse-failure included
    label_kind: str  # "binary" | "ordinal" | "nominal"
    pairs: list[PairStats]
    noise: list[NoiseStats]
    parse_failures: list[ParseFailures]
    distributions: list[Distribution]
    distribution_test: DistributionTest
    multi: MultiRater | None
    gold: list[GoldScores]
    gold_differences: list[GoldDifference]
    notes: list[str] = field(default_factory=list)
    preference: list[PreferenceStudy] = field(default_factory=list)  # ordinal labels (ratings): per pair
    fine: FineAgreement | None = None  # when the labels carry a fine_label column

    def dumps(self, indent: int | None = 2) -> str:
        """Strict JSON text (raises rather than ever writing NaN)."""
        return json.dumps(self.to_json(), indent=indent, allow_nan=False)

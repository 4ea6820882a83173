"""Fingerprint probes and prompt matching, offline: real renders, no server."""

from __future__ import annotations

import datetime
import itertools

import pytest

from harness.fingerprint import PROBES, Observed, candidate_dates, check_probes, match_prompt, select_probes
from harness.render import available_renderers, render_all

DATE = "2025-03-14"


@pytest.fixture(scope="module")
def checks(assets):
    return check_probes(PROBES, available_renderers(), date=DATE, assets=assets)


def test_kept_probes_separate_renderers_by_count_and_dropped_ones_do_not(assets, checks):
    kept, dropped = select_probes(PROBES, available_renderers(), date=DATE, assets=assets)
    assert kept and len(kept) + len(dropped) == len(PROBES)
    for check in kept:  # at least two renderers disagree on the prompt-token count
        assert len(set(check.counts.values())) >= 2, check.probe.name
        assert check.counts == {n: len(ids) for n, ids in render_all(check.probe.request(), available_renderers(),
                                                                     date=DATE, assets=assets).items()}
    for check in dropped:
        assert check.error is not None or len(set(check.counts.values())) == 1, check.probe.name
    every_probe_sends_one_token = {c.probe.request().sampling.get("max_tokens") for c in checks}
    assert every_probe_sends_one_token == {1}


def _reorders_only(a: str, b: str, assets) -> bool:
    """a and b render every probe into the same tokens, some in another order (vLLM 0.23 vs 0.31's tool-result
    header): a count can never tell them apart, their ids can."""
    for probe in PROBES:
        rendered = render_all(probe.request(), [a, b], date=DATE, assets=assets)
        if sorted(rendered[a]) != sorted(rendered[b]):
            return False
    return True


def test_the_kept_probes_tell_apart_every_pair_of_renderers_that_render_differently(assets, checks):
    kept = [c for c in checks if c.separates_by_count]
    kept_by_ids = select_probes(PROBES, available_renderers(), date=DATE, assets=assets, by_ids=True)[0]
    reorders = 0
    for a, b in itertools.combinations(available_renderers(), 2):
        renders_differ = any(not any(a in g and b in g for g in c.id_groups) for c in checks if c.error is None)
        separated = any(c.counts[a] != c.counts[b] for c in kept)
        if renders_differ and _reorders_only(a, b, assets):  # then a server's exposed ids must separate them
            reorders += 1
            assert not separated
            assert any(not any(a in g and b in g for g in c.id_groups) for c in kept_by_ids), (a, b)
        elif renders_differ:
            assert separated, f"no probe separates {a} from {b} by count"
        else:  # aliases (vllm, vllm-0.31, vllm-0.33) can never be told apart
            assert not separated
    assert reorders  # the case exists: vllm-0.23/0.24 vs vllm (oss-harmony's tool-result header)


def test_match_prompt_exact_count_and_closest(assets):
    request = next(c for c in PROBES if c.name == "system-instructions").request()
    rendered = render_all(request, available_renderers(), date=DATE, assets=assets)
    served = rendered["hf-template"]
    by_ids = match_prompt(rendered, Observed(prompt_token_ids=tuple(served)), date=DATE)
    # hf-template-parsed-args renders tool-call arguments otherwise, nothing else: on this probe it is an alias
    assert by_ids.exact == ["hf-template", "hf-template-parsed-args"] and by_ids.closest.renderer == "hf-template"
    assert by_ids.closest.classes == ()
    harmony = by_ids.get("harmony")
    assert harmony.exact is False and harmony.classes and harmony.first_divergence is not None
    assert harmony.delta == len(served) - len(rendered["harmony"])
    by_count = match_prompt(rendered, Observed(prompt_tokens=len(served)), date=DATE)
    assert by_count.exact == [] and "hf-template" in by_count.by_count
    assert by_count.consistent == by_count.by_count
    assert all(m.classes is None for m in by_count.renderers)
    off_by_one = match_prompt(rendered, Observed(prompt_tokens=len(served) + 1), date=DATE)
    assert off_by_one.consistent == [] and off_by_one.closest.renderer == "hf-template"


def test_candidate_dates_cross_the_utc_day():
    late = datetime.datetime(2025, 12, 31, 23, 30, tzinfo=datetime.UTC)
    assert candidate_dates(late) == ["2025-12-31", "2025-12-30", "2026-01-01"]
    assert candidate_dates()[0] == datetime.datetime.now(datetime.UTC).date().isoformat()

"""Alignment: segments rebuild both sides exactly, equal segments are equal, and it is fast where it must be."""

from __future__ import annotations

import random
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.diff.align import align


def _rebuild(a, b, alignment):
    out_a, out_b, pos_a, pos_b = [], [], 0, 0
    for seg in alignment.segments:
        assert (seg.a_start, seg.b_start) == (pos_a, pos_b)  # contiguous, in order
        if seg.op == "equal":
            assert a[seg.a_start:seg.a_end] == b[seg.b_start:seg.b_end]
        else:
            assert seg.op == {(True, True): "replace", (True, False): "delete", (False, True): "insert"}[
                (seg.a_end > seg.a_start, seg.b_end > seg.b_start)]
        out_a += a[seg.a_start:seg.a_end]
        out_b += b[seg.b_start:seg.b_end]
        pos_a, pos_b = seg.a_end, seg.b_end
    assert out_a == list(a) and out_b == list(b)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 6), max_size=80), st.lists(st.integers(0, 6), max_size=80))
def test_segments_rebuild_both_sides(a, b):
    alignment = align(a, b)
    _rebuild(a, b, alignment)
    assert alignment.identical == (a == b)
    if a != b:
        k = alignment.first_divergence
        assert a[:k] == b[:k] and (k == len(a) or k == len(b) or a[k] != b[k])


def _scattered(n, edits, seed):
    rng = random.Random(seed)
    vocab = [rng.randrange(200_000) for _ in range(4000)]
    a = [rng.choice(vocab) for _ in range(n)]
    b = list(a)
    for _ in range(edits):
        p = rng.randrange(len(b))
        b[p:p + rng.randint(0, 3)] = [rng.randrange(200_000) for _ in range(rng.randint(1, 3))]
    return a, b


def test_large_sequences_with_scattered_edits_align_minimally_and_fast():
    a, b = _scattered(32_000, 10, seed=3)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        alignment = align(a, b)
        times.append(time.perf_counter() - start)
    _rebuild(a, b, alignment)
    assert 1 <= len(alignment.changes()) <= 10
    assert sum(max(s.a_end - s.a_start, s.b_end - s.b_start) for s in alignment.changes()) <= 60
    assert sorted(times)[1] < 0.25  # target 50 ms; generous here so a loaded CI machine does not flake


def test_prefix_and_suffix_changes():
    a = list(range(100))
    assert align(a, a + [7]).segments[-1].op == "insert"
    assert align([7] + a, a).first_divergence == 0
    assert align(a, a[:50] + a[51:]).changes()[0].a_span == (50, 51)
    assert align([], []).identical and align([], [1]).first_divergence == 0

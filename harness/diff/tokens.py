"""Token ids as text for diffs and views: whole spans decoded at once, specials named, ids outside the vocab shown."""

from __future__ import annotations

import functools
from collections.abc import Sequence

from harness.assets import FIRST_SPECIAL_ID, VOCAB_SIZE, harmony_encoding


def is_special(token: int) -> bool:
    return token >= FIRST_SPECIAL_ID


def decode(ids: Sequence[int]) -> str:
    """Text of a span; runs of ordinary tokens decode together so multi-byte characters stay whole."""
    out, run = [], []
    for token in ids:
        if 0 <= token < FIRST_SPECIAL_ID:
            run.append(token)
            continue
        if run:
            out.append(harmony_encoding().decode(run))
            run = []
        out.append(piece(token))
    if run:
        out.append(harmony_encoding().decode(run))
    return "".join(out)


@functools.lru_cache(maxsize=65536)
def piece(token: int) -> str:
    """Text of one token (a lone byte of a multi-byte character shows as U+FFFD)."""
    if not 0 <= token < VOCAB_SIZE:
        return f"<id {token}>"
    return harmony_encoding().decode([token])


def token_rows(ids: Sequence[int]) -> list[dict]:
    """Per-token rows for JSON: id, text, and whether it is a special (control) token."""
    return [{"id": t, "text": piece(t), "special": is_special(t)} for t in ids]

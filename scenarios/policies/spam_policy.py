"""Example policy module (see scenarios/README.md): the policy text is the sibling spam_policy.md.

`parse(response)` turns the model's answer into a binary label (SP0 -> 0, SP2..SP4 -> 1), the spam level as the
fine-grained label, the model's confidence as the score, and whether parsing succeeded. Plain stdlib only: a
policy module must not depend on the harness.
"""

from __future__ import annotations

import json
import re

LABELS = ("0", "1")
LEVELS = ("SP0", "SP2", "SP3", "SP4")


def _last_json_object(text: str) -> dict | None:
    decoder, found, index = json.JSONDecoder(), None, 0
    while (start := text.find("{", index)) >= 0:
        try:
            value, index = decoder.raw_decode(text, start)
        except ValueError:
            index = start + 1
            continue
        if isinstance(value, dict):
            found = value
    return found


def parse(response: str) -> dict:
    obj = _last_json_object(response or "") or {}
    level = str(obj.get("level", "")).strip().upper()
    if level not in LEVELS:  # fall back to a bare level written in prose: "SP3 - high-risk spam"
        match = re.search(r"\bSP[0234]\b", response or "", re.IGNORECASE)
        level = match.group(0).upper() if match else ""
    if level not in LEVELS:
        return {"binary_label": None, "fine_label": None, "score": None, "parsed_successfully": False}
    confidence = obj.get("confidence")
    score = float(confidence) if isinstance(confidence, (int, float)) and 0 <= confidence <= 1 else None
    return {"binary_label": 0 if level == "SP0" else 1, "fine_label": level, "score": score,
            "parsed_successfully": True}

"""P(label) at the token that decides an answer, from a completion's output logprobs.

The deciding token is the first token inside the final channel (after `<|channel|>final<|message|>`; the whole
output when no channel token appears at all) whose text, stripped of whitespace and quotes (and of trailing
`,.;:!)]}`), is a non-empty prefix of the parsed label's written form, and which starts that label as a whole
word there: not inside a longer word or number (`0` of `0.9`, `1` of `SP1`). For a JSON-field parser the token
must also come after the field's key (`"violation"`), so a `0` elsewhere in the object is not taken.

At that position, P(L) for each candidate label L is the sum of exp(logprob) of the alternatives (the chosen
token and its top-K) whose stripped text is L, or a prefix of L and of no other candidate (a token that could
start two labels, `""`, counts for neither). These are lower bounds: the rest of the vocabulary beyond the top-K
is not seen. The margin is top-1 minus top-2 among the candidate labels.

NEAR_TIE_MARGIN = 0.1. For two labels sharing the mass, margin = tanh(dz / 2) for a logit gap dz, so a margin
under 0.1 is a logit gap under about 0.2 nats: the size of the per-token logprob differences that different
kernels, batch shapes or bf16-vs-float32 produce on the same prompt. Below it, a greedy label can flip on
numerics alone, so such answers are flagged, and a flip there is weak evidence of a real difference.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

NEAR_TIE_MARGIN = 0.1
_STRIP = " \t\r\n\"'`"
_TRAILING = ",.;:!)]}"
_FINAL_HEADER = ("<|channel|>", "final", "<|message|>")
_END_TOKENS = {"<|end|>", "<|return|>", "<|call|>", "<|endoftext|>", "<|start|>"}


@dataclass(frozen=True)
class LabelProbs:
    probs: dict[str, float]  # candidate label -> P at the deciding token ({} when no deciding token was found)
    margin: float | None  # top-1 minus top-2 of probs (None: fewer than one label / no deciding token)
    position: int | None  # index into output_logprobs of the deciding token
    near_tie: bool  # margin < NEAR_TIE_MARGIN


@dataclass(frozen=True)
class LabelSpec:
    """How a parser's labels are written in an answer: the candidate labels, the written forms of each
    (`surfaces`: text -> label, e.g. JSON `true` -> "1", an enum alias), and a key the deciding token must follow."""

    labels: tuple[str, ...] | None
    surfaces: Mapping[str, str] = field(default_factory=dict)
    after: str | None = None
    case_insensitive: bool = True


def stripped(text: str | None) -> str:
    value = (text or "").strip(_STRIP)
    return value.rstrip(_TRAILING).strip(_STRIP)


def parser_spec(parser) -> LabelSpec:
    """A LabelSpec for a harness label parser (json-field, regex, enum, likert, policy module)."""
    from harness.labels._text import EnumParser, JsonFieldParser, LikertParser, RegexParser

    labels = getattr(parser, "labels", None)
    labels = tuple(labels) if labels is not None else None
    surfaces: dict[str, str] = {}
    after = None
    if isinstance(parser, (JsonFieldParser, RegexParser)) and parser.mapping:
        surfaces.update(parser.mapping)
    if isinstance(parser, JsonFieldParser):
        after = f'"{parser.field.split(".")[-1]}"'
        if not parser.mapping and labels is not None and {"0", "1"} <= set(labels):
            surfaces.update({"true": "1", "false": "0"})  # normalise() reads JSON booleans as 1/0
    if isinstance(parser, EnumParser) and parser.aliases:
        surfaces.update(parser.aliases)
    if isinstance(parser, LikertParser) and parser.anchors:  # "agree" written out reads as its rating
        surfaces.update({k: str(v) for k, v in parser.anchors.items()})
    return LabelSpec(labels=labels, surfaces=surfaces, after=after)


def _fold(text: str, spec: LabelSpec) -> str:
    return text.casefold() if spec.case_insensitive else text


def _final_start(tokens: list[str]) -> int | None:
    """Index of the first token of the final channel's content (the last final channel), 0 when the output has
    no channel token at all (plain text), None when it has channels but no final one."""
    start = None
    for i in range(len(tokens) - 2):
        if tuple(tokens[i:i + 3]) == _FINAL_HEADER:
            start = i + 3
    if start is not None:
        return start
    return None if "<|channel|>" in tokens else 0


def _whole_word(content: str, begin: int, surface: str) -> bool:
    end = begin + len(surface)
    before = content[begin - 1] if begin > 0 else ""
    after = content[end] if end < len(content) else ""
    if before and (before.isalnum() or before in "_"):
        return False
    if before == "." and surface[:1].isdigit():
        return False
    if after and (after.isalnum() or after == "_"):
        return False
    return not (after == "." and content[end + 1:end + 2].isdigit())


def _deciding_position(output_logprobs: list[dict], start: int, forms: list[str], spec: LabelSpec) -> int | None:
    """First token at or after `start` that starts one of `forms` (the label's written forms) as a whole word."""
    texts = []
    for entry in output_logprobs[start:]:
        token = entry.get("token") or ""
        if token in _END_TOKENS:
            break
        texts.append(token)
    content = "".join(texts)
    folded = _fold(content, spec)
    key_end = 0
    if spec.after:
        where = folded.rfind(_fold(spec.after, spec))
        if where < 0:
            return None
        key_end = where + len(spec.after)
    offset = 0
    for index, token in enumerate(texts):
        begin_token, offset = offset, offset + len(token)
        core = stripped(token)
        if not core or begin_token < key_end:
            continue
        lead = begin_token + _fold(token, spec).find(_fold(core, spec))
        for form in forms:
            f = _fold(form, spec)
            if f.startswith(_fold(core, spec)) and folded[lead:lead + len(f)] == f and _whole_word(folded, lead, f):
                return start + index
    return None


def _alternatives(entry: dict) -> dict[str, float]:
    """token text -> probability, the chosen token and its top-K (each token once)."""
    seen: dict[str, float] = {}
    for alt in list(entry.get("top_logprobs") or []) + [{"token": entry.get("token"), "logprob": entry.get("logprob")}]:
        token, logprob = alt.get("token"), alt.get("logprob")
        if token is None or logprob is None or token in seen:
            continue
        seen[token] = math.exp(float(logprob))
    return seen


def label_probabilities(output_logprobs: list[dict] | None, labels: Sequence[str] | None, label: str | None, *,
                        spec: LabelSpec | None = None) -> LabelProbs | None:
    """P(label) at the deciding token (module docstring). None: the backend exposes no logprobs. `labels`: the
    candidate labels (None/empty: those that appear at the deciding position); `label`: the parsed label (None,
    a parse failure: no deciding token). `spec` adds written forms (`true` for "1") and a key to follow."""
    if output_logprobs is None:
        return None
    spec = spec or LabelSpec(labels=tuple(labels) if labels else None)
    candidates = list(dict.fromkeys(labels or spec.labels or ()))
    empty = LabelProbs(probs={}, margin=None, position=None, near_tie=False)
    if label is None or not output_logprobs:
        return empty
    tokens = [entry.get("token") or "" for entry in output_logprobs]
    start = _final_start(tokens)
    if start is None:
        return empty
    forms_of: dict[str, list[str]] = {}
    for name in candidates or [label]:
        forms_of.setdefault(name, [name])
    forms_of.setdefault(label, [label])
    for surface, target in spec.surfaces.items():
        forms_of.setdefault(target, []).append(surface)
    position = _deciding_position(output_logprobs, start, forms_of[label], spec)
    if position is None:
        return empty
    alternatives = _alternatives(output_logprobs[position])
    if not candidates:  # labels unknown: the parsed label and whatever the alternatives spell
        candidates = list(dict.fromkeys([label] + [stripped(t) for t in alternatives if stripped(t)]))
        for name in candidates:
            forms_of.setdefault(name, [name])
    probs = {name: 0.0 for name in candidates}
    for token, p in alternatives.items():
        core = _fold(stripped(token), spec)
        if not core:
            continue
        exact = [n for n in candidates if any(_fold(f, spec) == core for f in forms_of.get(n, [n]))]
        starts = [n for n in candidates if any(_fold(f, spec).startswith(core) for f in forms_of.get(n, [n]))]
        owner = exact[0] if len(exact) == 1 else starts[0] if len(starts) == 1 and not exact else None
        if owner is not None:
            probs[owner] += p
    ranked = sorted(probs.values(), reverse=True)
    margin = ranked[0] - (ranked[1] if len(ranked) > 1 else 0.0) if ranked else None
    return LabelProbs(probs=probs, margin=margin, position=position,
                      near_tie=margin is not None and margin < NEAR_TIE_MARGIN)


def record_fields(output_logprobs: list[dict] | None, parser, label: str | None) -> dict:
    """The RunRecord fields for one answer: label_probs, label_margin, label_probs_exposed."""
    if output_logprobs is None:
        return {"label_probs": None, "label_margin": None, "label_probs_exposed": False}
    spec = parser_spec(parser)
    result = label_probabilities(output_logprobs, spec.labels, label, spec=spec)
    found = result is not None and result.position is not None
    return {"label_probs": dict(result.probs) if found else None,
            "label_margin": result.margin if found else None, "label_probs_exposed": True}


def near_tie(margin: float | None) -> bool | None:
    return None if margin is None or (isinstance(margin, float) and math.isnan(margin)) else margin < NEAR_TIE_MARGIN

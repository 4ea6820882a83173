"""Why two backends gave different labels for the same case and repeat: `render`, `sampling`, `server` or
`unexplained` (TAXONOMY.md, "Flip causes").

For every pair of backends and every (case, repeat) where both answered and their labels differ (a parse failure
is an outcome of its own), the evidence:
- the prompt ids each backend fed its model: exposed (`prompt_token_ids`), else the render whose token count is
  the backend's reported `usage.prompt_tokens` (renders of that count must agree id for id), else unknown;
- the render classes between the two prompts (`harness.diff`);
- the backend's own repeats of the case (its noise), and the label probabilities of both answers where exposed;
- replays on a local reference model (`harness.explain.replay`): each prompt greedily, and with the backend's own
  sampling over a few seeds when it samples.
The cause is the first rule that holds:
1. `render`: the prompts differ and their greedy replays give different labels, neither replay a near-tie;
2. `sampling`: a backend's own repeats disagree on the case, or a backend that samples gave a near-tie answer,
   answered otherwise than its prompt's greedy replay, or its sampled replays give more than one label;
3. `server`: the prompts are identical: the label moved on the serving side (numerics, quantization, routing,
   another model);
4. `sampling`: the prompts differ and a greedy replay is a near-tie (the label sits on a knife-edge);
5. `server`: the prompts differ but are replay-equivalent (their greedy replays give the same label);
6. `unexplained`: the evidence cannot decide; `missing` says what would (a prompt, a replay).
"""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

CAUSES = ("render", "sampling", "server", "unexplained")
PARSE_FAILURE = "parse-failure"


@dataclass
class Prompt:
    ids: list[int] | None
    source: str  # "exposed", "render:NAME (by token count)", or why it is unknown

    @property
    def known(self) -> bool:
        return self.ids is not None


@dataclass
class Flip:
    a: str
    b: str
    case_id: str
    repeat: int
    label_a: str
    label_b: str
    cause: str = "unexplained"
    why: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Attribution:
    flips: list[Flip]
    compared: int  # (pair, case, repeat) items where both backends answered
    replay_backend: str | None
    seeds: int
    near_tie_margin: float
    replays: dict[str, int] = field(default_factory=dict)  # generated / reused
    notes: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        counted = Counter(flip.cause for flip in self.flips)
        return {cause: counted.get(cause, 0) for cause in CAUSES}

    def headline(self) -> str:
        counts = self.counts
        render_classes = sorted({c for f in self.flips if f.cause == "render"
                                 for c in f.evidence.get("render_classes") or []})
        parts = [f"{counts['render']} render" + (f" ({', '.join(render_classes)})" if render_classes else ""),
                 f"{counts['sampling']} sampling", f"{counts['server']} server",
                 f"{counts['unexplained']} unexplained"]
        return f"{len(self.flips)} of {self.compared} answers differ: " + ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {"headline": self.headline(), "compared": self.compared, "counts": self.counts,
                "replay_backend": self.replay_backend, "seeds": self.seeds,
                "near_tie_margin": self.near_tie_margin, "replays": self.replays, "notes": self.notes,
                "flips": [flip.to_json() for flip in self.flips]}


@dataclass
class Answer:
    """One backend's answer to one (case, repeat), as attribution reads it."""

    backend: str
    case_id: str
    repeat: int
    label: str
    prompt: Prompt
    margin: float | None = None  # label-probability margin, where exposed
    probs: dict[str, float] | None = None
    logprobs: list[dict[str, Any]] | None = None  # per output token (OpenAI shape), where exposed


def find_flips(answers: dict[tuple[str, str, int], Answer], backends: list[str]) -> tuple[list[Flip], int]:
    """Every (pair, case, repeat) where both answered with different labels; and how many were compared."""
    flips, compared = [], 0
    keys = sorted({(case_id, repeat) for (_, case_id, repeat) in answers})
    for a, b in itertools.combinations(backends, 2):
        for case_id, repeat in keys:
            answer_a, answer_b = answers.get((a, case_id, repeat)), answers.get((b, case_id, repeat))
            if answer_a is None or answer_b is None:
                continue
            compared += 1
            if answer_a.label != answer_b.label:
                flips.append(Flip(a, b, case_id, repeat, answer_a.label, answer_b.label))
    return flips, compared


class ReplayResults:
    """What the replays said, per (prompt, sampling): filled by harness.explain.replay (or absent)."""

    def __init__(self) -> None:
        self.greedy: dict[str, tuple[str, float | None]] = {}  # prompt key -> (label, margin)
        self.sampled: dict[tuple[str, str], list[str]] = {}  # (prompt key, sampling key) -> labels over seeds

    @staticmethod
    def prompt_key(ids: list[int]) -> str:
        return hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()[:16]


def decide(flip: Flip, answers: dict[tuple[str, str, int], Answer], own_labels: dict[tuple[str, str], list[str]],
           render_diff, replays: ReplayResults | None, samplings: dict[str, dict[str, Any]],
           near_tie: float) -> None:
    """Fill `flip.cause`, `flip.why` and `flip.evidence` from the evidence (rules in the module docstring)."""
    a = answers[(flip.a, flip.case_id, flip.repeat)]
    b = answers[(flip.b, flip.case_id, flip.repeat)]
    evidence: dict[str, Any] = {
        "prompts": {flip.a: _prompt_json(a.prompt), flip.b: _prompt_json(b.prompt)},
        "own_repeats": {flip.a: own_labels.get((flip.a, flip.case_id), []),
                        flip.b: own_labels.get((flip.b, flip.case_id), [])},
        "label_probs": {flip.a: a.probs, flip.b: b.probs},
        "margins": {flip.a: a.margin, flip.b: b.margin},
        "missing": []}
    flip.evidence = evidence
    identical = a.prompt.known and b.prompt.known and a.prompt.ids == b.prompt.ids
    if a.prompt.known and b.prompt.known:
        diff = render_diff(a.prompt.ids, b.prompt.ids)
        evidence["prompts_identical"] = identical
        evidence["render_classes"] = diff["classes"]
        evidence["first_divergence"] = diff["first_divergence"]
    noisy = [name for name in (flip.a, flip.b) if len(set(evidence["own_repeats"][name])) > 1]
    samplers = {name for name in (flip.a, flip.b) if (samplings.get(name) or {}).get("temperature")}
    near = [name for name, answer in ((flip.a, a), (flip.b, b)) if name in samplers
            and answer.margin is not None and answer.margin < near_tie]

    greedy, sampled = {}, {}
    if replays is not None:
        for name, answer in ((flip.a, a), (flip.b, b)):
            if not answer.prompt.known:
                continue
            key = ReplayResults.prompt_key(answer.prompt.ids)
            if key in replays.greedy:
                greedy[name] = replays.greedy[key]
            sampling = samplings.get(name) or {}
            if sampling.get("temperature"):
                found = replays.sampled.get((key, sampling_key(sampling)))
                if found is not None:
                    sampled[name] = found
        evidence["replay"] = {"greedy": {n: {"label": g[0], "margin": g[1]} for n, g in greedy.items()},
                              "sampled": sampled}

    both_greedy = flip.a in greedy and flip.b in greedy
    replay_near = [n for n, (_, margin) in greedy.items() if margin is not None and margin < near_tie]
    if (not identical and both_greedy and greedy[flip.a][0] != greedy[flip.b][0] and not replay_near):
        flip.cause = "render"
        flip.why = (f"on the reference model, {flip.a}'s prompt gives {greedy[flip.a][0]!r} and {flip.b}'s gives "
                    f"{greedy[flip.b][0]!r}: the render alone moves the label")
        return
    spread = [n for n, labels in sampled.items() if n in greedy and set(labels) - {greedy[n][0]}]
    off_greedy = [n for n in samplers if n in greedy and greedy[n][0] != (flip.label_a if n == flip.a
                                                                            else flip.label_b)]
    reasons = [f"{n}'s own repeats disagree ({', '.join(evidence['own_repeats'][n])})" for n in noisy]
    reasons += [f"{n} samples and its answer is a near-tie (margin {evidence['margins'][n]:.2f})" for n in near]
    reasons += [f"sampled replays of {n}'s prompt give {', '.join(sorted(set(sampled[n])))}" for n in spread]
    reasons += [f"{n} samples and answered otherwise than its prompt's greedy replay ({greedy[n][0]!r})"
                for n in off_greedy]
    if reasons:
        flip.cause = "sampling"
        flip.why = "; ".join(reasons)
        return
    if identical:  # greedy on both sides, the same ids: the label moved in the serving (numerics, another model)
        flip.cause = "server"
        flip.why = "identical prompt ids, and still the labels differ" + _numerics_why(a, b, evidence)
        return
    if replay_near:  # the prompts differ, but the label sits on a knife-edge: any perturbation can flip it
        flip.cause = "sampling"
        flip.why = "; ".join(f"the replay of {n}'s prompt is a near-tie (margin {greedy[n][1]:.2f})"
                             for n in replay_near)
        return
    if both_greedy:  # replay-equivalent prompts
        flip.cause = "server"
        flip.why = (f"both prompts give {greedy[flip.a][0]!r} on the reference model (replay-equivalent), and "
                    "still the labels differ")
        return
    flip.cause = "unexplained"
    missing = [f"{n}'s prompt ids ({answer.prompt.source})" for n, answer in ((flip.a, a), (flip.b, b))
               if not answer.prompt.known]
    if replays is None:
        missing.append("a local replay backend")
    elif not missing:
        missing.append("replays of both prompts")
    evidence["missing"] = missing
    flip.why = "missing: " + "; ".join(missing)


def _numerics_why(a: Answer, b: Answer, evidence: dict[str, Any]) -> str:
    """Where two outputs of identical prompts part, from their per-token logprobs (`numerics`), for the why."""
    from harness.explain.numerics import compare_logprobs

    if not a.logprobs or not b.logprobs:
        return ""
    result = compare_logprobs(a.logprobs, b.logprobs)
    evidence["numerics"] = result.to_json()
    if result.first_divergence is None:
        return ""
    k = result.first_divergence
    sides = [f"{answer.backend} {entry.get('token')!r}" + (f" (logprob {entry['logprob']:.2f})"
                                                           if isinstance(entry.get("logprob"), float) else "")
             for answer, entry in ((a, a.logprobs[k]), (b, b.logprobs[k]))]
    tie = ", each among the other's top tokens" if result.divergence_in_top else ""
    gap = (f"; before it the largest logprob gap is {result.max_gap:.3f}"
           if result.max_gap is not None and result.max_gap >= 0.001 else "")
    return f": their outputs part at output token {k}, {' vs '.join(sides)}{tie}{gap} (numerics)"


def _prompt_json(prompt: Prompt) -> dict[str, Any]:
    return {"source": prompt.source, "tokens": len(prompt.ids) if prompt.ids is not None else None}


def sampling_key(sampling: dict[str, Any]) -> str:
    """One spelling of a replay's sampling (temperature, top_p), for looking its replays up."""
    return ",".join(f"{k}={sampling[k]}" for k in sorted(sampling) if k in ("temperature", "top_p"))

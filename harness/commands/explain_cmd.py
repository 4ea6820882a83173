"""`harness explain RUN`: why labels differ, flip by flip: render, sampling, server or unexplained, with evidence."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

DEFAULT_SEEDS = 4  # harness.explain.run.DEFAULT_SEEDS (not imported here: `harness --help` stays light)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "explain", help="attribute every flip of a compare run to render, sampling, server or unexplained")
    parser.add_argument("run", type=Path, help="run folder written by `harness compare`")
    parser.add_argument("--replay-backend", default=None,
                        help="the run's local backend to replay prompts on (default: its transformers-harmony one)")
    parser.add_argument("--seeds", type=int, default=DEFAULT_SEEDS,
                        help=f"sampled replays per prompt of a sampling backend (default {DEFAULT_SEEDS})")
    parser.add_argument("--no-replay", action="store_true", help="attribute from stored evidence only")
    parser.add_argument("--json", action="store_true", help="print the attribution as one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from harness.explain.run import explain_run

    attribution = explain_run(args.run, replay_backend=args.replay_backend, seeds=args.seeds,
                              replay=not args.no_replay)
    if args.json:
        print(json.dumps(attribution.to_json(), indent=2))
        return 0
    print(attribution.headline())
    for flip in attribution.flips:
        print(f"- {flip.cause:<11} {flip.a} vs {flip.b} on {flip.case_id}/{flip.repeat}: "
              f"{flip.label_a!r} vs {flip.label_b!r}: {flip.why}{_probabilities(flip)}")
    for note in attribution.notes:
        print(f"note: {note}")
    if attribution.replay_backend:
        print(f"replays on {attribution.replay_backend}: {attribution.replays.get('generated', 0)} generated, "
              f"{attribution.replays.get('reused', 0)} reused")
    return 0


def _probabilities(flip) -> str:
    """` [P(label): a 0.91, b not exposed]`: each answer's probability of the label it gave, where exposed."""
    probs = flip.evidence.get("label_probs") or {}
    parts = []
    for name, label in ((flip.a, flip.label_a), (flip.b, flip.label_b)):
        value = (probs.get(name) or {}).get(label)
        parts.append(f"{name} {value:.2f}" if isinstance(value, (int, float)) else f"{name} not exposed")
    return f" [P(label): {', '.join(parts)}]"

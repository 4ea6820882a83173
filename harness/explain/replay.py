"""Replays: generate from a backend's exact prompt ids on a local reference model, stored like any other answer.

A replay is keyed by the reference model (kind, model, revision), the prompt ids, the sampling and the seed, and
appended to the run's result store under the backend name `replay:<reference>`; a rerun of `harness explain`
reuses every stored replay and generates only what is missing. Replays never enter the run's own tables: those
read only the run keys of its planned items.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.errors import HarnessError
from harness.explain.attribution import PARSE_FAILURE, ReplayResults
from harness.records import RunRecord
from harness.run.store import ResultStore, run_key

REPLAY_PREFIX = "replay:"
BATCH = 8


@dataclass(frozen=True)
class ReplayJob:
    case_id: str
    ids: tuple[int, ...]
    sampling: tuple[tuple[str, Any], ...]  # () = greedy; else temperature/top_p of the backend
    seed: int


def sampling_of(config: dict[str, Any]) -> dict[str, Any]:
    """The fields of a backend's sampling that a replay reproduces (temperature, top_p): none means greedy."""
    sampling = config.get("sampling") or {}
    if not sampling.get("temperature"):
        return {}
    return {k: sampling[k] for k in ("temperature", "top_p") if sampling.get(k) is not None}


class Replayer:
    """Generates replays on the reference backend's model (a local transformers backend of the run)."""

    def __init__(self, store: ResultStore, reference: str, config: dict[str, Any], *, max_tokens: int,
                 labeler: Callable[[str, Any], tuple]) -> None:
        self.store = store
        self.reference = reference
        self.config = config
        self.max_tokens = max_tokens
        self.labeler = labeler
        self.generated = 0
        self.reused = 0
        self._identity = {"replay_on": {k: config.get(k) for k in ("kind", "model", "revision")}}

    def key(self, job: ReplayJob) -> str:
        return run_key(self._identity, {"prompt_sha": ReplayResults.prompt_key(list(job.ids)),
                                        "sampling": dict(job.sampling), "max_tokens": self.max_tokens}, job.seed)

    def run(self, jobs: list[ReplayJob]) -> dict[ReplayJob, tuple[str, float | None]]:
        """(label, margin) per job: stored replays reused, the rest generated in batches and stored."""
        jobs = list(dict.fromkeys(jobs))
        keys = {job: self.key(job) for job in jobs}
        stored = {record.run_key: record for record in self.store.latest(set(keys.values()))}
        results: dict[ReplayJob, tuple[str, float | None]] = {}
        missing = []
        for job in jobs:
            record = stored.get(keys[job])
            if record is not None and record.completion is not None:
                results[job] = _outcome(record)
                self.reused += 1
            else:
                missing.append(job)
        by_sampling: dict[tuple, list[ReplayJob]] = {}
        for job in missing:
            by_sampling.setdefault((job.sampling, job.seed), []).append(job)
        for (sampling, seed), group in by_sampling.items():
            for start in range(0, len(group), BATCH):
                batch = group[start:start + BATCH]
                for job, completion in zip(batch, self._generate(batch, dict(sampling), seed), strict=True):
                    record = self._record(job, keys[job], completion)
                    self.store.append(record)
                    results[job] = _outcome(record)
                    self.generated += 1
        return results

    def _generate(self, batch: list[ReplayJob], sampling: dict[str, Any], seed: int):
        from harness.assets import resolve
        from harness.backends.base import BackendConfig, Sampling
        from harness.backends.transformers_local import generate_from_ids, generation_kwargs, load_model
        from harness.request import ChatMessage, ChatRequest

        assets = resolve(self.config.get("model"))
        if assets.model_dir is None:
            raise HarnessError(f"replay backend {self.reference!r}: model {assets.model_id!r} has no local weights")
        loaded = load_model(str(assets.model_dir), str(assets.tokenizer_dir))
        config = BackendConfig(name=self.reference, kind="transformers-harmony",
                               sampling=Sampling(max_tokens=self.max_tokens, **sampling))
        gen = generation_kwargs(config, ChatRequest(messages=(ChatMessage("user"),)))
        bodies = [{"prompt_token_ids": list(job.ids), "replay_of": self.reference, "seed": seed} for job in batch]
        return generate_from_ids(loaded, [list(job.ids) for job in batch], gen, seed, sent_bodies=bodies)

    def _record(self, job: ReplayJob, key: str, completion) -> RunRecord:
        label, ok, detail, *more = self.labeler(job.case_id, completion)
        extras = dict(more[0] or {}) if more else {}
        return RunRecord(run_key=key, case_id=job.case_id, backend=REPLAY_PREFIX + self.reference, repeat=job.seed,
                         request={"prompt_token_ids": list(job.ids), "sampling": dict(job.sampling)},
                         completion=completion, label=label, label_ok=ok, label_detail=detail,
                         fine_label=extras.get("fine_label"), label_score=extras.get("score"),
                         label_metadata=extras.get("metadata"), **_probability_fields(extras))


def _probability_fields(extras: dict[str, Any]) -> dict[str, Any]:
    return {name: extras.get(name) for name in ("label_probs", "label_margin", "label_probs_exposed")}


def _outcome(record: RunRecord) -> tuple[str, float | None]:
    label = record.label if record.label_ok and record.label is not None else PARSE_FAILURE
    return str(label), record.label_margin

"""`explain_run(RUN)`: attribute every flip of a compare run to its cause, replaying what is missing.

Reads the run folder (labels, records, run.json), gathers each answer's prompt ids (exposed, else inferred from its
prompt-token count), replays the prompts of the flips on the run's local reference backend (default: its
`transformers-harmony` backend), decides each flip's cause (`harness.explain.attribution`) and writes
`attribution.json` into the run folder. Replays are stored in the run's result store, so a second call generates
nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.explain.attribution import (
    PARSE_FAILURE,
    Answer,
    Attribution,
    Prompt,
    ReplayResults,
    decide,
    find_flips,
    sampling_key,
)
from harness.explain.probabilities import NEAR_TIE_MARGIN
from harness.explain.replay import Replayer, ReplayJob, sampling_of

ATTRIBUTION_FILE = "attribution.json"
DEFAULT_SEEDS = 4
LOCAL_KINDS = ("transformers-harmony", "transformers-pipeline")
DEFAULT_REPLAY_MAX_TOKENS = 48


def explain_run(run_dir: str | Path, *, replay_backend: str | None = None, seeds: int = DEFAULT_SEEDS,
                replay: bool = True) -> Attribution:
    from harness.report._load import load_run

    if seeds < 1:
        raise HarnessError("--seeds must be at least 1")
    folder = load_run(run_dir)
    run = folder.run
    configs = {name: (info or {}).get("config") or {} for name, info in (run.get("backends") or {}).items()}
    backends = list(configs)
    reference = _reference(configs, replay_backend) if replay else None
    notes: list[str] = []
    if replay and reference is None:
        notes.append("no local transformers-harmony backend in this run: flips are attributed without replays "
                     "(give --replay-backend NAME)")
    served = {name: (info or {}).get("served_render") for name, info in (run.get("backends") or {}).items()}
    answers, own_labels = _answers(folder, run.get("date"), served)
    flips, compared = find_flips(answers, backends)
    near = NEAR_TIE_MARGIN
    replays = None
    replay_counts = {"generated": 0, "reused": 0}
    if reference is not None and flips:
        replays, replay_counts = _replay(folder, run, configs, reference, flips, answers, seeds, notes)
    samplings = {name: sampling_of(config) for name, config in configs.items()}
    diff_cache: dict[tuple[str, str], dict[str, Any]] = {}

    def render_diff(a: list[int], b: list[int]) -> dict[str, Any]:
        from harness.diff import diff_tokens

        key = (ReplayResults.prompt_key(a), ReplayResults.prompt_key(b))
        if key not in diff_cache:
            data = diff_tokens(a, b).to_json()
            diff_cache[key] = {"classes": data["classes"], "first_divergence": data["first_divergence"]}
        return diff_cache[key]

    for flip in flips:
        decide(flip, answers, own_labels, render_diff, replays, samplings, near)
    attribution = Attribution(flips, compared, reference, seeds, near, replay_counts, notes)
    (Path(run_dir) / ATTRIBUTION_FILE).write_text(json.dumps(attribution.to_json(), indent=2) + "\n")
    return attribution


def load_attribution(run_dir: str | Path) -> dict[str, Any] | None:
    path = Path(run_dir) / ATTRIBUTION_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _reference(configs: dict[str, dict[str, Any]], wanted: str | None) -> str | None:
    local = [name for name, config in configs.items() if config.get("kind") in LOCAL_KINDS]
    if wanted is not None:
        if wanted not in configs:
            raise HarnessError(f"replay backend {wanted!r} is not a backend of this run (its backends: "
                               f"{', '.join(configs) or 'none'})")
        if wanted not in local:
            raise HarnessError(f"replay backend {wanted!r} is {configs[wanted].get('kind')}, not a local model "
                               f"(local backends of this run: {', '.join(local) or 'none'})")
        return wanted
    return next((name for name in local if configs[name].get("kind") == "transformers-harmony"), None)


def _answers(folder, date: str | None, served: dict[str, dict[str, Any] | None] | None = None,
             ) -> tuple[dict[tuple[str, str, int], Answer], dict[tuple[str, str], list]]:
    records = {(r.backend, r.case_id, r.repeat): r for r in folder.records}
    answers: dict[tuple[str, str, int], Answer] = {}
    own: dict[tuple[str, str], list[tuple[int, str]]] = {}
    inferred: dict[tuple[str, str], Prompt] = {}
    for row in folder.labels.itertuples(index=False):
        label = str(row.label)
        if not label:  # an errored call: no answer to compare
            continue
        backend, case_id, repeat = str(row.backend), str(row.case_id), int(row.repeat)
        record = records.get((backend, case_id, repeat))
        prompt = _prompt(record, date, inferred, (served or {}).get(backend))
        answers[(backend, case_id, repeat)] = Answer(
            backend, case_id, repeat, label, prompt, margin=record.label_margin if record else None,
            probs=record.label_probs if record else None,
            logprobs=record.completion.output_logprobs if record and record.completion else None)
        own.setdefault((backend, case_id), []).append((repeat, label))
    own_labels = {key: [label for _, label in sorted(values)] for key, values in own.items()}
    return answers, own_labels


def _prompt(record, date: str | None, cache: dict[tuple[str, str], Prompt],
            served: dict[str, Any] | None = None) -> Prompt:
    """Exposed ids; else the render its fingerprint names (`served_render` in run.json), if that render has its
    prompt-token count; else the one render with that count."""
    if record is None or record.completion is None:
        return Prompt(None, "no record of the answer")
    if record.completion.prompt_token_ids:
        return Prompt(list(record.completion.prompt_token_ids), "exposed")
    count = record.completion.usage.prompt_tokens if record.completion.usage else None
    if not count or not date:
        return Prompt(None, "not exposed, and no prompt-token count")
    matches = tuple((served or {}).get("matches") or ())
    served_date = (served or {}).get("date") or date
    key = (json.dumps(record.request, sort_keys=True), f"{date}:{count}:{served_date}:{','.join(matches)}")
    if key not in cache:
        found = _prompt_by_fingerprint(record.request, served_date, int(count), matches) if matches else None
        cache[key] = found or _prompt_by_count(record.request, date, int(count))
    return cache[key]


def _prompt_by_fingerprint(body: dict[str, Any], date: str, count: int, matches: tuple[str, ...]) -> Prompt | None:
    """The render the backend's fingerprint names, when those renders agree id for id and have its count."""
    from harness.render import render_all
    from harness.request import ChatRequest

    try:
        rendered = render_all(ChatRequest.from_body(body), list(matches), date=date)
    except HarnessError:
        return None
    distinct = {tuple(ids) for ids in rendered.values()}
    if len(distinct) != 1 or len(next(iter(distinct))) != count:
        return None
    name = min(rendered)
    return Prompt(list(rendered[name]), f"render:{name} (its fingerprint, and its {count} prompt tokens)")


def _prompt_by_count(body: dict[str, Any], date: str, count: int) -> Prompt:
    """The render whose token count is the backend's reported prompt tokens (they must agree id for id)."""
    from harness.render import available_renderers, render_all
    from harness.request import ChatRequest

    try:
        rendered = render_all(ChatRequest.from_body(body), available_renderers(), date=date)
    except HarnessError as exc:
        return Prompt(None, f"not exposed, and the request cannot be rendered ({exc})")
    fitting = {name: ids for name, ids in rendered.items() if len(ids) == count}
    if not fitting:
        return Prompt(None, f"not exposed, and no render has its {count} prompt tokens")
    distinct = {tuple(ids) for ids in fitting.values()}
    if len(distinct) > 1:
        return Prompt(None, f"not exposed, and {len(fitting)} different renders have its {count} prompt tokens")
    name = min(fitting)
    return Prompt(list(fitting[name]), f"render:{name} (by its {count} prompt tokens)")


def run_scenario(folder, notes: list[str]):
    """The run's scenario as it ran (with its `--cases` items, kept in the run folder); None, with a note, when it
    cannot be loaded here."""
    from harness.run.compare import CASES_COPY
    from harness.scenario import load_scenario

    run = folder.run
    invocation = run.get("invocation") or {}
    name = invocation.get("scenario") or (run.get("scenario") or {}).get("name")
    cases = folder.path / CASES_COPY  # a --cases run: its own items, so a policy module sees their texts
    try:
        return load_scenario(name, cases_file=cases if cases.is_file() else None)
    except HarnessError as exc:
        notes.append(f"no replays: the run's scenario {name!r} cannot be loaded here ({exc})")
        return None


def _labeler(folder, model: str | None, notes: list[str]):
    """The run's own label parser (its scenario's), as the compare run labelled answers; None when the scenario
    cannot be loaded here (then there are no replays)."""
    from harness.run.compare import _labeler as labeler_for

    scenario = run_scenario(folder, notes)
    return labeler_for(scenario, model) if scenario is not None else None


def _replay(folder, run, configs, reference, flips, answers, seeds, notes):
    from harness.run.store import ResultStore

    labeler = _labeler(folder, configs[reference].get("model"), notes)
    if labeler is None:
        return None, {"generated": 0, "reused": 0}
    max_tokens = int((configs[reference].get("sampling") or {}).get("max_tokens") or DEFAULT_REPLAY_MAX_TOKENS)
    jobs: list[ReplayJob] = []
    wanted: list[tuple[str, tuple, list[int]]] = []
    for flip in flips:
        for name in (flip.a, flip.b):
            answer = answers[(name, flip.case_id, flip.repeat)]
            if not answer.prompt.known:
                continue
            ids = tuple(answer.prompt.ids)
            jobs.append(ReplayJob(flip.case_id, ids, (), 0))
            sampling = tuple(sorted(sampling_of(configs[name]).items()))
            if sampling:
                jobs.extend(ReplayJob(flip.case_id, ids, sampling, seed) for seed in range(seeds))
                wanted.append((flip.case_id, sampling, list(ids)))
    with ResultStore(folder.path / "results.sqlite") as store:
        replayer = Replayer(store, reference, configs[reference], max_tokens=max_tokens, labeler=labeler)
        outcomes = replayer.run(jobs)
    results = ReplayResults()
    for job, (label, margin) in outcomes.items():
        key = ReplayResults.prompt_key(list(job.ids))
        if not job.sampling:
            results.greedy[key] = (label, margin)
    for _case_id, sampling, ids in wanted:
        key = ReplayResults.prompt_key(ids)
        labels = [outcomes[ReplayJob(_case_id, tuple(ids), sampling, seed)][0] for seed in range(seeds)]
        results.sampled[(key, sampling_key(dict(sampling)))] = labels
    return results, {"generated": replayer.generated, "reused": replayer.reused}


__all__ = ["ATTRIBUTION_FILE", "DEFAULT_SEEDS", "PARSE_FAILURE", "explain_run", "load_attribution"]

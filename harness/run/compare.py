"""`harness compare`: the same scenario cases through every backend, repeated, stored as they arrive.

Writes into the run folder:
  results.sqlite   append-only store (resumable)
  records.csv      one row per (case, backend, repeat): response, reasoning, label, usage, latency, error
  records.parquet  the same table, typed
  labels.csv       case_id,backend,repeat,label,gold[,fine_label]  (the input format of `harness stats`; fine_label
                   when the parser gives one: "" where an answer has none, parse-failure where it did not parse)
  renders.json     the scenario's requests rendered by each renderer, their token diff classes, and which render
                   each backend that exposes prompt ids actually used
  stats.json       agreement statistics (`harness stats` on labels.csv)
  run.json         what ran: scenario, backends and their fingerprints, versions, capture folder
and, with capture on, captures/<RUN>/flows.jsonl.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.records import Completion
from harness.run.orchestrator import Orchestrator, RunSummary, plan
from harness.run.store import ResultStore, records_frame

DEFAULT_RENDERERS = ("harmony", "hf-template", "vllm")
CASES_COPY = "cases.jsonl"  # a --cases file, copied into the run folder


@dataclass
class CompareOptions:
    scenario: str
    out: Path
    backends: list[str] | None = None
    repeats: int = 2
    limit: int | None = None
    config: Path | None = None
    profile: str = "auto"
    capture: bool | None = None  # None: on when any backend speaks HTTP and mitmdump is available
    captures_root: Path = Path("captures")
    date: str | None = None
    renderers: tuple[str, ...] = DEFAULT_RENDERERS
    progress: bool = True
    max_tokens: int | None = None
    online: bool = False  # allow a scenario's HF dataset to be fetched
    cases: str | Path | None = None  # a JSONL of {"text": ...} rows replacing the scenario's cases
    explain: bool = True  # flips will be explained: probe which render hidden-prompt backends served


@dataclass
class CompareResult:
    run_dir: Path
    profile: str
    backends: list[str]
    summary: RunSummary
    files: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def run_compare(options: CompareOptions) -> CompareResult:
    from harness.backends.base import BackendContext, create_backend
    from harness.run.profiles import backend_configs, resolve_profile, start_managed
    from harness.scenario import load_scenario

    if options.repeats < 1:
        raise HarnessError("--repeats must be at least 1")
    scenario = load_scenario(options.scenario, limit=options.limit, online=options.online, cases_file=options.cases)
    requests = list(scenario.requests())
    if not requests:
        raise HarnessError(f"scenario {scenario.name} has no cases")
    date = options.date or dt.date.today().isoformat()  # of the render diffs and the probes, fixed for the run
    run_dir = Path(options.out)
    run_dir.mkdir(parents=True, exist_ok=True)
    profile = resolve_profile(options.profile, options.config)
    notes: list[str] = []

    with contextlib.ExitStack() as stack:
        servers: list = []  # the servers this run started, watched while it runs
        configs, launches = backend_configs(profile, options.config, options.backends,
                                            max_tokens=options.max_tokens, run_dir=run_dir)
        if profile == "offline":
            from harness.tiny_model import TASKS

            learned = [task.scenario for task in TASKS]
            note = ("offline profile: the tiny gpt-oss was trained here for under a minute on synthetic cases "
                    "rendered by openai-harmony only (as gpt-oss was: other renders are out of its training "
                    f"distribution), in the answer formats of the built-in {', '.join(learned)} scenarios, so its "
                    "labels show the mechanics of the comparison, not the real model's behaviour; local-pipeline "
                    "samples at temperature 0.7, so its repeats differ (`sampling` flips); vLLM computes in "
                    "bfloat16, as providers serve gpt-oss, the local backends in float32, so identical prompt "
                    "ids can still give another label (`server` flips)")
            if scenario.name not in learned:
                note += f"; it never learned the {scenario.name} scenario's answers, expect parse failures"
            notes.append(note)

        context = BackendContext(run_dir=str(run_dir))
        capture_dir = None
        proxy = None
        wants_capture = options.capture if options.capture is not None else True
        # clients are built on first use, so the proxy can join the context after the backends exist
        backends = {name: create_backend(config, context) for name, config in configs.items()}
        http_backends = [b for b in backends.values() if b.speaks_http and b.config.capture]
        if wants_capture and http_backends:
            from harness.capture.proxy import ProxySession, mitmdump_path

            try:
                mitmdump_path()
                capture_ready = True
            except HarnessError:
                if options.capture:  # asked for explicitly: say what to fix
                    raise
                capture_ready = False
                notes.append("capture off: mitmdump not found (run `make setup`)")
            if capture_ready:
                capture_dir = Path(options.captures_root) / run_dir.name
                proxy = ProxySession(capture_dir)
                proxy.start()
                # a proxy that died mid-run is a note in the report, not a lost run
                stack.callback(proxy.stop, raise_if_died=False)
                context.proxy_url, context.ca_bundle = proxy.proxy_url, str(proxy.ca_bundle)

        store = stack.enter_context(ResultStore(run_dir / "results.sqlite"))
        store.set_meta("scenario", {"name": scenario.name, "fingerprint": scenario.fingerprint()})
        notes += _key_notes(store, backends)
        labelers = {name: _labeler(scenario, configs[name].model or backends[name].fingerprint().get("model"))
                    for name in backends}
        # a managed server's key is what it serves, not its URL: the plan is known before any server runs, and
        # only the servers of backends with answers still to give are started
        items = plan(backends, requests, options.repeats)
        done = store.completed_keys()
        needed = {item.backend for item in items if item.key not in done} & set(launches)
        # a stored answer whose hidden prompt no fingerprint names yet needs its server once (only the servers
        # not already starting are in question: on a first run there are none, and nothing is read)
        if options.explain and set(launches) - needed:
            from harness.run.served_render import pending

            needed |= pending(backends, store.latest({item.key for item in items}), store,
                              date=date) & set(launches)
        if needed:
            configs = start_managed(configs, launches, needed, stack, servers)
            backends.update({name: create_backend(configs[name], context) for name in needed})
        summary = _execute(backends, store, labelers, items, options.progress, servers)
        if proxy is not None and not proxy.alive():
            notes.append("the capture proxy died during the run; flows after that point are missing")
        records = store.latest({item.key for item in items})
        served = {}
        if options.explain:  # a hidden prompt is known by its render, for the replays of `explain`
            from harness.run.served_render import served_renders

            live = set(backends) - (set(launches) - needed)  # a managed server this rerun did not start is down
            served = served_renders(backends, configs, records, store, live=live, notes=notes,
                                    date=date,
                                    context=BackendContext(run_dir=str(run_dir)))

    files = _write_outputs(run_dir, scenario, records, configs, backends, capture_dir, options, notes, profile,
                           served, date)
    return CompareResult(run_dir=run_dir, profile=profile, backends=list(configs), summary=summary, files=files,
                         notes=notes)


def _labeler(scenario, model: str | None):
    """(case_id, completion) -> (label, ok, detail, extras) for one backend: the parser reads a ModelResponse, the
    final answer as a str carrying the reasoning, this backend's model, the case's prompt and the policy."""
    from harness.explain.probabilities import record_fields
    from harness.labels import ModelResponse

    parser = scenario.label_parser()
    prompts = {case.id: _prompt_text(case) for case in scenario.cases}

    def labeler(case_id: str, completion: Completion):
        response = ModelResponse(completion.text, reasoning=completion.reasoning, model=model,
                                 prompt=prompts.get(case_id), system_prompt=scenario.policy)
        result = parser.parse(response)
        extras = {"fine_label": result.fine_label, "score": result.score, "metadata": result.metadata}
        # P(label) at the deciding token where the backend returned logprobs; "not exposed" where it did not
        extras.update(record_fields(completion.output_logprobs, parser, result.label if result.ok else None))
        return result.label, result.ok, result.detail, extras

    return labeler


def _prompt_text(case) -> str | None:
    """The text being classified: the case's text, else its last user message's text."""
    if case.text is not None:
        return case.text
    for message in reversed(case.messages or ()):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return "".join(part.get("text", "") for part in content if isinstance(part, dict))
            return content
    return None


def _execute(backends, store, labeler, items, show_progress: bool, servers=()) -> RunSummary:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task) -> Text:
            return Text(f"{task.speed:.1f}/s" if task.speed else "-/s", style="progress.data.speed")

    async def orchestrate(progress=None) -> RunSummary:
        orchestrator = Orchestrator(backends=backends, store=store, labeler=labeler, progress=progress)
        run = asyncio.ensure_future(orchestrator.run(items))
        watch = asyncio.ensure_future(_watch_servers(servers))
        await asyncio.wait({run, watch}, return_when=asyncio.FIRST_COMPLETED)
        if not watch.done():
            watch.cancel()
            return run.result()
        run.cancel()  # a managed server died: stop now instead of retrying every item against it
        with contextlib.suppress(asyncio.CancelledError):
            await run
        summary = orchestrator.summary
        raise HarnessError(f"{watch.result()}; the {summary.completed} answers stored so far are kept "
                           "(rerun to resume)")

    async def go() -> RunSummary:
        try:
            if not show_progress:
                return await orchestrate()
            columns = (TextColumn("{task.description:<20}"), BarColumn(), MofNCompleteColumn(),
                       RateColumn(), TimeRemainingColumn())
            with Progress(*columns, transient=False) as progress:
                return await orchestrate(progress)
        finally:
            for backend in backends.values():
                with contextlib.suppress(Exception):
                    await backend.aclose()

    return asyncio.run(go())


def _key_notes(store: ResultStore, backends) -> list[str]:
    """Say why a rerun asks a backend again: the fields of its key that changed since the store last saw it."""
    from harness.run.answer_key import key_changes

    notes = []
    answered = store.answered_backends()
    for name, backend in backends.items():
        material = backend.fingerprint()
        before = store.get_meta(f"answer_key:{name}")
        changes = key_changes(before, material)
        if changes:
            notes.append(f"{name}: answers stored by an earlier run are not reused: its key changed in "
                         f"{', '.join(changes)}")
        elif before is None and name in answered:  # a store written before keys were recorded
            notes.append(f"{name}: answers stored by an earlier harness are not reused if their key was made "
                         "otherwise (that store recorded no key to compare with)")
        store.set_meta(f"answer_key:{name}", material)
    return notes


async def _watch_servers(servers, interval_s: float = 0.5) -> str:
    """Returns (with what to say) when a server the run started has exited; runs forever otherwise."""
    while True:
        for server in servers:
            if not server.alive():
                return f"{server.kind} server exited during the run; see {server.log_path}"
        await asyncio.sleep(interval_s)


def _write_outputs(run_dir: Path, scenario, records, configs, backends, capture_dir, options, notes,
                   profile: str, served: dict[str, dict[str, Any]], date: str) -> dict:
    frame = records_frame(records)
    gold = {case.id: case.gold for case in scenario.cases}
    files = {"store": str(run_dir / "results.sqlite")}
    if options.cases:  # the run keeps its items: `harness explain` labels replays with the same case texts
        shutil.copyfile(options.cases, run_dir / CASES_COPY)
        files["cases"] = str(run_dir / CASES_COPY)
    frame.to_csv(run_dir / "records.csv", index=False)
    frame.to_parquet(run_dir / "records.parquet", index=False)
    files["records"] = str(run_dir / "records.csv")
    files["records_parquet"] = str(run_dir / "records.parquet")
    labels = frame[["case_id", "backend", "repeat", "label"]].copy()
    labels["label"] = labels["label"].where(frame["label_ok"].fillna(False).astype(bool), "parse-failure")
    labels.loc[frame["error_cause"].notna(), "label"] = None
    labels["gold"] = labels["case_id"].map(gold)
    if "fine_label" in frame and frame["fine_label"].notna().any():  # the parser gives fine labels: keep them
        ok = frame["label_ok"].fillna(False).astype(bool)
        fine = frame["fine_label"].astype(object).where(ok, "parse-failure")
        fine = fine.where(~(ok & fine.isna()), "")  # answered without a fine label
        fine[frame["error_cause"].notna()] = None
        labels["fine_label"] = fine
    labels.to_csv(run_dir / "labels.csv", index=False)
    files["labels"] = str(run_dir / "labels.csv")

    renders = _render_evidence(scenario, records, options.renderers, date)
    (run_dir / "renders.json").write_text(json.dumps(renders, indent=2) + "\n")
    files["renders"] = str(run_dir / "renders.json")

    from harness.stats import compute_stats

    answered = labels.dropna(subset=["label"])
    if answered.empty:  # every call failed: keep the run's evidence, say why there are no statistics
        stats_json = {"pairs": [], "noise": [], "notes": ["no labels: every call failed (see records.csv)"]}
        notes.append("every call failed: no agreement statistics")
    else:
        stats_json = compute_stats(answered).to_json()
    (run_dir / "stats.json").write_text(json.dumps(stats_json, indent=2, allow_nan=False) + "\n")
    files["stats"] = str(run_dir / "stats.json")

    run_info = {
        "scenario": {"name": scenario.name, "fingerprint": scenario.fingerprint(), "cases": len(scenario.cases)},
        "repeats": options.repeats, "date": date, "notes": notes,
        "invocation": _invocation(options, profile, list(configs), date),
        "backends": {name: {"config": _public_config(configs[name]), "fingerprint": backends[name].fingerprint(),
                            **({"served_render": served[name]} if name in served else {})}
                     for name in configs},
        "capture_dir": str(capture_dir) if capture_dir else None,
        "environment": environment_fingerprint(),
    }
    (run_dir / "run.json").write_text(json.dumps(run_info, indent=2, default=str) + "\n")
    files["run"] = str(run_dir / "run.json")
    if capture_dir:
        files["flows"] = str(capture_dir / "flows.jsonl")
    return files


def _invocation(options: CompareOptions, profile: str, backends: list[str], date: str) -> dict[str, Any]:
    """What `harness compare` needs to run this comparison again (the report prints it as a command)."""
    scenario = options.scenario
    if Path(scenario).exists():  # a file: keep its name, not this machine's path
        scenario = Path(scenario).name
    return {"scenario": scenario, "profile": profile, "backends": backends,
            "repeats": options.repeats, "limit": options.limit, "date": date, "max_tokens": options.max_tokens,
            "online": options.online, "cases": Path(options.cases).name if options.cases else None}


def _public_config(config) -> dict[str, Any]:
    data = config.model_dump()
    data.pop("options", None)
    return data  # api_key_env is a variable NAME, never a secret


def _render_evidence(scenario, records, renderer_names, date: str) -> dict[str, Any]:
    """Render every case with each renderer, diff each pair, and fingerprint the prompt ids backends exposed."""
    from harness.diff import diff_tokens
    from harness.render import render_all

    cases = []
    class_counts: dict[str, int] = {}
    exposed = {(r.case_id, r.backend): r.completion.prompt_token_ids for r in records
               if r.completion is not None and r.completion.prompt_token_ids and r.repeat == 0}
    for case_id, request in scenario.requests():
        try:
            rendered = render_all(request, list(renderer_names), date=date)
        except HarnessError as exc:
            cases.append({"case_id": case_id, "error": str(exc)})
            continue
        pairs = []
        names = list(rendered)
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                diff = diff_tokens(rendered[a], rendered[b])
                pairs.append({"a": a, "b": b, **_brief(diff)})
                for cls in diff.classes:
                    class_counts[cls] = class_counts.get(cls, 0) + 1
        served = {}
        for (cid, backend), ids in exposed.items():
            if cid != case_id:
                continue
            matches = [name for name, ids_r in rendered.items() if list(ids_r) == list(ids)]
            diffs = {name: diff_tokens(ids_r, ids) for name, ids_r in rendered.items()}
            closest = min(diffs, key=lambda n: len(diffs[n].classes))
            served[backend] = {"matches": matches, "closest": closest, "vs_closest": _brief(diffs[closest])}
        cases.append({"case_id": case_id, "token_counts": {n: len(v) for n, v in rendered.items()},
                      "pairs": pairs, "backend_prompts": served,
                      "token_ids": rendered if len(cases) < 3 else None})
    return {"date": date, "renderers": list(renderer_names), "class_counts": class_counts, "cases": cases}


def _brief(diff) -> dict[str, Any]:
    data = diff.to_json()
    return {"identical": data["identical"], "classes": data["classes"], "first_divergence": data["first_divergence"],
            "findings": data.get("findings", [])[:20]}


def environment_fingerprint() -> dict[str, Any]:
    import platform
    from importlib.metadata import PackageNotFoundError, version

    packages = {}
    for name in ("openai-harmony", "transformers", "torch", "huggingface_hub", "openai", "mitmproxy", "statsmodels",
                 "scipy", "pandas"):
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = None
    if packages["mitmproxy"] is None:  # it lives in its own venv (.venv-mitm), beside mitmdump
        from harness.capture.proxy import mitmproxy_version

        packages["mitmproxy"] = mitmproxy_version()
    from harness.servers.vllm_server import vllm_install

    try:  # vLLM lives in its own venv (.venv-vllm) with the harmony fork it renders through
        install = vllm_install()
        packages["vllm (.venv-vllm)"] = install.vllm_version
        packages["vllm harmony (.venv-vllm)"] = install.harmony_package
    except HarnessError:
        packages["vllm (.venv-vllm)"] = None
    return {"python": platform.python_version(), "platform": platform.platform(), "packages": packages}


def summary_dict(result: CompareResult) -> dict[str, Any]:
    return {"run_dir": str(result.run_dir), "profile": result.profile, "backends": result.backends,
            "summary": asdict(result.summary), "files": result.files, "notes": result.notes}

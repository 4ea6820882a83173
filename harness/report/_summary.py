"""The report as plain data (summary.json): every section the markdown and HTML views show, computed once.
See docs/summary-schema.md for each key."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from itertools import combinations
from typing import Any

import numpy as np

from harness.explain.run import load_attribution
from harness.jsonsafe import plain
from harness.records import RunRecord
from harness.report._lint import lint_summary
from harness.report._load import RunFolder

SCHEMA_VERSION = 1
REQUEST_OPTIONS = ("extra_body", "system_prompt", "unwrap_content")  # backend options recorded in fingerprints
DIVERGENT_DETAIL = 5  # cases shown with token diffs and requests
SEGMENTS_PER_PAIR = 6
TEXT_LIMIT = 240
LEAK_EXAMPLES = 3


def build_summary(folder: RunFolder) -> dict[str, Any]:
    run, stats = folder.run, folder.stats
    backends = _backend_names(folder)
    # computed once here: several sections read the same request bodies and output findings
    bodies = _bodies_by_key(folder)
    findings = list(_findings(folder.records))
    summary = {
        "schema_version": SCHEMA_VERSION,
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "run": {"dir": str(folder.path), "date": run.get("date"), "repeats": run.get("repeats"),
                "capture_dir": run.get("capture_dir"), "notes": list(run.get("notes") or []) + folder.notes,
                "invocation": run.get("invocation")},
        "scenario": run.get("scenario") or {},
        "backends": backend_fingerprints(folder, backends),
        "environment": run.get("environment") or {},
        "verdicts": verdicts(stats),
        "stats": stats,
        "classes": {"render": {**render_classes(folder.renders), "served_renders": served_renders(run)},
                    "params": param_classes(folder, backends, bodies),
                    "output": output_classes(findings),
                    "lint": lint_summary(folder)},
        "attribution": load_attribution(folder.path),
        "divergent_cases": divergent_cases(folder, backends, bodies),
        "wire_sample": wire_sample(folder, backends, bodies),
        "output_level": output_level(folder.records),
        "label_probabilities": label_probabilities(folder.records),
        "latency": latency(folder.records, backends),
        "leaks": leaks(findings, backends),
        "files": {},
    }
    return plain(summary)  # strict JSON: NaN/inf become null, so no view prints "nan"


def _backend_names(folder: RunFolder) -> list[str]:
    names = list((folder.run.get("backends") or {}).keys())
    for name in list(folder.labels["backend"].unique()) + [r.backend for r in folder.records]:
        if name not in names:
            names.append(name)
    return names


# ---------------------------------------------------------------------------------------------------------------
# verdicts and environment


def verdicts(stats: dict[str, Any]) -> list[dict[str, Any]]:
    """The key row per backend pair: agreement with its interval, kappa, McNemar, noise floor and the verdict."""
    noise = {n["backend"]: n for n in stats.get("noise") or []}
    rows = []
    for pair in stats.get("pairs") or []:
        nc = pair.get("noise_comparison") or {}
        rows.append({
            "a": pair["a"], "b": pair["b"], "n": pair.get("n"), "agree": pair.get("agree"),
            "disagree": pair.get("disagree"), "agreement": pair.get("agreement"),
            "agreement_ci_exact": pair.get("agreement_ci_exact"), "kappa": pair.get("kappa"),
            "kappa_ci": pair.get("kappa_ci"), "mcnemar_p": pair.get("mcnemar_p"),
            "stuart_maxwell_p": pair.get("stuart_maxwell_p"),
            "flip_rate_a": (noise.get(pair["a"]) or {}).get("flip_rate"),
            "flip_rate_b": (noise.get(pair["b"]) or {}).get("flip_rate"),
            "noise_floor": nc.get("noise_floor"), "excess": nc.get("excess"), "excess_ci": nc.get("excess_ci"),
            "margin": nc.get("margin", stats.get("margin")),
            "verdict": pair.get("verdict") or nc.get("verdict") or "inconclusive",
            "cases_needed": nc.get("cases_needed"), "missing": pair.get("missing"),
            "notes": list(pair.get("notes") or []) + list(nc.get("notes") or []),
        })
    return rows


def backend_fingerprints(folder: RunFolder, backends: list[str]) -> dict[str, Any]:
    """Per backend: what was asked for (config, fingerprint) and the provider that actually served."""
    info = folder.run.get("backends") or {}
    served: dict[str, Counter] = defaultdict(Counter)
    for record in folder.records:
        if record.completion is not None and record.completion.served_provider:
            served[record.backend][record.completion.served_provider] += 1
    if folder.flows:
        from harness.capture.calls import is_llm_call, served_provider

        for flow in folder.flows:
            backend = (flow.get("case") or {}).get("backend")
            provider = served_provider(flow) if is_llm_call(flow) else None
            if backend and provider:
                served[backend][f"{provider} (wire)"] += 1
    result = {}
    for name in backends:
        entry = info.get(name) or {}
        config, fingerprint = entry.get("config") or {}, entry.get("fingerprint") or {}
        result[name] = {
            "kind": fingerprint.get("kind") or config.get("kind"),
            "model": fingerprint.get("model") or config.get("model"),
            "revision": fingerprint.get("revision") or config.get("revision"),
            "source": fingerprint.get("source"),
            "base_url": config.get("base_url"),
            "provider_pinned": config.get("provider"),
            "api_key_env": config.get("api_key_env"),
            "served_providers": dict(served.get(name, {})),
            "template_sha256": fingerprint.get("template_sha256"),
            "harmony_version": fingerprint.get("harmony_version"),
            "reasoning_effort": fingerprint.get("reasoning_effort", config.get("reasoning_effort")),
            "sampling": fingerprint.get("sampling") or config.get("sampling"),
            # the backend options that change the request, as it was sent (extra_body includes what a server hint
            # such as `server = "vllm"` added)
            "options": {key: fingerprint[key] for key in REQUEST_OPTIONS if fingerprint.get(key) not in (None, {}, "")},
        }
    return result


# ---------------------------------------------------------------------------------------------------------------
# discrepancy classes


def render_classes(renders: dict[str, Any] | None) -> dict[str, Any]:
    if not renders:
        return {"available": False, "counts": {}, "by_pair": {}, "backend_prompts": {}, "errors": []}
    by_pair: dict[str, Counter] = defaultdict(Counter)
    prompts: dict[str, Counter] = defaultdict(Counter)
    errors = []
    identical_pairs = Counter()
    for case in renders.get("cases") or []:
        if case.get("error"):
            errors.append({"case_id": case.get("case_id"), "error": case["error"]})
            continue
        for pair in case.get("pairs") or []:
            key = f"{pair['a']} vs {pair['b']}"
            identical_pairs[key] += bool(pair.get("identical"))
            for cls in pair.get("classes") or []:
                by_pair[key][cls] += 1
        for backend, seen in (case.get("backend_prompts") or {}).items():
            prompts[backend]["=" + "/".join(seen["matches"]) if seen.get("matches")
                             else f"~{seen.get('closest')}"] += 1
    return {"available": True, "date": renders.get("date"), "renderers": renders.get("renderers") or [],
            "counts": dict(sorted((renders.get("class_counts") or {}).items())),
            "by_pair": {k: dict(sorted(v.items())) for k, v in by_pair.items()},
            "identical_cases_by_pair": dict(identical_pairs),
            # "=harmony": the exposed prompt ids equal that render; "~vllm": none equal, this one is closest
            "backend_prompts": {k: dict(v) for k, v in prompts.items()}, "errors": errors}


def served_renders(run: dict[str, Any]) -> dict[str, Any]:
    """Backend -> the fingerprint verdict on the render it served, for backends that hide their prompt ids
    (`harness.run.served_render`)."""
    return {name: info["served_render"] for name, info in (run.get("backends") or {}).items()
            if isinstance(info, dict) and info.get("served_render")}


Bodies = tuple[str, dict[tuple[str, int], dict[str, Any]]]  # (source, {(case_id, repeat): {backend: ...}})


def _bodies_by_key(folder: RunFolder) -> Bodies:
    """(source, {(case_id, repeat): {backend: flow or body}}): captured flows first, else the bodies backends
    recorded as sent."""
    if folder.flows:
        from harness.capture.calls import calls_by_case

        captured = calls_by_case(folder.flows)
        if captured:
            return "capture", captured
    bodies: dict[tuple[str, int], dict[str, Any]] = defaultdict(dict)
    configs = folder.run.get("backends") or {}
    # in-process backends record generate() arguments, not a wire payload: nothing to compare parameters on
    in_process = {name for name, info in configs.items()
                  if str((info.get("config") or {}).get("kind", "")).startswith("transformers-")}
    for record in folder.records:
        if record.backend in in_process:
            continue
        if record.completion is not None and record.completion.sent_body:
            bodies[(record.case_id, record.repeat)][record.backend] = record.completion.sent_body
    return ("sent_body" if bodies else "unavailable"), bodies


def param_classes(folder: RunFolder, backends: list[str], sent: Bodies) -> dict[str, Any]:
    from harness.capture.params import compare_payloads

    source, bodies = sent
    counts: Counter = Counter()
    by_pair: dict[str, Counter] = defaultdict(Counter)
    examples = []
    compared = 0
    for (case_id, repeat), per_backend in bodies.items():
        for a, b in combinations([n for n in backends if n in per_backend], 2):
            compared += 1
            pinned = ((folder.run.get("backends") or {}).get(a, {}).get("config") or {}).get("provider")
            findings = compare_payloads(per_backend[a], per_backend[b], pinned=pinned)
            for cls in sorted({f.class_id for f in findings}):
                counts[cls] += 1
                by_pair[f"{a} vs {b}"][cls] += 1
            for finding in findings[: max(0, 10 - len(examples))]:
                examples.append({"case_id": case_id, "repeat": repeat, "a": a, "b": b, "class": finding.class_id,
                                 "detail": _short(finding.detail)})
    return {"available": source != "unavailable", "source": source, "pairs_compared": compared,
            "counts": dict(sorted(counts.items())), "by_pair": {k: dict(v) for k, v in by_pair.items()},
            "examples": examples}


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


Findings = list[tuple[RunRecord, list]]  # (record, its OutputFindings) per completed record


def _findings(records: list[RunRecord]):
    from harness.outputs import check_completion

    for record in records:
        if record.completion is not None:
            yield record, check_completion(record.completion, label_ok=record.label_ok)


def output_classes(checked: Findings) -> dict[str, Any]:
    from harness.outputs import summarize

    rows: dict[str, list] = defaultdict(list)
    for record, findings in checked:
        rows[record.backend].append((f"{record.case_id}/{record.repeat}", findings))
    per_backend = summarize(dict(rows), examples=2)
    totals: Counter = Counter()
    for classes in per_backend.values():
        for cls, entry in classes.items():
            totals[cls] += entry["count"]
    checked = {backend: len(items) for backend, items in rows.items()}
    return {"counts": dict(sorted(totals.items())), "by_backend": per_backend, "completions_checked": checked}


def leaks(checked: Findings, backends: list[str]) -> dict[str, Any]:
    """control-token-leak per backend: completions checked, how many leaked, where, with short examples."""
    result = {name: {"checked": 0, "leaking": 0, "rate": None, "where": {}, "examples": []} for name in backends}
    for record, findings in checked:
        entry = result.setdefault(record.backend, {"checked": 0, "leaking": 0, "rate": None, "where": {},
                                                   "examples": []})
        entry["checked"] += 1
        hits = [f for f in findings if f.cls == "control-token-leak"]
        if not hits:
            continue
        entry["leaking"] += 1
        for hit in hits:
            entry["where"][hit.where] = entry["where"].get(hit.where, 0) + 1
        if len(entry["examples"]) < LEAK_EXAMPLES:
            text = record.completion.text if hits[0].where == "content" else (
                record.completion.reasoning if hits[0].where == "reasoning" else None)
            entry["examples"].append({"case_id": record.case_id, "repeat": record.repeat, "where": hits[0].where,
                                      "detail": hits[0].detail, "excerpt": _excerpt(text, hits[0].detail)})
    for entry in result.values():
        entry["rate"] = entry["leaking"] / entry["checked"] if entry["checked"] else None
    return result


def _excerpt(text: str | None, detail: str) -> str | None:
    if not text:
        return None
    needle = detail.split("'")[1] if detail.count("'") >= 2 else ""
    at = text.find(needle) if needle else -1
    start = max(0, at - 60) if at >= 0 else 0
    return text[start:start + 160]


# ---------------------------------------------------------------------------------------------------------------
# latency, tokens, errors


def _percentiles(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0, "p50": None, "p95": None, "p99": None, "mean": None, "min": None, "max": None}
    arr = np.asarray(values, dtype=float)
    p50, p95, p99 = np.percentile(arr, [50, 95, 99])
    return {"n": len(values), "p50": float(p50), "p95": float(p95), "p99": float(p99), "mean": float(arr.mean()),
            "min": float(arr.min()), "max": float(arr.max())}


def _token_stats(values: list[int]) -> dict[str, Any]:
    if not values:
        return {"n": 0, "median": None, "total": None}
    return {"n": len(values), "median": float(np.median(values)), "total": int(sum(values))}


def latency(records: list[RunRecord], backends: list[str]) -> dict[str, Any]:
    by_backend: dict[str, list[RunRecord]] = defaultdict(list)
    for record in records:
        by_backend[record.backend].append(record)
    result = {}
    for name in list(backends) + [b for b in by_backend if b not in backends]:
        rows = by_backend.get(name, [])
        ok = [r for r in rows if r.completion is not None]
        prompt, completion, reasoning, rates = [], [], [], []
        sources = Counter()
        for record in ok:
            usage, comp = record.completion.usage, record.completion
            p = usage.prompt_tokens if usage.prompt_tokens is not None else (
                len(comp.prompt_token_ids) if comp.prompt_token_ids else None)
            c = usage.completion_tokens if usage.completion_tokens is not None else (
                len(comp.output_token_ids) if comp.output_token_ids else None)
            sources["usage" if usage.prompt_tokens is not None or usage.completion_tokens is not None
                    else "token_ids" if p is not None or c is not None else "none"] += 1
            if p is not None:
                prompt.append(int(p))
            if c is not None:
                completion.append(int(c))
                if record.latency_s and record.latency_s > 0:
                    rates.append(c / record.latency_s)
            if usage.reasoning_tokens is not None:
                reasoning.append(int(usage.reasoning_tokens))
        errors = Counter(r.error_cause for r in rows if r.completion is None)
        result[name] = {
            "calls": len(rows), "ok": len(ok), "errors": sum(errors.values()),
            "error_causes": dict(errors), "retries": sum(max(0, (r.attempts or 1) - 1) for r in rows),
            "latency_s": _percentiles([r.latency_s for r in ok if r.latency_s is not None]),
            "prompt_tokens": _token_stats(prompt), "completion_tokens": _token_stats(completion),
            "reasoning_tokens": _token_stats(reasoning),
            "tokens_per_s": _percentiles(rates) | {"basis": "completion tokens / call latency"},
            "token_source": dict(sources),
            "batched": len({r.started_at for r in ok if r.started_at is not None}) < len(ok),
        }
    return result


# ---------------------------------------------------------------------------------------------------------------
# divergent cases


def divergent_cases(folder: RunFolder, backends: list[str], sent: Bodies) -> dict[str, Any]:
    """Cases whose labels differ across backends (on the same repeat), the first few with token diffs and the
    requests as sent."""
    labels = folder.labels
    order: list[str] = list(dict.fromkeys(labels["case_id"]))
    table: dict[str, dict[str, dict[int, str]]] = defaultdict(lambda: defaultdict(dict))
    gold: dict[str, str] = {}
    for row in labels.itertuples(index=False):
        table[row.case_id][row.backend][int(row.repeat)] = row.label
        if row.gold:
            gold[row.case_id] = row.gold
    divergent = []
    for case_id in order:
        per_backend = table[case_id]
        repeats = sorted({r for labels_ in per_backend.values() for r in labels_})
        differing = [r for r in repeats
                     if len({per_backend[b][r] for b in per_backend if per_backend[b].get(r)}) > 1]
        if differing:
            divergent.append((case_id, differing))
    renders_by_case = {c.get("case_id"): c for c in (folder.renders or {}).get("cases") or []}
    records = {(r.case_id, r.backend, r.repeat): r for r in folder.records}
    _, bodies = sent
    details = []
    for case_id, differing in divergent[:DIVERGENT_DETAIL]:
        per_backend = table[case_id]
        detail = {
            "case_id": case_id, "gold": gold.get(case_id), "repeats_differing": differing,
            "labels": {b: [per_backend[b].get(r, "") for r in sorted(per_backend[b])]
                       for b in backends if b in per_backend},
            "render_pairs": [], "backend_prompts": {}, "prompt_diffs": [], "requests": {}, "notes": [],
        }
        _render_detail(detail, renders_by_case.get(case_id), folder, records, case_id)
        _prompt_diffs(detail, records, backends, case_id, differing[0])
        _requests(detail, folder, records, bodies, backends, case_id, differing[0])
        details.append(detail)
    return {"count": len(divergent), "case_ids": [c for c, _ in divergent], "shown": details}


def _render_detail(detail, case: dict | None, folder: RunFolder, records, case_id: str) -> None:
    if case is None:
        detail["notes"].append("no render evidence for this case")
        return
    if case.get("error"):
        detail["notes"].append(f"render failed: {case['error']}")
        return
    detail["backend_prompts"] = case.get("backend_prompts") or {}
    tokens = case.get("token_ids") or None
    if tokens is None and any(not p.get("identical") for p in case.get("pairs") or []):
        tokens = _rerender(folder, records, case_id, detail)
    for pair in case.get("pairs") or []:
        entry = {"a": pair["a"], "b": pair["b"], "identical": pair.get("identical"), "classes": pair.get("classes"),
                 "first_divergence": pair.get("first_divergence"),
                 "findings": [f.get("detail") or f.get("class") for f in pair.get("findings") or []],
                 "segments": []}
        if not pair.get("identical") and tokens and pair["a"] in tokens and pair["b"] in tokens:
            entry["segments"] = _segments(tokens[pair["a"]], tokens[pair["b"]])
        detail["render_pairs"].append(entry)


def _rerender(folder: RunFolder, records, case_id: str, detail) -> dict[str, list[int]] | None:
    """renders.json keeps token ids for the first cases only: render this one again with the same date."""
    request_body = next((r.request for (cid, _, _), r in records.items() if cid == case_id and r.request), None)
    if not request_body or not folder.renders:
        return None
    try:
        from harness.render import render_all
        from harness.request import ChatRequest

        request = ChatRequest.from_body(request_body)
        return render_all(request, list(folder.renders.get("renderers") or []), date=folder.renders.get("date"))
    except Exception as exc:  # noqa: BLE001 - evidence is best effort; the classes are already known
        detail["notes"].append(f"could not re-render for token segments: {exc}")
        return None


def _segments(a: list[int], b: list[int]) -> list[dict[str, Any]]:
    from harness.diff import diff_tokens

    diff = diff_tokens(a, b).to_json(tokens=False)
    changed = [s for s in diff["segments"] if s["op"] != "equal"]
    return [{"op": s["op"], "a": s["a"], "b": s["b"], "a_text": s.get("a_text", "")[:TEXT_LIMIT],
             "b_text": s.get("b_text", "")[:TEXT_LIMIT]} for s in changed[:SEGMENTS_PER_PAIR]]


def _prompt_diffs(detail, records, backends: list[str], case_id: str, repeat: int) -> None:
    """Where two backends exposed the prompt ids they fed the model, diff those directly."""
    exposed = {}
    for name in backends:
        record = records.get((case_id, name, repeat)) or records.get((case_id, name, 0))
        if record and record.completion and record.completion.prompt_token_ids:
            exposed[name] = record.completion.prompt_token_ids
    from harness.diff import diff_tokens

    for a, b in combinations(exposed, 2):
        diff = diff_tokens(exposed[a], exposed[b])
        detail["prompt_diffs"].append({"a": a, "b": b, "identical": diff.identical, "classes": diff.classes,
                                       "first_divergence": diff.first_divergence,
                                       "segments": [] if diff.identical else _segments(exposed[a], exposed[b])})


def output_level(records: list[RunRecord], shown: int = 5) -> list[dict[str, Any]]:
    """Per backend pair, where output token ids exist: exact-match rate, first divergence, and whether the prompt
    ids were identical (then a different output is `numerics`)."""
    from harness.stats import compare_outputs

    rows = [(r.case_id, r.repeat, r.backend, r.completion.prompt_token_ids, r.completion.output_token_ids,
             r.completion.output_logprobs)
            for r in records if r.completion is not None and r.completion.output_token_ids is not None]
    pairs = [pair.to_json() for pair in compare_outputs(rows)]
    for pair in pairs:
        pair["divergences"] = pair["divergences"][:shown]
    return [pair for pair in pairs if pair["n"]]


def label_probabilities(records: list[RunRecord]) -> dict[str, Any]:
    """P(label) at the deciding token: per backend the share of near-ties, per pair the mean |P_a - P_b| on
    shared items (harness.stats._label_probs)."""
    from harness.stats._label_probs import label_probability_stats

    rows = [(r.case_id, r.repeat, r.backend, r.label_probs_exposed, r.label_probs, r.label_margin)
            for r in records if r.completion is not None]
    return label_probability_stats(rows).to_json()


def wire_sample(folder: RunFolder, backends: list[str], sent: Bodies) -> dict[str, Any]:
    """What went over the wire for one case (the first captured one), per backend, as redacted curl commands:
    evidence that every backend was sent the same request, even when no label differs."""
    source, bodies = sent
    keys = sorted(bodies, key=lambda key: (key[1], key[0]))
    if not keys:
        return {"source": source, "case_id": None, "repeat": None, "requests": {}}
    case_id, repeat = keys[0]
    records = {(r.case_id, r.backend, r.repeat): r for r in folder.records}
    detail: dict[str, Any] = {"requests": {}}
    _requests(detail, folder, records, bodies, backends, case_id, repeat)
    over_http = {name: request for name, request in detail["requests"].items() if "curl" in request}
    return {"source": source, "case_id": case_id, "repeat": repeat, "requests": over_http}


def _requests(detail, folder: RunFolder, records, bodies, backends: list[str], case_id: str, repeat: int) -> None:
    from harness.capture.addon import redact_json
    from harness.report._curl import curl_from_body, curl_from_flow

    configs = folder.run.get("backends") or {}
    for name in backends:
        item = (bodies.get((case_id, repeat)) or {}).get(name)
        config = (configs.get(name) or {}).get("config") or {}
        if isinstance(item, dict) and isinstance(item.get("request"), dict):
            detail["requests"][name] = {"source": "capture", "curl": curl_from_flow(item)}
            continue
        record = records.get((case_id, name, repeat))
        body = (record.completion.sent_body if record and record.completion else None) or (
            record.request if record else None)
        if not body:
            continue
        if config.get("base_url"):
            url = config["base_url"].rstrip("/") + "/chat/completions"
            detail["requests"][name] = {"source": "recorded body",
                                        "curl": curl_from_body(url, body, config.get("api_key_env"))}
        else:
            detail["requests"][name] = {"source": "in-process (no HTTP request; the request as given)",
                                        "body": redact_json(body)}

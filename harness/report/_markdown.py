"""report.md: ready to paste into a GitHub issue. Verdicts and the key table first, evidence after, long evidence
folded into <details> blocks. A view of the summary dict; it computes nothing."""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

from harness.report._fmt import DASH, DASH_NOTE, interval, num, pct, pvalue, seconds

VERDICT_MARK = {"equivalent": "✅ equivalent", "different": "❌ different", "inconclusive": "⚠️ inconclusive"}


def esc(text: Any) -> str:
    """Free text (model output, notes) shown as text on GitHub and in the HTML view, never as markup."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cell(value: Any) -> str:
    text = DASH if value is None or value == "" else str(value)
    if "`" not in text:  # code spans are escaped by the renderer itself
        text = esc(text)
    return text.replace("|", "\\|").replace("\n", " ")


def code(text: Any) -> str:
    """An inline code span that holds any text (labels and case ids are free text): its fence is longer than the
    longest backtick run inside."""
    text = str(text).replace("\n", " ")
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{'`' * (longest + 1)}{pad}{text}{pad}{'`' * (longest + 1)}"


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines + [""]


def fence(text: str, lang: str = "") -> list[str]:
    """A code block whose fence is longer than any backtick run inside it."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    marks = "`" * max(3, longest + 1)
    return [f"{marks}{lang}", text, marks]


def details(summary: str, body: list[str]) -> list[str]:
    return ["<details>", f"<summary>{summary}</summary>", "", *body, "", "</details>", ""]


def verdict_line(v: dict[str, Any]) -> str:
    text = (f"**{v['a']} vs {v['b']}: {VERDICT_MARK.get(v['verdict'], v['verdict'])}**: agreement "
            f"{pct(v['agreement'])} (95% CI {interval(v['agreement_ci_exact'])}) over {num(v['n'])} matched answers")
    if v["verdict"] == "inconclusive" and v.get("cases_needed"):
        text += f"; about {v['cases_needed']} cases would decide"
    return text


def render_markdown(s: dict[str, Any]) -> str:
    scenario = s.get("scenario") or {}
    names = ", ".join(s["backends"]) or DASH
    out = [f"# Backend equivalence: `{scenario.get('name', DASH)}` on {names}", ""]
    out += _verdicts(s)
    out += _why(s)
    out += _labels(s)
    out += _preference_section(s)
    out += _fine_section(s)
    out += _environment(s)
    out += _reproduce(s)
    out += _classes(s)
    out += _divergent(s)
    out += _wire_sample(s)
    out += _output_level(s)
    out += _label_probabilities(s)
    out += _latency(s)
    out += _leaks(s)
    out += _notes_and_files(s)
    return "\n".join(out).rstrip() + "\n"


def _verdicts(s: dict[str, Any]) -> list[str]:
    out = ["## Verdict", ""]
    if not s["verdicts"]:
        out += ["No backend pair to compare (fewer than two backends with labels).", ""]
    for v in s["verdicts"]:
        out += [f"- {verdict_line(v)}"]
    out += ["", "### Key statistics", ""]
    rows = []
    for v in s["verdicts"]:
        rows.append([f"{v['a']} vs {v['b']}", num(v["n"]), pct(v["agreement"]), interval(v["agreement_ci_exact"]),
                     num(v["kappa"]), interval(v["kappa_ci"], as_pct=False), pvalue(v["mcnemar_p"]),
                     f"{pct(v['flip_rate_a'])} / {pct(v['flip_rate_b'])}",
                     f"{pct(v['excess'])} ({interval(v['excess_ci'])})", pct(v["margin"], 0),
                     v["verdict"] + (f" (~{v['cases_needed']} cases)" if v.get("cases_needed") else "")])
    out += table(["pair", "n", "agreement", "95% CI (exact)", "kappa", "kappa 95% CI", "McNemar p",
                  "flip rate a / b", "excess over noise (95% CI)", "margin", "verdict"], rows)
    stats = s.get("stats") or {}
    noise = stats.get("noise") or []
    if noise:
        out += ["Noise floor (each backend against itself across repeats):", ""]
        out += table(["backend", "repeat pairs", "flips", "flip rate", "95% CI (exact)"],
                     [[n["backend"], n["n"], n["flips"], pct(n["flip_rate"]), interval(n["flip_ci_exact"])]
                      for n in noise])
    else:
        out += ["No backend has two repeats of a case: no noise floor (the excess is the raw disagreement).", ""]
    failures = stats.get("parse_failures") or []
    if failures:
        out += table(["backend", "answers", "parse failures", "rate", "95% CI (exact)"],
                     [[f["backend"], f["n"], f["failures"], pct(f["rate"]), interval(f["ci_exact"])]
                      for f in failures])
    notes = _pair_notes(s["verdicts"]) + (stats.get("notes") or [])
    out += [f"- {esc(n)}" for n in notes] + ([""] if notes else [])
    out += [(f"_Verdict: `equivalent` when the upper bound of the excess disagreement over the noise floor is below "
            f"the margin, `different` when its lower bound is above zero, else `inconclusive`. {DASH_NOTE}_"), ""]
    return out


def _why(s: dict[str, Any]) -> list[str]:
    """Why labels differ: each flip's cause (render, sampling, server, unexplained) with its evidence."""
    attribution = s.get("attribution")
    if not attribution:
        return []
    out = ["## Why labels differ", "", f"**{esc(attribution['headline'])}.**", ""]
    if attribution.get("replay_backend"):
        replays = attribution.get("replays") or {}
        line = (f"_Replays on `{attribution['replay_backend']}` (greedy, and {attribution['seeds']} seeds with the "
                f"backend's sampling where it samples): {replays.get('generated', 0)} generated, "
                f"{replays.get('reused', 0)} reused. A near-tie is a label-probability margin under "
                f"{num(attribution.get('near_tie_margin'), 2)}._")
        out += [line, ""]
    out += [f"- {esc(note)}" for note in attribution.get("notes") or []]
    flips = attribution.get("flips") or []
    if not flips:
        return out + ["No case where two backends' labels differ on the same repeat.", ""]
    by_cause: dict[str, list[dict[str, Any]]] = {}
    for flip in flips:
        by_cause.setdefault(flip["cause"], []).append(flip)
    for cause, group in by_cause.items():
        rows = [[f"{f['a']} vs {f['b']}", code(f["case_id"]), f["repeat"], code(f["label_a"]), code(f["label_b"]),
                 ", ".join(code(c) for c in (f["evidence"].get("render_classes") or [])) or DASH, esc(f["why"])]
                for f in group[:50]]
        body = table(["pair", "case", "repeat", "label a", "label b", "render classes", "why"], rows)
        if len(group) > 50:
            body += [f"(+{len(group) - 50} more in summary.json)", ""]
        out += details(f"{code(cause)}: {len(group)} flip{'s' if len(group) != 1 else ''}", body)
    return out


def _pair_notes(verdicts: list[dict[str, Any]]) -> list[str]:
    """Each distinct note once, naming the pairs it holds for ("every pair" when it holds for all of them)."""
    pairs_by_note: dict[str, list[str]] = {}
    for v in verdicts:
        for note in v["notes"]:
            pairs_by_note.setdefault(note, []).append(f"{v['a']} vs {v['b']}")
    return [f"{'every pair' if len(pairs) == len(verdicts) > 1 else ', '.join(pairs)}: {note}"
            for note, pairs in pairs_by_note.items()]


def _labels(s: dict[str, Any]) -> list[str]:
    """Label distributions with intervals and the homogeneity test, all backends together, gold scores, and each
    pair's confusion matrix."""
    stats = s.get("stats") or {}
    distributions = stats.get("distributions") or []
    if not distributions:
        return []
    level = f"{round(100 * stats.get('confidence', 0.95))}%"
    out = ["## Labels", "", f"Share of each label per backend ({level} Wilson interval), repeats included:", ""]
    labels = [entry["label"] for entry in distributions[0]["labels"]]
    rows = []
    for d in distributions:
        by_label = {entry["label"]: entry for entry in d["labels"]}
        rows.append([d["backend"], d["n"]] + [
            f"{by_label[x]['count']} ({pct(by_label[x]['share'])}, {interval(by_label[x]['ci_wilson'])})"
            if x in by_label else DASH for x in labels])
    out += table(["backend", "n"] + [code(x) for x in labels], rows)
    test = stats.get("distribution_test") or {}
    if test:
        out += [(f"Same label distribution on every backend? chi-square {num(test.get('chi2'))}, dof "
                 f"{num(test.get('dof'))}, p = {pvalue(test.get('p'))}.")]
        out += [f"- {esc(note)}" for note in test.get("notes") or []]
        out += [""]
    multi = stats.get("multi")
    if multi:
        out += ["All backends together:", ""]
        out += table(["backends", "n (every backend)", "Fleiss' kappa", f"{level} CI", "Krippendorff's alpha (nominal)",
                      f"{level} CI", "alpha (ordinal)", f"{level} CI", "units"],
                     [[", ".join(multi["backends"]), multi["n"], num(multi["fleiss_kappa"]),
                       interval(multi["fleiss_kappa_ci"], as_pct=False), num(multi["krippendorff_alpha"]),
                       interval(multi.get("krippendorff_alpha_ci"), as_pct=False),
                       num(multi.get("krippendorff_alpha_ordinal")),
                       interval(multi.get("krippendorff_alpha_ordinal_ci"), as_pct=False), multi["krippendorff_n"]]])
        out += [f"- {esc(note)}" for note in multi.get("notes") or []] + ([""] if multi.get("notes") else [])
    gold = stats.get("gold") or []
    if gold:
        out += ["Against the gold labels:", ""]
        out += table(["backend", "n", "accuracy", f"{level} CI (Wilson)", "macro F1"],
                     [[g["backend"], g["n"], pct(g["accuracy"]), interval(g["accuracy_ci_wilson"]),
                       num(g["macro_f1"])] for g in gold])
        differences = stats.get("gold_differences") or []
        if differences:
            out += table(["pair", "n", "accuracy a - b", f"{level} CI (paired bootstrap)", "macro F1 a - b", "CI"],
                         [[f"{d['a']} vs {d['b']}", d["n"], pct(d["accuracy_diff"]), interval(d["accuracy_diff_ci"]),
                           num(d["macro_f1_diff"]), interval(d["macro_f1_diff_ci"], as_pct=False)]
                          for d in differences])
    confusions = [pair for pair in stats.get("pairs") or [] if (pair.get("confusion") or {}).get("matrix")]
    if confusions:
        body = []
        for pair in confusions:
            names = pair["confusion"]["labels"]
            body += [f"{pair['a']} (rows) vs {pair['b']} (columns):", ""]
            body += table([""] + [code(x) for x in names],
                          [[code(x)] + list(row) for x, row in zip(names, pair["confusion"]["matrix"])])
        out += details("Confusion matrix per pair", body)
    return out


def preference_tables(studies: list[dict[str, Any]], level: str) -> list[str]:
    """The preference study per pair: the shift (share of items rated differently, paired tests, weighted kappa),
    then each rating's share on both sides."""
    out: list[str] = []
    for st in studies:
        out += [f"**{st['a']} vs {st['b']}**, {num(st['n'])} items rated by both:", ""]
        out += table(["ratings differ", f"{level} CI (Wilson)", f"{level} CI (exact)", "a higher / b higher",
                      "mean a / b", "mean a - b", "Wilcoxon signed-rank p", "Stuart-Maxwell p (dof)",
                      "weighted kappa (linear / quadratic)"],
                     [[f"{pct(st['differ_share'])} ({st['differ']}/{st['n']})", interval(st["differ_ci_wilson"]),
                       interval(st["differ_ci_exact"]), f"{st['a_higher']} / {st['b_higher']}",
                       f"{num(st['mean_a'], 2)} / {num(st['mean_b'], 2)}", num(st["mean_difference"], 2),
                       pvalue(st["wilcoxon_p"]),
                       f"{pvalue(st['stuart_maxwell_p'])} ({num(st['stuart_maxwell_dof'])})",
                       f"{num(st['kappa_linear'])} / {num(st['kappa_quadratic'])}"]])
        out += table(["rating", f"{st['a']} share", f"{level} CI", f"{st['b']} share", f"{level} CI", "a - b",
                      "McNemar p (paired)"],
                     [[code(r["rating"]), f"{pct(r['share_a'])} ({r['count_a']})", interval(r["ci_a"]),
                       f"{pct(r['share_b'])} ({r['count_b']})", interval(r["ci_b"]),
                       pct(r["difference"]), pvalue(r["mcnemar_p"])] for r in st["shares"]])
        out += [f"- {esc(note)}" for note in st.get("notes") or []] + ([""] if st.get("notes") else [])
    return out


def _preference_section(s: dict[str, Any]) -> list[str]:
    stats = s.get("stats") or {}
    studies = stats.get("preference") or []
    if not studies:
        return []
    level = f"{round(100 * stats.get('confidence', 0.95))}%"
    return (["## Preference study", "",
             ("Both backends rated the same items on the scale: how often the ratings differ, each rating's share "
             "per backend, and whether the ratings shift (Wilcoxon signed-rank on the paired ratings, zero "
             "differences dropped; Stuart-Maxwell marginal homogeneity over the ratings that take part in a "
             "disagreement)."), ""] + preference_tables(studies, level))


def _fine_section(s: dict[str, Any]) -> list[str]:
    stats = s.get("stats") or {}
    fine = stats.get("fine")
    if not fine:
        return []
    level = f"{round(100 * stats.get('confidence', 0.95))}%"
    out = ["## Fine-grained labels", "",
           (f"The parser's fine labels ({fine['label_kind']}: {', '.join(code(x) for x in fine['labels'])}) "
           "compared like the label:"), ""]
    rows = [[f"{p['a']} vs {p['b']}", num(p["n"]), pct(p["agreement"]), interval(p["agreement_ci_exact"]),
             num(p["kappa"]), interval(p["kappa_ci"], as_pct=False), num(p["kappa_linear"]),
             pvalue(p["stuart_maxwell_p"])] for p in fine["pairs"]]
    out += table(["pair", "n", "agreement", f"{level} CI (exact)", "kappa", f"kappa {level} CI",
                  "weighted kappa (linear)", "Stuart-Maxwell p"], rows)
    distributions = fine.get("distributions") or []
    if distributions:
        labels = [entry["label"] for entry in distributions[0]["labels"]]
        share_rows = []
        for d in distributions:
            by_label = {entry["label"]: entry for entry in d["labels"]}
            share_rows.append([d["backend"], d["n"]] + [
                f"{by_label[x]['count']} ({pct(by_label[x]['share'])})" if x in by_label else DASH for x in labels])
        out += table(["backend", "n"] + [code(x) for x in labels], share_rows)
    notes = list(fine.get("notes") or []) + [f"{p['a']} vs {p['b']}: {n}" for p in fine["pairs"]
                                             for n in p.get("notes") or []]
    out += [f"- {esc(n)}" for n in notes] + ([""] if notes else [])
    if fine.get("preference"):
        out += ["Preference study on the fine labels (ratings):", ""] + preference_tables(fine["preference"], level)
    body = []
    for pair in fine["pairs"]:
        names = pair["confusion"]["labels"]
        if not names:
            continue
        body += [f"{pair['a']} (rows) vs {pair['b']} (columns):", ""]
        body += table([""] + [code(x) for x in names],
                      [[code(x)] + list(row) for x, row in zip(names, pair["confusion"]["matrix"])])
    if body:
        out += details("Fine-label confusion matrix per pair", body)
    return out


def _environment(s: dict[str, Any]) -> list[str]:
    run, scenario, env = s["run"], s.get("scenario") or {}, s.get("environment") or {}
    out = ["## Environment", ""]
    out += [(f"- scenario `{scenario.get('name', DASH)}` ({num(scenario.get('cases'))} cases, fingerprint "
            f"`{str(scenario.get('fingerprint') or DASH)[:16]}`), {num(run.get('repeats'))} repeats, "
            f"render date {run.get('date') or DASH}"),
            f"- python {env.get('python') or DASH} on {env.get('platform') or DASH}"]
    packages = env.get("packages") or {}
    if packages:
        out.append("- packages: " + ", ".join(f"{k} {v or DASH}" for k, v in packages.items()))
    out.append("")
    rows = []
    for name, b in s["backends"].items():
        served = ", ".join(f"{k} x{v}" for k, v in (b.get("served_providers") or {}).items())
        pinned = b.get("provider_pinned")
        rows.append([name, b.get("kind"), b.get("model"), b.get("revision"), b.get("source"),
                     f"`{b['template_sha256'][:12]}`" if b.get("template_sha256") else DASH,
                     b.get("harmony_version"), b.get("reasoning_effort"), pinned, served or DASH,
                     json.dumps(b.get("sampling"), sort_keys=True) if b.get("sampling") else DASH])
    out += table(["backend", "kind", "model", "revision", "source", "template sha256", "harmony", "effort",
                  "provider pinned", "served by", "sampling"], rows)
    return out


def reproduce_command(invocation: dict[str, Any]) -> str:
    """The `harness compare` command line that runs the same comparison again."""
    parts = ["harness compare", f"--scenario {shlex.quote(str(invocation['scenario']))}",
             f"--profile {invocation['profile']}"]
    if invocation.get("backends"):
        parts.append(f"--backends {shlex.quote(','.join(invocation['backends']))}")
    parts.append(f"--repeats {invocation['repeats']}")
    for key, flag in (("cases", "--cases"), ("limit", "--limit"), ("max_tokens", "--max-tokens"), ("date", "--date")):
        if invocation.get(key) is not None:
            parts.append(f"{flag} {shlex.quote(str(invocation[key]))}")
    if invocation.get("online"):
        parts.append("--online")
    return " ".join(parts)


def _toml_value(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_value(k)} = {_toml_value(v)}" for k, v in value.items() if v is not None) \
            + " }"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False).replace("\x7f", "\\u007f")  # a TOML basic string


def backends_toml(backends: dict[str, Any], names: list[str]) -> str:
    """harness.toml entries for these backends, as configured (a key is only ever named by its variable)."""
    lines = []
    for name in names:
        entry = backends.get(name) or {}
        lines.append(f"[backends.{_toml_value(name)}]")
        for key, value in (("kind", entry.get("kind")), ("model", entry.get("model")),
                           ("revision", entry.get("revision")), ("base_url", entry.get("base_url")),
                           ("provider", entry.get("provider_pinned")), ("api_key_env", entry.get("api_key_env")),
                           ("reasoning_effort", entry.get("reasoning_effort")), ("sampling", entry.get("sampling")),
                           ("options", entry.get("options"))):
            if value not in (None, {}, ""):
                lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines).rstrip()


def _reproduce(s: dict[str, Any]) -> list[str]:
    invocation = (s.get("run") or {}).get("invocation")
    if not invocation:
        return []
    out = ["## Reproduce", "", *fence(reproduce_command(invocation), "bash"), ""]
    if invocation.get("profile") == "offline":
        out += [("The offline profile builds its backends itself: the tiny model (local, float32), `transformers "
                "serve` and the real vLLM (bfloat16, as providers serve) on 127.0.0.1 (no configuration, no "
                "credentials)."), ""]
    else:
        backends = s.get("backends") or {}
        names = list(invocation.get("backends") or backends)
        out += [("With these backends in `harness.toml` (keys are read from the environment variables named, never "
                "written down):"), "", *fence(backends_toml(backends, names), "toml"), ""]
    out += [("One request's render by each renderer, and every difference named: save a body from \"Wire payloads\" as "
            "`request.json`, then"), "",
            *fence(f"harness render-diff --request request.json --renderers harmony,hf-template,vllm "
                   f"--date {invocation.get('date') or 'YYYY-MM-DD'}", "bash"), ""]
    return out


def _counts_table(counts: dict[str, int], what: str) -> list[str]:
    if not counts:
        return [f"No class found ({what}).", ""]
    return table(["class", "count"], [[f"`{k}`", v] for k, v in counts.items()])


def _classes(s: dict[str, Any]) -> list[str]:
    classes = s["classes"]
    out = ["## Discrepancy classes", ""]
    render = classes["render"]
    out += ["### Prompt render", ""]
    if not render.get("available"):
        out += ["No render evidence (renders.json missing).", ""]
    else:
        out += [(f"Each case rendered by {', '.join(render['renderers'])} with date {render.get('date') or DASH}; "
                "counts are renderer pairs x cases."), ""]
        out += _counts_table(render["counts"], "all renderers agree token for token")
        if render["by_pair"]:
            out += table(["renderer pair", "classes (cases)"],
                         [[k, ", ".join(f"`{c}` x{n}" for c, n in v.items())] for k, v in render["by_pair"].items()])
        if render["backend_prompts"]:
            out += ["Which render the backends that expose prompt ids actually used (`=` exact match, `~` closest):",
                    ""]
            out += table(["backend", "renders (cases)"],
                         [[k, ", ".join(f"{r} x{n}" for r, n in v.items())]
                          for k, v in render["backend_prompts"].items()])
        if render.get("served_renders"):
            out += [("Backends that hide their prompt ids, fingerprinted (probes that separate every renderer by "
                     "prompt-token count; their prompts in the replays are these renders):"), ""]
            out += table(["backend", "consistent renders", "probes answered", "date"],
                         [[k, ", ".join(f"`{m}`" for m in v.get("matches") or []) or "none",
                           str(v.get("probes", DASH)), v.get("date") or DASH]
                          for k, v in render["served_renders"].items()])
        for error in render.get("errors") or []:
            out.append(f"- render failed for {code(error['case_id'])}: {esc(error['error'])}")
    params = classes["params"]
    out += ["### Request parameters", ""]
    if not params.get("available") or not params.get("pairs_compared"):
        out += ["No two backends' requests for the same case to compare (nothing captured or recorded).", ""]
    else:
        source = "captured wire payloads" if params["source"] == "capture" else "the bodies the backends recorded"
        out += [f"From {source}, {params['pairs_compared']} same-case backend pairs compared.", ""]
        out += _counts_table(params["counts"], "identical parameters")
        for example in params.get("examples") or []:
            out.append(f"- `{example['class']}` {example['a']} vs {example['b']} on {code(example['case_id'])}: "
                       f"{esc(example['detail'])}")
        out.append("")
    output = classes["output"]
    out += ["### Output", ""]
    checked = ", ".join(f"{k} {v}" for k, v in output["completions_checked"].items()) or DASH
    out += [f"Completions checked: {checked}.", ""]
    rows = [[backend, f"`{cls}`", entry["count"],
             "; ".join(f"{e['case_id']}: {e['detail']}" for e in entry["examples"])]
            for backend, per in output["by_backend"].items() for cls, entry in per.items()]
    out += table(["backend", "class", "completions", "examples"], rows) if rows else ["No output class found.", ""]
    from harness.report._lint import lint_markdown

    out += lint_markdown(classes.get("lint"))
    return out


def _segments_text(segments: list[dict[str, Any]]) -> str:
    lines = []
    for seg in segments:
        where = f"@{seg['a'][0]}..{seg['a'][1]} / {seg['b'][0]}..{seg['b'][1]} ({seg['op']})"
        lines.append(where)
        if seg.get("a_text"):
            lines.append("- " + json.dumps(seg["a_text"], ensure_ascii=False))
        if seg.get("b_text"):
            lines.append("+ " + json.dumps(seg["b_text"], ensure_ascii=False))
    return "\n".join(lines) or "(no changed segments)"


def _divergent(s: dict[str, Any]) -> list[str]:
    div = s["divergent_cases"]
    out = ["## Divergent cases", ""]
    if not div["count"]:
        out += ["No case where the backends' labels differ on the same repeat.", ""]
        return out
    out += [f"{div['count']} case(s) where labels differ across backends: "
            + ", ".join(code(c) for c in div["case_ids"][:30]) + (" ..." if div["count"] > 30 else ""), ""]
    for case in div["shown"]:
        out += [f"### {code(case['case_id'])} (gold {esc(case.get('gold') or DASH)})", ""]
        out += table(["backend", "labels per repeat"],
                     [[b, ", ".join(lbl or "error" for lbl in labels)] for b, labels in case["labels"].items()])
        for pair in case["render_pairs"]:
            state = "identical" if pair["identical"] else ", ".join(f"`{c}`" for c in pair["classes"] or ["other"])
            out.append(f"- render {pair['a']} vs {pair['b']}: {state}"
                       + (f" (first divergence at token {pair['first_divergence']})"
                          if pair.get("first_divergence") is not None else ""))
        for backend, seen in case["backend_prompts"].items():
            match = ", ".join(seen.get("matches") or []) or f"none (closest {seen.get('closest')})"
            out.append(f"- {backend} was fed the render of: {match}")
        for pair in case["prompt_diffs"]:
            state = "identical" if pair["identical"] else ", ".join(f"`{c}`" for c in pair["classes"])
            out.append(f"- prompt ids {pair['a']} vs {pair['b']} (as the backends report them): {state}")
        out += [f"- note: {esc(n)}" for n in case["notes"]]
        out.append("")
        for pair in case["render_pairs"] + case["prompt_diffs"]:
            if pair.get("segments"):
                findings = [f"- {esc(f)}" for f in pair.get("findings") or []]
                out += details(f"token diff {pair['a']} vs {pair['b']}",
                               findings + ([""] if findings else []) + fence(_segments_text(pair["segments"]), "diff"))
        for backend, request in case["requests"].items():
            out += details(f"request {backend} sent ({request['source']}, redacted)", _request_block(request))
    if div["count"] > len(div["shown"]):
        out += [f"_{div['count'] - len(div['shown'])} more divergent case(s) not shown; see summary.json._", ""]
    return out


def _wire_sample(s: dict[str, Any]) -> list[str]:
    sample = s.get("wire_sample") or {}
    if not sample.get("requests"):
        return []
    where = "captured by the proxy" if sample.get("source") == "capture" else "as recorded by the backends"
    out = ["## Wire payloads", "",
           (f"What each backend was sent for {code(sample['case_id'])} (repeat {sample['repeat']}), {where}; "
            "secrets redacted."), ""]
    for name, request in sample["requests"].items():
        out += details(f"{name} ({request.get('source', DASH)})", _request_block(request))
    return out


def _request_block(request: dict[str, Any]) -> list[str]:
    """A request as sent: its redacted curl command, or the redacted body of an in-process backend."""
    if "curl" in request:
        return fence(request["curl"], "bash")
    return fence(json.dumps(request.get("body"), indent=2, ensure_ascii=False), "json")


def _output_level(s: dict[str, Any]) -> list[str]:
    pairs = s.get("output_level") or []
    if not pairs:
        return []
    explain = ("Where both backends returned output token ids. `numerics`: same prompt ids, different output ids "
               "(kernels, batching, quantization).")
    out = ["## Output tokens", "", explain, ""]
    out += table(["pair", "n", "exact match", "95% CI (exact)", "prompts identical", "numerics",
                  "prompt differs", "first divergence (median / min)"],
                 [[f"{p['a']} vs {p['b']}", num(p["n"]), pct(p.get("exact_rate")), interval(p.get("exact_ci_exact")),
                   f"{num(p['prompt_identical'])} of {num(p['prompt_known'])}", num(p["numerics"]),
                   num(p["prompt_differs"]),
                   f"{num(p.get('first_divergence_median'))} / {num(p.get('first_divergence_min'))}"]
                  for p in pairs])
    with_logprobs = [p for p in pairs if p.get("logprobs")]
    if with_logprobs:
        out += ["", ("Per-token logprobs where both saw identical prompt ids (as vLLM's `check_logprobs_close`): "
                     "positions compared up to the first divergence, how many chose another top token, and the "
                     "largest logprob gap where both chose the same token."), ""]
        rows = []
        for p in with_logprobs:
            lp = p["logprobs"]
            at = lp.get("max_gap_at") or {}
            where = f"{code(at.get('case_id'))} #{at.get('repeat')} @ {at.get('position')}" if at else DASH
            rows.append([f"{p['a']} vs {p['b']}", num(lp["n"]), num(lp["positions"]),
                         f"{num(lp['top_differs'])} ({pct(lp.get('top_differs_share'))})",
                         interval(lp.get("top_differs_ci_wilson")), num(lp.get("first_divergence_min")),
                         num(lp.get("max_gap"), 5), where])
        out += table(["pair", "items", "positions", "top token differs", "95% CI (Wilson)", "first divergence (min)",
                      "largest logprob gap", "where"], rows)
    return out


def _label_probabilities(s: dict[str, Any]) -> list[str]:
    """P(label) at the deciding token: near-ties per backend, |P_a - P_b| per pair."""
    lp = s.get("label_probabilities") or {}
    backends = lp.get("backends") or []
    if not backends:
        return []
    out = ["## Label probabilities", "",
           (f"P(label) at the token that decides each answer, from the backend's output logprobs (top-K: lower "
            f"bounds). Near-tie: top-two margin under {num(lp.get('near_tie_margin'))}. \"not exposed\": the "
            "backend returns no logprobs; nothing is guessed."), ""]
    out += table(["backend", "answers", "logprobs", "with P(label)", "near-ties", "95% CI (Wilson)",
                  "median margin"],
                 [[b["backend"], num(b["answers"]), b["status"], num(b["with_probs"]),
                   f"{num(b['near_ties'])} ({pct(b.get('near_tie_share'))})", interval(b.get("near_tie_ci_wilson")),
                   num(b.get("margin_median"))] for b in backends])
    pairs = [p for p in lp.get("pairs") or [] if p.get("n")]
    if pairs:
        out += ["", "Mean |P_a(label) - P_b(label)| on shared (case, repeat) items (case bootstrap interval):", ""]
        out += table(["pair", "items", "cases", "mean |ΔP|", "95% CI", "max |ΔP|", "both near-tie"],
                     [[f"{p['a']} vs {p['b']}", num(p["n"]), num(p["cases"]), num(p.get("mean_abs_diff"), 4),
                       interval(p.get("mean_abs_diff_ci"), as_pct=False, digits=4), num(p.get("max_abs_diff"), 4),
                       num(p["both_near_tie"])] for p in pairs])
    return out


def _latency(s: dict[str, Any]) -> list[str]:
    out = ["## Latency and tokens", ""]
    rows = []
    causes = []
    for name, b in s["latency"].items():
        lat, rate = b["latency_s"], b["tokens_per_s"]
        rows.append([name, b["calls"], b["ok"], b["errors"], b["retries"], lat["n"], seconds(lat["p50"]),
                     seconds(lat["p95"]), seconds(lat["p99"]), num(b["prompt_tokens"]["median"], 0),
                     num(b["completion_tokens"]["median"], 0), num(b["reasoning_tokens"]["median"], 0),
                     num(rate["p50"], 1)])
        if b["error_causes"]:
            causes.append(f"- {name} errors: " + ", ".join(f"{k} x{v}" for k, v in b["error_causes"].items()))
        if b.get("batched"):
            causes.append(f"- {name} answers in batches: each call's latency is its batch's, so tokens/s "
                          "is a lower bound")
    out += table(["backend", "calls", "ok", "errors", "retries", "n", "p50", "p95", "p99", "prompt tok (median)",
                  "completion tok (median)", "reasoning tok (median)", "tokens/s (p50)"], rows)
    out += causes + ([""] if causes else [])
    out += [("_Retries are attempts beyond the first. Token counts come from `usage`, else from the token ids a "
            "backend returned; `-` where a backend reports neither._"), ""]
    return out


def _leaks(s: dict[str, Any]) -> list[str]:
    out = ["## Output leaks (`control-token-leak`)", ""]
    rows = [[name, e["checked"], e["leaking"], pct(e["rate"]),
             ", ".join(f"{k} x{v}" for k, v in e["where"].items()) or DASH] for name, e in s["leaks"].items()]
    out += table(["backend", "completions checked", "with a leak", "rate", "where"], rows)
    for name, e in s["leaks"].items():
        if e["examples"]:
            body = []
            for ex in e["examples"]:
                body.append(f"- {code(ex['case_id'])} repeat {ex['repeat']}, {ex['where']}: {esc(ex['detail'])}")
                if ex.get("excerpt"):
                    body += fence(ex["excerpt"])
            out += details(f"{name}: leak examples", body)
    return out


def _notes_and_files(s: dict[str, Any]) -> list[str]:
    out = []
    notes = s["run"].get("notes") or []
    if notes:
        out += ["## Notes", ""] + [f"- {esc(n)}" for n in notes] + [""]
    if s.get("files"):
        out += ["## Files", ""] + [f"- {k}: `{v}`" for k, v in s["files"].items()] + [""]
    return out

"""`load_scenario`: a scenario file (or a built-in name) -> a validated Scenario, errors naming file and line."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.labels import get_label_parser
from harness.labels._text import normalise
from harness.request import REASONING_EFFORTS, ChatRequest
from harness.scenarios._dataset import DATASET_KEYS, load_dataset_rows
from harness.scenarios._model import FORMAT_SEPARATOR, PROMPT_FORMATS, Case, Scenario, build_messages
from harness.scenarios._source import TOML_SUFFIXES, YAML_SUFFIXES, Source, read_source

TOP_KEYS = {"name", "description", "policy", "policy_file", "policy_module", "prompt_format", "prompt_formats",
            "reasoning_effort", "label", "cases", "cases_file", "dataset", "tools", "sampling", "tiny_model"}
CASE_KEYS = {"id", "text", "messages", "gold", "meta"}
SAMPLING_KEYS = {"temperature", "top_p", "seed", "max_tokens", "max_completion_tokens", "stop"}
# What the offline tiny model learns from a scenario (harness/tiny_model/tasks.py reads it; the generator name is
# checked there, so that loading a scenario never imports the tiny model).
TINY_MODEL_KEYS = {"cases", "weight", "order", "answers"}
SUFFIXES = TOML_SUFFIXES + YAML_SUFFIXES


def builtin_dir() -> Path:
    """The project's own scenarios/ folder (found from this package): the built-in scenarios."""
    return Path(__file__).resolve().parents[2] / "scenarios"


def scenario_dirs() -> list[Path]:
    """Where bare names are looked up: ./scenarios, then the project's scenarios/ (found from this package)."""
    dirs = [Path.cwd() / "scenarios", builtin_dir()]
    unique: list[Path] = []
    for d in dirs:
        if d.is_dir() and d.resolve() not in [u.resolve() for u in unique]:
            unique.append(d)
    return unique


def available_scenarios() -> list[str]:
    names = {p.stem for d in scenario_dirs() for p in d.iterdir() if p.suffix in SUFFIXES and p.is_file()}
    return sorted(names)


def resolve_path(path_or_name: str | Path) -> Path:
    given = Path(path_or_name).expanduser()
    if given.is_file():
        return given
    name = str(path_or_name)
    if given.suffix not in SUFFIXES and "/" not in name and "\\" not in name:
        for directory in scenario_dirs():
            for suffix in SUFFIXES:
                if (directory / f"{name}{suffix}").is_file():
                    return directory / f"{name}{suffix}"
    known = ", ".join(available_scenarios()) or "none"
    raise HarnessError(f"no scenario file or built-in scenario named {name!r} (built-in: {known})")


def load_scenario(path_or_name: str | Path, *, limit: int | None = None, online: bool = False,
                  cases_file: str | Path | None = None) -> Scenario:
    """Load and validate a scenario; `limit` keeps the first n cases (before prompt-format expansion).

    `cases_file` (a JSONL of `{"text": ...}` rows, `id` and `gold` optional) replaces the scenario's own cases:
    a built-in policy and parser over your own items.
    """
    path = resolve_path(path_or_name)
    source, data = read_source(path)
    if cases_file is not None:
        file = Path(cases_file).expanduser()
        if not file.is_file():
            raise HarnessError(f"--cases {cases_file}: no such file")
        data = {k: v for k, v in data.items() if k not in ("cases", "dataset")} | {"cases_file": str(file.resolve())}
    return _Loader(source, data, online).scenario(limit)


def derived_case_id(item: dict[str, Any]) -> str | None:
    """A stable id for a row without one: a digest of its text (or messages), the same on every run."""
    text, messages = item.get("text"), item.get("messages")
    if isinstance(text, str) and text.strip():
        material = text
    elif isinstance(messages, list) and messages:
        material = json.dumps(messages, sort_keys=True, ensure_ascii=False)
    else:
        return None
    return "t-" + hashlib.sha256(material.encode("utf-8")).hexdigest()[:12]


class _Loader:
    def __init__(self, source: Source, data: dict[str, Any], online: bool):
        self.src, self.data, self.online = source, data, online
        self.base = source.path.parent

    def err(self, message: str, key: str | None = None, line: int | None = None) -> HarnessError:
        return self.src.error(message, key=key, line=line)

    def scenario(self, limit: int | None) -> Scenario:
        unknown = sorted(set(self.data) - TOP_KEYS)
        if unknown:
            raise self.err(f"unknown key {unknown[0]!r} (allowed: {', '.join(sorted(TOP_KEYS))})", key=unknown[0])
        name = self._string("name", default=self.src.path.stem)
        policy, module_ref = self._policy()
        formats = self._formats()
        effort = self.data.get("reasoning_effort")
        if effort is not None and effort not in REASONING_EFFORTS:
            raise self.err(f"reasoning_effort must be one of {', '.join(REASONING_EFFORTS)}, got {effort!r}",
                           key="reasoning_effort")
        label = self._label(module_ref)
        parser = self._parser(label)
        tools = self._tools()
        sampling = self._sampling()
        tiny_model = self._tiny_model(parser.labels)
        cases = self._cases(parser.labels)
        if limit is not None:
            if limit < 1:
                raise HarnessError(f"--limit must be at least 1, got {limit}")
            cases = cases[:limit]
        if len(formats) > 1 or "prompt_formats" in self.data:
            cases = [Case(id=f"{c.id}{FORMAT_SEPARATOR}{fmt}", text=c.text, messages=c.messages, gold=c.gold,
                          meta={**c.meta, "prompt_format": fmt, "base_id": c.id})
                     for c in cases for fmt in formats]
        scenario = Scenario(name=name, path=self.src.path.resolve(), policy=policy,
                            prompt_format=self.data.get("prompt_format", formats[0]), reasoning_effort=effort,
                            label=label, cases=tuple(cases), description=self._string("description", default=""),
                            prompt_formats=tuple(formats) if "prompt_formats" in self.data else (),
                            tools=tools, sampling=sampling, policy_module=module_ref,
                            dataset=self.data.get("dataset"), tiny_model=tiny_model)
        scenario._cache["parser"] = parser
        for case in scenario.cases:  # every case must become a request a renderer can take
            try:
                scenario.request_for(case)
            except HarnessError as exc:
                raise self.err(f"case {case.id!r}: {exc}",
                               line=self.src.line_of_case(0, case.meta.get("base_id", case.id))) from None
        return scenario

    # -- top-level fields ------------------------------------------------------------------------------------

    def _string(self, key: str, default: str) -> str:
        value = self.data.get(key, default)
        if not isinstance(value, str):
            raise self.err(f"`{key}` must be a string", key=key)
        return value

    def _policy(self) -> tuple[str, str | None]:
        given = [k for k in ("policy", "policy_file") if k in self.data]
        if len(given) > 1:
            raise self.err("set either `policy` or `policy_file`, not both", key=given[1])
        module_ref = self.data.get("policy_module")
        if module_ref is not None and (not isinstance(module_ref, str) or not module_ref):
            raise self.err("`policy_module` must be a path to a .py file or a module name", key="policy_module")
        policy: Any = None
        if "policy" in self.data:
            policy = self.data["policy"]
            if not isinstance(policy, str):
                raise self.err("`policy` must be a string", key="policy")
        elif "policy_file" in self.data:
            ref = self.data["policy_file"]
            file = self.base / ref if isinstance(ref, str) else None
            if file is None or not file.is_file():
                raise self.err(f"policy_file {ref!r} does not exist (relative to {self.base})", key="policy_file")
            policy = file.read_text(encoding="utf-8")
        elif module_ref is not None:
            from harness.labels.module import load_policy_module

            try:
                policy = load_policy_module(module_ref, base_dir=self.base).policy
            except HarnessError as exc:
                raise self.err(str(exc), key="policy_module") from None
        if policy is None or not policy.strip():
            raise self.err("missing policy: set `policy`, `policy_file` or `policy_module`",
                           key="policy" if "policy" in self.data else None)
        return policy.strip(), module_ref

    def _formats(self) -> list[str]:
        if "prompt_formats" in self.data:
            formats = self.data["prompt_formats"]
            if not isinstance(formats, list) or not formats:
                raise self.err("`prompt_formats` must be a non-empty list", key="prompt_formats")
            key = "prompt_formats"
        else:
            formats, key = [self.data.get("prompt_format", "policy-in-system")], "prompt_format"
        for fmt in formats:
            if fmt not in PROMPT_FORMATS:
                raise self.err(f"unknown prompt format {fmt!r} (expected one of {', '.join(PROMPT_FORMATS)})",
                               key=key)
        if "prompt_format" in self.data and self.data["prompt_format"] not in PROMPT_FORMATS:
            raise self.err(f"unknown prompt format {self.data['prompt_format']!r} "
                           f"(expected one of {', '.join(PROMPT_FORMATS)})", key="prompt_format")
        if len(set(formats)) != len(formats):
            raise self.err("`prompt_formats` lists a format twice", key=key)
        return list(formats)

    def _label(self, module_ref: str | None) -> dict:
        label = self.data.get("label")
        if label is None:
            if module_ref is None:
                raise self.err("missing `label` (e.g. label = {kind = \"json-field\", field = \"violation\"})")
            return {"kind": "module", "path": module_ref}
        if not isinstance(label, dict):
            raise self.err("`label` must be a table with a `kind`", key="label")
        label = dict(label)
        if label.get("kind") == "module" and "path" not in label and "module" not in label and module_ref:
            label["path"] = module_ref
        return label

    def _parser(self, label: dict):
        try:
            return get_label_parser(label, base_dir=self.base)
        except HarnessError as exc:
            key = "policy_module" if str(exc).startswith("policy module") and "policy_module" in self.data \
                else "label"
            raise self.err(f"bad label parser: {exc}", key=key) from None

    def _tools(self) -> tuple[dict, ...]:
        tools = self.data.get("tools", [])
        if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
            raise self.err("`tools` must be a list of tool declarations", key="tools")
        # Shorthand {name, description, parameters} is wrapped into the OpenAI {"type": "function", ...} form.
        wrapped = tuple(t if "function" in t else {"type": "function", "function": dict(t)} for t in tools)
        try:
            ChatRequest.from_body({"messages": [{"role": "user", "content": ""}], "tools": list(wrapped)})
        except HarnessError as exc:
            raise self.err(str(exc), key="tools") from None
        return wrapped

    def _sampling(self) -> dict:
        sampling = self.data.get("sampling", {})
        if not isinstance(sampling, dict):
            raise self.err("`sampling` must be a table (temperature, top_p, seed, max_tokens, ...)", key="sampling")
        unknown = sorted(set(sampling) - SAMPLING_KEYS)
        if unknown:
            raise self.err(f"sampling: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(SAMPLING_KEYS))})",
                           key="sampling")
        return dict(sampling)

    def _tiny_model(self, labels: tuple[str, ...] | None) -> dict | None:
        table = self.data.get("tiny_model")
        if table is None:
            return None
        if not isinstance(table, dict):
            raise self.err("`tiny_model` must be a table (cases, weight, order, answers)", key="tiny_model")
        start = self.src.line_of("tiny_model")

        def fail(message: str, key: str | None = None) -> HarnessError:
            return self.err(f"tiny_model: {message}", line=self.src.line_of(key, after=start) if key else start)

        unknown = sorted(set(table) - TINY_MODEL_KEYS)
        if unknown:
            raise fail(f"unknown key {unknown[0]!r} (allowed: {', '.join(sorted(TINY_MODEL_KEYS))})", unknown[0])
        cases = table.get("cases")
        if not isinstance(cases, str) or not cases:
            raise fail("`cases` must name a case generator of harness/tiny_model/words.py", "cases")
        weight = table.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not weight > 0:
            raise fail("`weight` must be a positive number (the share of the training batches)", "weight")
        order = table.get("order")
        if isinstance(order, bool) or not isinstance(order, int):
            raise fail("`order` must be an integer (the scenario's place in the training mix)",
                       "order" if "order" in table else None)
        answers = table.get("answers", {})
        if not isinstance(answers, dict) or not all(isinstance(v, str) for v in answers.values()):
            raise fail("`answers` must be a table of label = final answer text", "answers")
        answers = {str(k): v for k, v in answers.items()}
        stray = sorted(k for k in answers if labels is not None and k not in labels)
        if stray:
            raise fail(f"answers: {stray[0]!r} is not one of the labels {', '.join(labels or ())}", "answers")
        return {"cases": cases, "weight": float(weight), "order": order, "answers": answers}

    # -- cases -----------------------------------------------------------------------------------------------

    def _cases(self, labels: tuple[str, ...] | None) -> list[Case]:
        raw: list[tuple[dict, int, str]] = []  # (case table, line, where) for messages that point at the source
        inline = self.data.get("cases")
        if inline is not None:
            if not isinstance(inline, list):
                raise self.err("`cases` must be a list of {id, text, gold} tables", key="cases")
            seen_ids: dict[str, int] = {}
            for index, item in enumerate(inline):
                case_id = item.get("id") if isinstance(item, dict) else None
                occurrence = seen_ids.get(str(case_id), 0)
                seen_ids[str(case_id)] = occurrence + 1
                raw.append((item, self.src.line_of_case(index, case_id, occurrence), str(self.src.path)))
        if "cases_file" in self.data:
            raw.extend(self._jsonl())
        dataset = self.data.get("dataset")
        if dataset is not None:
            rows = self._dataset(dataset, have_cases=bool(raw))
            if rows is not None:  # a dataset that is available replaces the inline cases
                line = self.src.line_of("dataset")
                raw = [(row, line, str(self.src.path)) for row in rows]
        if not raw:
            raise self.err("no cases: add [[cases]], `cases_file` or a `dataset`",
                           key="cases" if "cases" in self.data else None)
        cases, seen, derived = [], {}, {}
        for item, line, where in raw:
            from_file = where != str(self.src.path)  # a JSONL row; inline cases keep needing their id
            if from_file and isinstance(item, dict) and item.get("id") is None and (base := derived_case_id(item)):
                # no id: one derived from the text; a repeated text gets -2, -3... in file order
                derived[base] = derived.get(base, 0) + 1
                item = {**item, "id": base if derived[base] == 1 else f"{base}-{derived[base]}"}
            case = self._case(item, line, where, labels)
            if case.id in seen:
                raise HarnessError(f"{where}:{line}: duplicate case id {case.id!r} (first at line {seen[case.id]})")
            seen[case.id] = line
            cases.append(case)
        return cases

    def _case(self, item: Any, line: int, where: str, labels: tuple[str, ...] | None) -> Case:
        def fail(message: str) -> HarnessError:
            return HarnessError(f"{where}:{line}: {message}")

        if not isinstance(item, dict):
            raise fail("a case must be a table with `id`, `text` (or `messages`) and optional `gold`")
        case_id = item.get("id")
        if case_id is None and item.get("text") is None and item.get("messages") is None:
            raise fail("a case needs `text` (the content to classify) or `messages`; `id` is optional "
                       "(derived from the text)")
        if case_id is None and isinstance(item.get("text"), str) and not item["text"].strip():
            raise fail("a case's `text` must be a non-empty string")
        if isinstance(case_id, int) and not isinstance(case_id, bool):
            case_id = str(case_id)
        if not isinstance(case_id, str) or not case_id.strip() or FORMAT_SEPARATOR in case_id:
            raise fail(f"case needs an `id` (a non-empty string without {FORMAT_SEPARATOR!r})")
        text, messages = item.get("text"), item.get("messages")
        if (text is None) == (messages is None):
            raise fail(f"case {case_id!r} needs exactly one of `text` or `messages`")
        if text is not None and (not isinstance(text, str) or not text.strip()):
            raise fail(f"case {case_id!r}: `text` must be a non-empty string")
        if messages is not None:
            if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
                raise fail(f"case {case_id!r}: `messages` must be a non-empty list of OpenAI messages")
            try:
                ChatRequest.from_body({"messages": build_messages("policy", "policy-in-system",
                                                                  Case(case_id, None, tuple(messages), None), None)})
            except HarnessError as exc:
                raise fail(f"case {case_id!r}: {exc}") from None
        gold = item.get("gold")
        if gold is not None:
            gold = normalise(gold)
            if gold is None or (labels is not None and gold not in labels):
                raise fail(f"case {case_id!r}: gold {item.get('gold')!r} is not one of {', '.join(labels or ())}")
        meta = dict(item.get("meta") or {})
        meta.update({k: v for k, v in item.items() if k not in CASE_KEYS})
        return Case(id=case_id, text=text, messages=tuple(messages) if messages else None, gold=gold, meta=meta)

    def _jsonl(self) -> list[tuple[dict, int, str]]:
        ref = self.data["cases_file"]
        file = self.base / ref if isinstance(ref, str) else None
        if file is None or not file.is_file():
            raise self.err(f"cases_file {ref!r} does not exist (relative to {self.base})", key="cases_file")
        rows = []
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise HarnessError(f"{file}:{number}: not JSON ({exc.msg} at column {exc.colno}); "
                                   "each line must be one {\"id\", \"text\", \"gold\"} object") from None
            rows.append((item, number, str(file)))
        return rows

    def _dataset(self, spec: Any, have_cases: bool) -> list[dict] | None:
        if not isinstance(spec, dict) or not (spec.get("id") or spec.get("path")):
            raise self.err("`dataset` must be a table with an `id` (hub dataset) or a `path`", key="dataset")
        unknown = sorted(set(spec) - DATASET_KEYS)
        if unknown:
            raise self.err(f"dataset: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(DATASET_KEYS))})",
                           key="dataset")
        if not spec.get("path") and not self.online and have_cases:
            return None  # offline: the inline cases stand in for the dataset
        try:
            return load_dataset_rows(spec, base_dir=self.base, online=self.online)
        except HarnessError as exc:
            raise self.err(str(exc), key="dataset") from None


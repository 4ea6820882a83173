"""What the tiny model learns: one task per built-in scenario that declares a `[tiny_model]` table.

A task is that scenario's policy, prompt format(s), effort and label format over synthetic cases. The table says
which generator of `words.py` writes the cases, the task's share of the training batches, its place in the
training mix, and the final answer for each label (a label without one is answered by itself, e.g. `1`).
"""

from __future__ import annotations

import functools
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.errors import HarnessError
from harness.tiny_model.words import GENERATORS

START, END, MESSAGE, CHANNEL, RETURN = "<|start|>", "<|end|>", "<|message|>", "<|channel|>", "<|return|>"


@dataclass(frozen=True)
class Task:
    scenario: str  # built-in scenario whose policy, prompt format(s) and effort are used
    weight: float  # share of the training batches (split evenly over the task's prompt formats)
    make_case: Callable[[random.Random], tuple[str, int, str]]
    answers: dict[str, str] = field(default_factory=dict)  # label -> final channel text, from the scenario

    @property
    def prompt_formats(self) -> tuple[str, ...]:
        """The scenario's prompt formats: all of them for an expanded scenario (prompt-formats), else its one."""
        scenario = _scenario(self.scenario)
        return scenario.prompt_formats or (scenario.prompt_format,)

    def answer(self, label: int, reason: str) -> str:
        """The final channel text for a case: the scenario's declared answer for its label, else the label."""
        return self.answers.get(str(label), str(label))


def task_for(scenario) -> Task:
    """The task a scenario's `[tiny_model]` table declares (the loader has checked its shape, not the generator)."""
    table = scenario.tiny_model
    if table["cases"] not in GENERATORS:
        raise HarnessError(f"{scenario.path}: [tiny_model] cases = {table['cases']!r} is not a case generator of "
                           f"harness/tiny_model/words.py (known: {', '.join(sorted(GENERATORS))})")
    return Task(scenario.name, table["weight"], GENERATORS[table["cases"]], dict(table["answers"]))


@functools.lru_cache(maxsize=1)
def learnt_tasks() -> tuple[Task, ...]:
    """The built-in scenarios (the project's scenarios/ folder, never ./scenarios) that declare `[tiny_model]`, in
    their declared `order`: the training batches, and so the weights, follow it."""
    from harness.scenario import load_scenario
    from harness.scenarios._load import SUFFIXES, builtin_dir

    declared = []
    for path in sorted(p for p in builtin_dir().iterdir() if p.suffix in SUFFIXES and p.is_file()):
        scenario = load_scenario(path)
        if scenario.tiny_model is not None:
            declared.append(scenario)
    declared.sort(key=lambda s: s.tiny_model["order"])
    for first, second in itertools.pairwise(declared):
        if first.tiny_model["order"] == second.tiny_model["order"]:
            raise HarnessError(f"{second.path}: [tiny_model] order = {second.tiny_model['order']} is also "
                               f"{first.name}'s; each learnt scenario needs its own place in the training mix")
    return tuple(task_for(s) for s in declared)


def completion_text(reason: str, final: str) -> str:
    """A Harmony completion: short analysis, then the final answer, ended with <|return|>."""
    return (f"{CHANNEL}analysis{MESSAGE}{reason}{END}{START}assistant{CHANNEL}final{MESSAGE}{final}{RETURN}")


@functools.lru_cache(maxsize=16)
def _scenario(name: str):
    from harness.scenario import load_scenario

    return load_scenario(name)

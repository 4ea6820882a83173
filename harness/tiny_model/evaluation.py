"""Evaluating the tiny model: greedy Harmony completions on a scenario's (held-out) cases, parsed into labels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.tiny_model.tasks import _scenario
from harness.tiny_model.training import RENDERERS

if TYPE_CHECKING:
    from harness.assets import Assets


@dataclass(frozen=True)
class EvalResult:
    renderer: str
    labels: dict[str, str | None]  # case id -> parsed label, None for a parse failure
    finals: dict[str, str]  # case id -> final-channel text
    gold: dict[str, str | None]

    @property
    def parse_rate(self) -> float:
        return sum(v is not None for v in self.labels.values()) / max(1, len(self.labels))

    @property
    def accuracy(self) -> float:
        graded = [c for c, g in self.gold.items() if g is not None]
        return sum(self.labels[c] == self.gold[c] for c in graded) / max(1, len(graded))


def generate(model, prompts: list[list[int]], *, max_new_tokens: int = 48, batch: int = 12) -> list[list[int]]:
    """Greedy completions (cut after the first stop token), left-padded batches as the local backends run them."""
    import torch

    from harness.render.parser import ENDOFTEXT, STOP_IDS

    stops, pad = STOP_IDS, ENDOFTEXT
    outputs = []
    for start in range(0, len(prompts), batch):
        chunk = prompts[start:start + batch]
        width = max(len(p) for p in chunk)
        ids = torch.tensor([[pad] * (width - len(p)) + p for p in chunk])
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in chunk])
        with torch.inference_mode():
            out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False,
                                 eos_token_id=list(stops), pad_token_id=pad, temperature=None, top_p=None, top_k=None)
        for row in out[:, width:].tolist():
            cut = next((i + 1 for i, t in enumerate(row) if t in stops), len(row))
            outputs.append(row[:cut])
    return outputs


def evaluate(model, assets: Assets, scenario_name: str = "spam", *, renderers=RENDERERS,
             date: str = "2026-01-15", max_new_tokens: int = 48) -> dict[str, EvalResult]:
    """Render each case of a built-in scenario, generate greedily, parse the Harmony completion and the label."""
    from harness.render import get_renderer
    from harness.render.parser import parse_tokens

    scenario = _scenario(scenario_name)
    parser = scenario.label_parser()
    results = {}
    for name in renderers:
        renderer = get_renderer(name, assets)
        prompts = [renderer.render(scenario.request_for(case), date=date) for case in scenario.cases]
        labels, finals = {}, {}
        for case, completion in zip(scenario.cases, generate(model, prompts, max_new_tokens=max_new_tokens)):
            messages = parse_tokens(completion, completion=True).messages
            final = "".join(m.content for m in messages if m.channel == "final")
            parsed = parser.parse(final) if any(m.channel == "final" for m in messages) else None
            labels[case.id] = parsed.label if parsed is not None and parsed.ok else None
            finals[case.id] = final
        results[name] = EvalResult(name, labels, finals, {c.id: c.gold for c in scenario.cases})
    return results

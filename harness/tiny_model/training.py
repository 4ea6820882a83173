"""Training the tiny model: prompt groups (one rendered prefix per task, prompt format, renderer, date and effort;
cases are a suffix after it), then the loop over seeded synthetic batches, in place on a GptOssForCausalLM.

Held-out cases are full of words the training data never uses (random input rows): some training cases get such
frozen random rows sprinkled in, and the Harmony markers weigh more in the loss, so that the answer format holds
on text the model has not seen. Only the vocab rows the data uses are trained (the input rows as a small table,
the output rows with a sampled softmax against frozen random rows); everything else is trained in full.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.tiny_model.forward import PrefixForward
from harness.tiny_model.recipe import TINY_MODEL_VERSION, recipe_hash
from harness.tiny_model.tasks import END, START, Task, _scenario, completion_text, learnt_tasks
from harness.tiny_model.words import _pick

if TYPE_CHECKING:
    from harness.assets import Assets

# Trained on openai-harmony renders only, as gpt-oss itself was: the chat template's render (and any other) is out of
# its training distribution, so a render difference can move a label, as it can on the real model. Evaluated on both.
TRAIN_RENDERERS = ("harmony",)
RENDERERS = ("harmony", "hf-template")  # the renders it is evaluated (and must answer parseably) under
# Dates the training prompts carry (the `Current date:` line): spread so that any run date is "in distribution".
TRAIN_DATES = tuple(f"{year}-{month:02d}-{day:02d}" for year in (2024, 2025, 2026, 2027)
                    for month, day in ((1, 3), (3, 17), (5, 28), (8, 9), (10, 21), (12, 30)))
EFFORTS = ("low", "medium", "high")

STEPS = 650
BATCH = 16
LEARNING_RATE = 3e-3
NEGATIVES = 1024  # frozen random output rows per step in the sampled softmax
ORDINARY_TOKENS = 199998  # o200k ids below the special tokens
UNSEEN_TOKENS = 4096  # frozen random input rows standing in for words the training data never uses
NOISE_RATE = 0.5  # share of training cases with such words inserted (up to a third of their length)
STRUCTURE_WEIGHT = 3.0  # loss weight of the Harmony markers and the token after each (channel names, first words)


# ---------------------------------------------------------------------------------------------------------------
# prompt groups: one rendered prefix per (task, prompt format, renderer, date, effort); cases are a suffix after it


@dataclass
class Group:
    task: Task
    renderer: str
    date: str
    effort: str | None
    prefix: list[int]
    tail: list[int]  # what follows the case text: <|end|><|start|>assistant
    prompt_format: str = ""


def _request(policy: str, prompt_format: str, text: str, effort: str | None):
    from harness.request import ChatRequest
    from harness.scenario import Case, build_messages

    case = Case(id="synthetic", text=text, messages=None, gold=None)
    body: dict[str, Any] = {"messages": build_messages(policy, prompt_format, case, effort)}
    if effort:
        body["reasoning_effort"] = effort
    return ChatRequest.from_body(body)


def build_group(assets: Assets, task: Task, renderer: str, date: str, effort: str | None, encode,
                prompt_format: str | None = None) -> Group:
    """Render one probe case fully and split it into shared prefix + case text + tail (checked exact).

    prompt_format: one of the task's formats (default: the scenario's own)."""
    from harness.render import get_renderer

    scenario = _scenario(task.scenario)
    fmt = prompt_format or scenario.prompt_format
    probe = "Probe text for the prefix split."
    full = get_renderer(renderer, assets).render(_request(scenario.policy, fmt, probe, effort), date=date)
    tail = encode(f"{END}{START}assistant")
    suffix = encode(probe) + tail
    if full[-len(suffix):] != suffix:
        raise RuntimeError(f"{renderer} render of {task.scenario} ({fmt}) does not end with the case text")
    return Group(task, renderer, date, effort, full[:-len(suffix)], tail, fmt)


# ---------------------------------------------------------------------------------------------------------------
# training


@dataclass(frozen=True)
class TrainingReport:
    version: str
    recipe: str  # recipe_hash() when trained
    seed: int
    steps: int
    batch: int
    seconds: float
    first_loss: float
    final_loss: float
    tasks: tuple[str, ...]
    renderers: tuple[str, ...]
    trained_input_rows: int
    trained_output_rows: int

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class _Example:
    group: int
    case_ids: list[int]
    completion: list[int]


def _structure_weight(completion: list[int], k: int) -> float:
    """Loss weight of completion token k: the Harmony markers and the token after each weigh STRUCTURE_WEIGHT."""
    if completion[k] >= ORDINARY_TOKENS or (k > 0 and completion[k - 1] >= ORDINARY_TOKENS):
        return STRUCTURE_WEIGHT
    return 1.0


def check_forward(model, group: Group, example: _Example, forward: PrefixForward, atol: float = 1e-4) -> float:
    """Max |difference| between the prefix forward and transformers' own forward on one sequence."""
    import torch

    ids = group.prefix + example.case_ids + group.tail + example.completion
    suffix = torch.tensor([ids[len(group.prefix):]])
    with torch.no_grad():
        ours = forward.hidden(torch.tensor(group.prefix), suffix)[0]
        theirs = model.model(input_ids=torch.tensor([ids])).last_hidden_state[0, len(group.prefix):]
    gap = float((ours - theirs).abs().max())
    if gap > atol:
        raise RuntimeError(f"training forward differs from transformers' forward by {gap:.2e}")
    return gap


def train_tiny_model(model, tokenizer_dir, *, seed: int = 0, steps: int = STEPS, batch: int = BATCH,
                     log: Callable[[str], None] | None = None) -> TrainingReport:
    """Train `model` (a GptOssForCausalLM, in place) to answer the tasks' prompts in Harmony; returns a report."""
    import torch
    import torch.nn.functional as F

    from harness.assets import harmony_encoding, offline_assets, tokenizer_template_path

    started = time.perf_counter()
    rng = random.Random(seed)
    torch.manual_seed(seed)
    deterministic = torch.are_deterministic_algorithms_enabled()
    threads = torch.get_num_threads()
    torch.use_deterministic_algorithms(True)
    # One thread: the ops are tiny, and two threads on a busy 2-core machine spin against each other (10x slower).
    torch.set_num_threads(1)
    try:
        encoding = harmony_encoding()

        def encode(text: str) -> list[int]:
            return list(encoding.encode(text, allowed_special="all"))

        tokenizer_dir = Path(tokenizer_dir)
        assets = offline_assets(tokenizer_template_path(tokenizer_dir), tokenizer_dir, None)
        groups: list[Group] = []
        weights: list[float] = []
        for task in learnt_tasks():
            scenario_effort = _scenario(task.scenario).reasoning_effort
            per_group = task.weight / (len(task.prompt_formats) * len(TRAIN_RENDERERS) * len(TRAIN_DATES))
            for fmt in task.prompt_formats:
                for renderer in TRAIN_RENDERERS:
                    for date in TRAIN_DATES:
                        effort = scenario_effort if rng.random() < 0.75 else _pick(rng, EFFORTS)
                        groups.append(build_group(assets, task, renderer, date, effort, encode, fmt))
                        weights.append(per_group)

        completions: dict[str, list[int]] = {}  # a few dozen distinct completions: encode each once

        def sample(group_index: int) -> _Example:
            text, label, reason = groups[group_index].task.make_case(rng)
            completion = completion_text(reason, groups[group_index].task.answer(label, reason))
            if completion not in completions:
                completions[completion] = encode(completion)
            return _Example(group_index, encode(text), list(completions[completion]))

        plan = [rng.choices(range(len(groups)), weights)[0] for _ in range(steps)]
        batches = [[sample(g) for _ in range(batch)] for g in plan]

        used = set()
        outputs = set()
        for g in groups:
            used.update(g.prefix)
            used.update(g.tail)
        for examples in batches:
            for e in examples:
                used.update(e.case_ids)
                used.update(e.completion)
                outputs.update(e.completion)
        pad = int(model.config.pad_token_id)
        used.add(pad)
        in_vocab = torch.tensor(sorted(used))
        # Words the data never uses keep their random rows: a held-out case is full of them. Sprinkle such
        # (frozen) rows into some training cases, so the answer format does not hinge on every word being known.
        unseen = [t for t in range(ORDINARY_TOKENS) if t not in used]
        frozen = sorted(rng.sample(unseen, UNSEEN_TOKENS)) if NOISE_RATE > 0 else []
        for examples in batches:
            for e in examples:
                if rng.random() < NOISE_RATE:
                    for _ in range(rng.randint(1, max(2, len(e.case_ids) // 3))):
                        e.case_ids.insert(rng.randrange(len(e.case_ids) + 1), frozen[rng.randrange(len(frozen))])
        out_vocab = torch.tensor(sorted(outputs))
        out_map = torch.full((model.config.vocab_size,), -1, dtype=torch.long)
        out_map[out_vocab] = torch.arange(len(out_vocab))

        model.train()
        for parameter in model.parameters():
            parameter.requires_grad_(True)
        model.model.embed_tokens.weight.requires_grad_(False)
        model.lm_head.weight.requires_grad_(False)
        forward = PrefixForward(model, in_vocab, torch.tensor(frozen, dtype=torch.long))
        check_forward(model, groups[0], batches[0][0], forward)
        head = torch.nn.Parameter(model.lm_head.weight.detach()[out_vocab].clone())
        frozen_head = model.lm_head.weight.detach()
        body = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW([{"params": body, "weight_decay": 0.0},
                                       {"params": [forward.embed, head], "weight_decay": 0.0}],
                                      lr=LEARNING_RATE, betas=(0.9, 0.98), foreach=True)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda k: min(1.0, (k + 1) / 20) * max(0.05, 1 - k / steps))
        generator = torch.Generator().manual_seed(seed)
        losses = []
        for step, examples in enumerate(batches):
            group = groups[examples[0].group]
            rows = [e.case_ids + group.tail + e.completion for e in examples]
            width = max(len(r) for r in rows)
            suffixes = torch.tensor([r + [pad] * (width - len(r)) for r in rows])
            # Positions whose next token is a completion token (completions end each row; pad by repeating).
            span = max(len(e.completion) for e in examples)
            keep, targets, valid, weight = [], [], [], []
            for e, r in zip(examples, rows):
                first = len(r) - len(e.completion) - 1
                keep.append([min(first + k, len(r) - 2) for k in range(span)])
                valid.extend(k < len(e.completion) for k in range(span))
                targets.extend(r[first + 1 + k] if k < len(e.completion) else pad for k in range(span))
                weight.extend(_structure_weight(e.completion, k) for k in range(len(e.completion)))
            hidden = forward.hidden(torch.tensor(group.prefix), suffixes, torch.tensor(keep))
            mask = torch.tensor(valid)
            picked = hidden.reshape(-1, model.config.hidden_size)[mask]
            targets = [t for t, v in zip(targets, valid) if v]
            negatives = torch.randint(0, model.config.vocab_size, (NEGATIVES,), generator=generator)
            negatives = negatives[out_map[negatives] < 0]
            logits = torch.cat([picked @ head.T, picked @ frozen_head[negatives].T], dim=1)
            token_loss = F.cross_entropy(logits, out_map[torch.tensor(targets)], reduction="none")
            weight_t = torch.tensor(weight)
            loss = (token_loss * weight_t).sum() / weight_t.sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(body + [forward.embed, head], 1.0)
            optimizer.step()
            schedule.step()
            losses.append(float(loss.detach()))
            if log and (step % 40 == 0 or step == steps - 1):
                log(f"step {step:4d} loss {losses[-1]:.4f} ({time.perf_counter() - started:.1f}s)")

        with torch.no_grad():  # write the trained rows back into the full tables
            model.model.embed_tokens.weight[in_vocab] = forward.embed.detach()
            model.lm_head.weight[out_vocab] = head.detach()
        model.eval()
        for parameter in model.parameters():
            parameter.requires_grad_(False)
    finally:
        torch.use_deterministic_algorithms(deterministic)
        torch.set_num_threads(threads)
    return TrainingReport(version=TINY_MODEL_VERSION, recipe=recipe_hash(), seed=seed, steps=steps, batch=batch,
                          seconds=round(time.perf_counter() - started, 1), first_loss=round(losses[0], 4),
                          final_loss=round(sum(losses[-10:]) / min(10, len(losses)), 4),
                          tasks=tuple(t.scenario for t in learnt_tasks()), renderers=TRAIN_RENDERERS,
                          trained_input_rows=len(in_vocab), trained_output_rows=len(out_vocab))

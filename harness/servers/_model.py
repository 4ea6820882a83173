"""Where a local server's completion tokens come from: a local transformers model, or a script.

`LocalModel` loads weights on first use (torch/transformers imported there) and generates greedily unless
temperature > 0 (then seeded sampling). `ScriptedCompletion` returns fixed Harmony tokens: a deterministic
"model" for tests of reasoning/content splitting, tool calls and verdict shapes.
Both run in a worker thread behind an asyncio lock: one generation at a time.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.backends.transformers_local import PAD_ID, STOP_IDS, cut_at_stop


@dataclass(frozen=True)
class Generation:
    token_ids: list[int]  # completion ids, the stop token included (as vLLM's `token_ids`)
    finish_reason: str  # "stop" | "length"


class LocalModel:
    """A causal LM from a local directory (default: the offline tiny gpt-oss)."""

    def __init__(self, model_dir: Path) -> None:
        self.model_dir = Path(model_dir)
        self._model = None
        self._load_lock = threading.Lock()

    def _load(self):
        with self._load_lock:
            if self._model is None:
                import torch
                from transformers import AutoModelForCausalLM
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()  # a server's stderr is for errors, not load bars
                model = AutoModelForCausalLM.from_pretrained(self.model_dir, dtype=torch.float32)
                self._model = model.eval()
        return self._model

    def preload(self) -> None:
        self._load()

    def generate(self, prompt_ids: Sequence[int], *, max_tokens: int, temperature: float = 0.0,
                 top_p: float | None = None, seed: int | None = None) -> Generation:
        import torch

        model = self._load()
        sample = temperature > 0
        kwargs = {"do_sample": sample, "max_new_tokens": max_tokens, "eos_token_id": list(STOP_IDS),
                  "pad_token_id": PAD_ID}
        if sample:
            torch.manual_seed(0 if seed is None else seed)  # seeded: the same request gives the same tokens
            kwargs.update(temperature=temperature, top_p=1.0 if top_p is None else top_p)
        else:  # greedy; keep the model's generation_config sampling values out of the way
            kwargs.update(temperature=None, top_p=None, top_k=None)
        inputs = torch.tensor([list(prompt_ids)], dtype=torch.long)
        with torch.no_grad():
            output = model.generate(inputs, attention_mask=torch.ones_like(inputs), **kwargs)
        ids = [int(t) for t in output[0, inputs.shape[1]:]]
        return _finish(ids, max_tokens)


class ScriptedCompletion:
    """Always "generates" the same Harmony completion (text with special tokens, or ids)."""

    def __init__(self, completion: str | Sequence[int]) -> None:
        if isinstance(completion, str):
            from harness.assets import harmony_encoding

            self.ids = list(harmony_encoding().encode(completion, allowed_special="all"))
        else:
            self.ids = [int(t) for t in completion]

    def generate(self, prompt_ids: Sequence[int], *, max_tokens: int, temperature: float = 0.0,
                 top_p: float | None = None, seed: int | None = None) -> Generation:
        return _finish(cut_at_stop(self.ids)[:max_tokens], max_tokens)  # stop where a model would


def _finish(ids: list[int], max_tokens: int) -> Generation:
    if ids and ids[-1] in STOP_IDS:
        return Generation(ids, "stop")
    return Generation(ids, "length" if len(ids) >= max_tokens else "stop")


class GenerationQueue:
    """One generation at a time, off the event loop."""

    def __init__(self, generator: LocalModel | ScriptedCompletion) -> None:
        self.generator = generator
        self._lock = asyncio.Lock()

    async def generate(self, prompt_ids: Sequence[int], **kwargs) -> Generation:
        async with self._lock:
            return await asyncio.to_thread(self.generator.generate, prompt_ids, **kwargs)


def completion_text(analysis: str | None, final: str | None) -> str:
    """Harmony completion text for a scripted answer: optional analysis, then final (what a model emits)."""
    parts = []
    if analysis is not None:
        parts.append(f"<|channel|>analysis<|message|>{analysis}<|end|>")
    if final is not None:
        parts.append(("<|start|>assistant" if parts else "") + f"<|channel|>final<|message|>{final}<|return|>")
    return "".join(parts)

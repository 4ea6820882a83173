"""Local transformers backends on one loaded model: the way users run it, and the Harmony reference path.

- `transformers-pipeline`: `pipeline("text-generation")` called with chat messages, exactly as users call it (the
  chat template applies; `reasoning_effort` goes to the template through `tokenizer_encode_kwargs`). We ask the
  pipeline for token ids (`return_tensors=True`) instead of its decoded text, because the pipeline decodes with
  `skip_special_tokens=True` and analysis and final then run together. The prompt ids are the chat template
  applied by the pipeline's own tokenizer, checked equal to the ids the pipeline actually fed the model. Messages
  go in as the request carries them: tool-call `arguments` stay the JSON string of the wire format, which the
  gpt-oss template `tojson`s again (double encoding), as it does for a user who passes the body unchanged.
- `transformers-harmony`: the prompt is rendered by openai-harmony (the `harmony` renderer), generation runs on
  those ids with `model.generate`. The reference path.

Both split analysis, final and tool calls from the generated token ids with the Harmony parser (never by searching
decoded text). An output with no channel anywhere (a model that does not speak Harmony) becomes plain `text`; one
that stopped during analysis has `text == ""`.
Greedy unless the effective temperature is > 0 (then sampled, seeded with `seed`, default 0). `max_new_tokens`
comes from `max_tokens` (default 256). Generation runs in a worker thread; calls on one model are serialized (a
lock per model: two generations at once only fight over the same CPU cores). Batches pad on the left.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import threading
from typing import Any

from harness.backends.base import BackendConfig, BackendContext, backend, prompt_date
from harness.backends.openai_compatible import effective_effort, effective_sampling
from harness.errors import HarnessError
from harness.records import BackendError, Completion, Usage
from harness.render.parser import (  # STOP_IDS: the servers use it from here too
    CALL,
    ENDOFTEXT,
    RETURN,
    STOP_IDS,
)
from harness.request import ChatRequest

PAD_ID = ENDOFTEXT
DEFAULT_MAX_TOKENS = 256


@dataclasses.dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    lock: threading.Lock
    pipeline: Any = None  # the text-generation pipeline over this model, built on first use


# transformers resolves its names lazily, and that is not thread-safe: two backends loading in worker threads at
# once can see "cannot import name AutoModelForCausalLM". Every transformers import here happens under this lock.
_IMPORT_LOCK = threading.Lock()


def load_model(model_dir: str, tokenizer_dir: str) -> LoadedModel:
    """One loaded model per directory, shared by every local backend in the process."""
    with _IMPORT_LOCK:
        return _load_model(model_dir, tokenizer_dir)


@functools.lru_cache(maxsize=4)
def _load_model(model_dir: str, tokenizer_dir: str) -> LoadedModel:
    from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline  # noqa: F401 (resolved under the lock)

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:  # batching needs one; <|endoftext|> is what gpt-oss pads with
        tokenizer.pad_token = "<|endoftext|>"
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype="auto").eval()
    return LoadedModel(model=model, tokenizer=tokenizer, lock=threading.Lock())


def generation_kwargs(config: BackendConfig, request: ChatRequest) -> dict[str, Any]:
    """`generate` arguments from the effective sampling: greedy unless temperature > 0."""
    sampling = effective_sampling(config, request)
    max_tokens = sampling.get("max_tokens") or sampling.get("max_completion_tokens") or DEFAULT_MAX_TOKENS
    kwargs: dict[str, Any] = {"max_new_tokens": int(max_tokens), "eos_token_id": list(STOP_IDS),
                              "pad_token_id": PAD_ID}
    temperature = sampling.get("temperature")
    if temperature is not None and temperature > 0:
        kwargs.update(do_sample=True, temperature=float(temperature))
        if sampling.get("top_p") is not None:
            kwargs["top_p"] = float(sampling["top_p"])
    else:
        kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    return kwargs


def _seed(config: BackendConfig, request: ChatRequest) -> int:
    return int(effective_sampling(config, request).get("seed") or 0)


def cut_at_stop(ids: list[int]) -> list[int]:
    """Generated ids up to and including the first stop token (generate pads finished rows after it)."""
    for index, token in enumerate(ids):
        if token in STOP_IDS:
            return ids[:index + 1]
    return ids


def completion_from_output(prompt_ids: list[int], output_ids: list[int], tokenizer: Any,
                           sent_body: dict[str, Any] | None = None) -> Completion:
    """Split a generated Harmony completion into final text, reasoning and tool calls by its tokens."""
    from harness.render.parser import parse_tokens

    parsed = parse_tokens(output_ids, completion=True)
    finals = [m for m in parsed.messages if m.channel == "final"]
    analysis = [m for m in parsed.messages if m.channel == "analysis"]
    tool_calls = [{"name": m.recipient.split(".", 1)[1] if "." in m.recipient else m.recipient,
                   "arguments": m.content}
                  for m in parsed.messages if m.recipient and m.role == "assistant"]
    if finals or any(m.channel or m.recipient for m in parsed.messages):
        text = "".join(m.content for m in finals)  # "" when it stopped before a final answer
    else:  # no channel anywhere (a model that does not speak Harmony): what was generated is the content
        text = "".join(m.content for m in parsed.messages) or tokenizer.decode(output_ids, skip_special_tokens=True)
    reasoning = "\n".join(m.content for m in analysis) if analysis else None
    last = output_ids[-1] if output_ids else None
    finish = "tool_calls" if last == CALL else "stop" if last in (RETURN, ENDOFTEXT) else "length"
    reasoning_tokens = sum(m.content_span[1] - m.content_span[0] for m in analysis) if analysis else None
    return Completion(text=text, reasoning=reasoning, reasoning_field="channel" if analysis else None,
                      finish_reason=finish,
                      usage=Usage(prompt_tokens=len(prompt_ids), completion_tokens=len(output_ids),
                                  reasoning_tokens=reasoning_tokens),
                      prompt_token_ids=list(prompt_ids), output_token_ids=list(output_ids), sent_body=sent_body,
                      tool_calls=tool_calls)


class _LocalBackend:
    def __init__(self, config: BackendConfig, context: BackendContext):
        from harness.assets import resolve

        self.config = config
        self.context = context
        self.assets = resolve(config.model)
        if self.assets.model_dir is None:
            raise HarnessError(f"backend {config.name!r}: {config.model!r} has no weights locally; download them "
                               "(hf download ...) or use the offline tiny model")

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def max_batch(self) -> int:
        return self.config.batch_size

    def fingerprint(self) -> dict[str, Any]:
        from harness.assets import harmony_version

        return {"kind": self.config.kind, "model": self.assets.model_id, "source": self.assets.source,
                "revision": self.assets.revision, "template_sha256": self.assets.template_sha256,
                "harmony_version": harmony_version(),
                "sampling": self.config.sampling.model_dump(exclude_none=True),
                "reasoning_effort": self.config.reasoning_effort, "batch_size": self.config.batch_size,
                "date": prompt_date()}  # the `Current date:` its prompts carry

    def loaded(self) -> LoadedModel:
        return load_model(str(self.assets.model_dir), str(self.assets.tokenizer_dir))

    async def complete(self, request: ChatRequest, *, correlation: str | None = None) -> Completion:
        return (await self.complete_batch([request]))[0]

    async def complete_batch(self, requests: list[ChatRequest]) -> list[Completion]:
        if not requests:
            return []
        return await asyncio.to_thread(self._run_batch, requests)

    def _run_batch(self, requests: list[ChatRequest]) -> list[Completion]:
        # Requests with different generation settings cannot share one generate call: group them.
        groups: dict[str, list[int]] = {}
        for index, request in enumerate(requests):
            groups.setdefault(self._group_key(request), []).append(index)
        results: list[Completion | None] = [None] * len(requests)
        for indices in groups.values():
            for index, completion in zip(indices, self._generate([requests[i] for i in indices])):
                results[index] = completion
        return [r for r in results if r is not None]

    def _group_key(self, request: ChatRequest) -> str:
        return json.dumps([effective_effort(self.config, request), generation_kwargs(self.config, request),
                           _seed(self.config, request)], sort_keys=True, default=str)

    def _generate(self, requests: list[ChatRequest]) -> list[Completion]:
        raise NotImplementedError

    async def aclose(self) -> None:
        return None


class TransformersPipelineBackend(_LocalBackend):
    def fingerprint(self) -> dict[str, Any]:
        # Tool-call arguments were once parsed before the template saw them: answers stored then were for another
        # prompt, so the key says how arguments are passed now.
        return {**super().fingerprint(), "tool_arguments": "as-sent"}

    def chat(self, request: ChatRequest) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
        from harness.render.hf_template import template_message, template_tools

        return [template_message(m) for m in request.messages], template_tools(request)  # arguments as sent

    def _generate(self, requests: list[ChatRequest]) -> list[Completion]:
        import torch

        loaded = self.loaded()
        with _IMPORT_LOCK:
            from transformers import pipeline

        tokenizer = loaded.tokenizer
        effort = effective_effort(self.config, requests[0])
        template_kwargs = {"reasoning_effort": effort} if effort else {}
        gen = generation_kwargs(self.config, requests[0])
        chats = [self.chat(r) for r in requests]
        # Chats with different tools cannot share one pipeline call (tools are a call-level argument).
        by_tools: dict[str, list[int]] = {}
        for index, (_, tools) in enumerate(chats):
            by_tools.setdefault(json.dumps(tools, sort_keys=True), []).append(index)
        sequences: dict[int, list[int]] = {}
        with loaded.lock:
            if loaded.pipeline is None:
                loaded.pipeline = pipeline("text-generation", model=loaded.model, tokenizer=tokenizer)
            pipe = loaded.pipeline
            torch.manual_seed(_seed(self.config, requests[0]))
            for indices in by_tools.values():
                tools = chats[indices[0]][1]
                result = pipe([chats[i][0] for i in indices], batch_size=len(indices), return_tensors=True,
                              tokenizer_encode_kwargs=template_kwargs or None,
                              **({"tools": tools} if tools else {}), **gen)
                for i, item in zip(indices, result):
                    sequences[i] = [int(t) for t in item[0]["generated_token_ids"]]
        completions = []
        for index, (messages, tools) in enumerate(chats):
            sequence = sequences[index]
            prompt = list(tokenizer.apply_chat_template(messages, tools=tools, add_generation_prompt=True,
                                                        tokenize=True, return_dict=True,
                                                        **template_kwargs)["input_ids"])
            pads = 0
            while pads < len(sequence) and sequence[pads] == tokenizer.pad_token_id and sequence[pads] != prompt[0]:
                pads += 1
            if sequence[pads:pads + len(prompt)] != prompt:
                raise BackendError("internal", f"{self.name}: the pipeline fed the model other ids than the chat "
                                   "template gives (cannot record the prompt)", retryable=False)
            output = cut_at_stop(sequence[pads + len(prompt):])
            sent = {"messages": messages, **({"tools": tools} if tools else {}),
                    "chat_template_kwargs": template_kwargs, "generate": gen}
            completions.append(completion_from_output(prompt, output, tokenizer, sent))
        return completions


class TransformersHarmonyBackend(_LocalBackend):
    def prompt_ids(self, request: ChatRequest, date: str | None = None) -> list[int]:
        from harness.render import get_renderer

        effort = effective_effort(self.config, request)
        if effort != request.reasoning_effort:
            request = dataclasses.replace(request, reasoning_effort=effort)
        return get_renderer("harmony", self.assets).render(request, date=date or prompt_date())

    def _generate(self, requests: list[ChatRequest]) -> list[Completion]:
        import torch

        loaded = self.loaded()
        prompts = [self.prompt_ids(r) for r in requests]
        gen = generation_kwargs(self.config, requests[0])
        width = max(len(p) for p in prompts)
        input_ids = torch.tensor([[PAD_ID] * (width - len(p)) + p for p in prompts], dtype=torch.long)
        attention = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], dtype=torch.long)
        with loaded.lock, torch.inference_mode():
            torch.manual_seed(_seed(self.config, requests[0]))
            out = loaded.model.generate(input_ids=input_ids, attention_mask=attention, **gen)
        completions = []
        for row, prompt in zip(out.tolist(), prompts):
            output = cut_at_stop(row[width:])
            sent = {"prompt_token_ids": prompt, "generate": gen}
            completions.append(completion_from_output(prompt, output, loaded.tokenizer, sent))
        return completions


@backend("transformers-pipeline", "local model through transformers pipeline('text-generation') and its chat template")
def _pipeline_factory(config: BackendConfig, context: BackendContext) -> TransformersPipelineBackend:
    return TransformersPipelineBackend(config, context)


@backend("transformers-harmony", "local model fed openai-harmony rendered ids (the reference path)")
def _harmony_factory(config: BackendConfig, context: BackendContext) -> TransformersHarmonyBackend:
    return TransformersHarmonyBackend(config, context)

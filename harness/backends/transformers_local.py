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
Output logprobs (`Completion.output_logprobs`, OpenAI's shape): log_softmax of the RAW logits at each step (the
model's own distribution, as vLLM's default logprobs), the chosen token and the top-K (`options.top_logprobs`,
default 5), each id decoded alone with special tokens as text. `transformers-harmony` runs `generate_from_ids`
(`output_logits`); the pipeline's logits are read by a forward hook on the model during the pipeline's own call.
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
from harness.errors import BackendError, HarnessError
from harness.records import Completion, Usage
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


DEFAULT_TOP_LOGPROBS = 5


def local_top_logprobs(config: BackendConfig) -> int:
    """Top-K alternatives kept per output token (`options.top_logprobs`, default 5; the chosen token always)."""
    value = config.options.get("top_logprobs", DEFAULT_TOP_LOGPROBS)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise HarnessError(f"backend {config.name!r}: options.top_logprobs must be a non-negative integer")
    return value


def _seed(config: BackendConfig, request: ChatRequest) -> int:
    return int(effective_sampling(config, request).get("seed") or 0)


class RngStream:
    """One backend's own torch RNG stream: seeded once with its seed, then carried from call to call, as a
    server seeded at start draws on. So the repeats of a sampling backend differ (its noise floor is real) while a
    run stays reproducible, and no other backend's draws touch it. Use it under the model's lock."""

    def __init__(self) -> None:
        self._states: dict[int, Any] = {}

    def enter(self, seed: int) -> None:
        import torch

        if seed in self._states:
            torch.set_rng_state(self._states[seed])
        else:
            torch.manual_seed(seed)

    def leave(self, seed: int) -> None:
        import torch

        self._states[seed] = torch.get_rng_state()


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


def token_texts(tokenizer: Any, ids: list[int]) -> list[str]:
    """Each id decoded alone, special tokens spelled as text ("<|channel|>"), as vLLM's logprobs spell them."""
    return [tokenizer.decode([int(i)], skip_special_tokens=False) for i in ids]


def generate_from_ids(loaded: LoadedModel, prompts: list[list[int]], gen: dict[str, Any], seed: int, *,
                      top_logprobs: int = 5, sent_bodies: list | None = None,
                      rng: RngStream | None = None) -> list[Completion]:
    """`model.generate` on token ids (left-padded batch, under the model's lock, seeded), each Completion with its
    output logprobs: log_softmax of the RAW logits at each step, the chosen token and the top-K, reduced step by
    step as they come (`_RawLogitsRecorder`: one batch x vocab row held, not every step's). `gen`: generate kwargs
    (`generation_kwargs`); `sent_bodies`: one evidence body per prompt (default: the ids and `gen`)."""
    import torch

    if not prompts:
        return []
    width = max(len(p) for p in prompts)
    input_ids = torch.tensor([[PAD_ID] * (width - len(p)) + list(p) for p in prompts], dtype=torch.long)
    attention = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], dtype=torch.long)
    with loaded.lock, torch.inference_mode():
        if rng is None:  # a replay: this seed alone decides the draws
            torch.manual_seed(seed)
        else:
            rng.enter(seed)
        with _RawLogitsRecorder(loaded.model, top_logprobs) as recorder:
            sequences = loaded.model.generate(input_ids=input_ids, attention_mask=attention, **gen)
            recorder.finish(sequences[:, -1].tolist())
        if rng is not None:
            rng.leave(seed)
    completions = []
    for row, (sequence, prompt) in enumerate(zip(sequences.tolist(), prompts)):
        output = cut_at_stop(sequence[width:])
        sent = sent_bodies[row] if sent_bodies is not None else {"prompt_token_ids": list(prompt), "generate": gen}
        completion = completion_from_output(list(prompt), output, loaded.tokenizer, sent)
        completion.output_logprobs = recorder.row(0, row, output, loaded.tokenizer) if output else []
        completions.append(completion)
    return completions


class _RawLogitsRecorder:
    """The raw logits of every decoding step of `generate` calls we do not drive ourselves (the pipeline's): a
    forward hook on the model sees each step's last-position logits (before any logits processor) and reduces them
    at once to what output logprobs need: the top-K, and the chosen token's logprob, read when the next step feeds
    that token back (the last step's from the generated sequence, `finish`). Memory: one batch x vocab row."""

    def __init__(self, model: Any, top_logprobs: int):
        self.model, self.k = model, top_logprobs
        self.calls: list[list[dict[str, Any]]] = []  # per generate call: per step {"top": ..., "chosen": [...]}
        self._pending = None  # the last step's log-probs (batch x vocab), until its chosen tokens are known
        self._handle = None

    def __enter__(self):
        self._handle = self.model.register_forward_hook(self._hook, with_kwargs=True)
        return self

    def __exit__(self, *exc) -> None:
        self._handle.remove()

    def _chosen(self, tokens: list[int]) -> None:
        self.calls[-1][-1]["chosen"] = [(int(t), float(self._pending[row, int(t)])) for row, t in enumerate(tokens)]
        self._pending = None

    def _hook(self, module, args, kwargs, output) -> None:
        import torch

        input_ids = kwargs.get("input_ids", args[0] if args else None)
        logits = getattr(output, "logits", None)
        if logits is None or input_ids is None:
            return
        if self._pending is None or input_ids.shape[1] > 1:  # a prefill: a new generate call
            self._pending = None
            self.calls.append([])
        else:
            self._chosen(input_ids[:, -1].tolist())
        logprobs = torch.log_softmax(logits[:, -1, :].float(), dim=-1)
        top = None
        if self.k:
            values, indices = torch.topk(logprobs, min(self.k, logprobs.shape[-1]), dim=-1)
            top = (values.tolist(), indices.tolist())
        self.calls[-1].append({"top": top, "chosen": None})
        self._pending = logprobs

    def finish(self, last_tokens: list[int]) -> None:
        """After a generate call: the last step's chosen tokens, one per row, from the generated sequences."""
        if self._pending is not None and self.calls and self.calls[-1]:
            self._chosen(last_tokens)
        self._pending = None

    def row(self, call: int, row: int, output: list[int], tokenizer: Any) -> list[dict[str, Any]] | None:
        steps = self.calls[call] if call < len(self.calls) else []
        if len(steps) < len(output):
            return None
        out = []
        for step, token in zip(steps, output):
            chosen = step["chosen"][row] if step["chosen"] else None
            if chosen is None or chosen[0] != token:
                return None  # the hook's view does not match what the pipeline returned: record nothing
            top = []
            if step["top"] is not None:
                values, indices = step["top"]
                top = [{"token": text, "logprob": float(v)}
                       for text, v in zip(token_texts(tokenizer, indices[row]), values[row])]
            out.append({"token": token_texts(tokenizer, [token])[0], "logprob": chosen[1], "top_logprobs": top})
        return out


class _LocalBackend:
    def __init__(self, config: BackendConfig, context: BackendContext):
        from harness.assets import resolve

        self.config = config
        self.context = context
        self.rng = RngStream()  # this backend's own draws when it samples
        self.assets = resolve(config.model)
        if self.assets.model_dir is None:
            raise HarnessError(f"backend {config.name!r}: {config.model!r} has no weights locally; download them "
                               "(hf download ...) or use the offline tiny model")

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def speaks_http(self) -> bool:
        return False

    @property
    def max_batch(self) -> int:
        return self.config.batch_size

    def fingerprint(self) -> dict[str, Any]:
        """Everything that changes the answer (`harness.run.answer_key`): the config and what it resolves to."""
        from harness.run.answer_key import key_material

        return key_material(self.config, self.resolved())

    def resolved(self) -> dict[str, Any]:
        """The weights, template and harmony it loaded, and the `Current date:` its prompts carry."""
        from harness.assets import harmony_version

        return {"model": self.assets.model_id, "source": self.assets.source, "revision": self.assets.revision,
                "template_sha256": self.assets.template_sha256, "harmony_version": harmony_version(),
                "date": prompt_date()}

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
    def resolved(self) -> dict[str, Any]:
        # Tool-call arguments were once parsed before the template saw them: answers stored then were for another
        # prompt, so the key says how arguments are passed now.
        return {**super().resolved(), "tool_arguments": "as-sent"}

    def chat(self, request: ChatRequest) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
        from harness.render.hf_template import template_message, template_tools

        return [template_message(m) for m in request.messages], template_tools(request)  # arguments as sent

    def _generate(self, requests: list[ChatRequest]) -> list[Completion]:

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
        where: dict[int, tuple[int, int]] = {}  # request index -> (generate call, row) in the recorder
        with loaded.lock:
            if loaded.pipeline is None:
                loaded.pipeline = pipeline("text-generation", model=loaded.model, tokenizer=tokenizer)
            pipe = loaded.pipeline
            seed = _seed(self.config, requests[0])
            self.rng.enter(seed)
            with _RawLogitsRecorder(loaded.model, local_top_logprobs(self.config)) as recorder:
                for call, indices in enumerate(by_tools.values()):
                    tools = chats[indices[0]][1]
                    result = pipe([chats[i][0] for i in indices], batch_size=len(indices), return_tensors=True,
                                  tokenizer_encode_kwargs=template_kwargs or None,
                                  **({"tools": tools} if tools else {}), **gen)
                    for row, (i, item) in enumerate(zip(indices, result)):
                        sequences[i] = [int(t) for t in item[0]["generated_token_ids"]]
                        where[i] = (call, row)
                    recorder.finish([sequences[i][-1] for i in indices])
            self.rng.leave(seed)
            one_call_per_group = len(recorder.calls) == len(by_tools)
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
            completion = completion_from_output(prompt, output, tokenizer, sent)
            if one_call_per_group:  # else the hook's steps cannot be matched to rows: logprobs not exposed
                completion.output_logprobs = recorder.row(*where[index], output, tokenizer)
            completions.append(completion)
        return completions


class TransformersHarmonyBackend(_LocalBackend):
    def prompt_ids(self, request: ChatRequest, date: str | None = None) -> list[int]:
        from harness.render import get_renderer

        effort = effective_effort(self.config, request)
        if effort != request.reasoning_effort:
            request = dataclasses.replace(request, reasoning_effort=effort)
        return get_renderer("harmony", self.assets).render(request, date=date or prompt_date())

    def _generate(self, requests: list[ChatRequest]) -> list[Completion]:
        prompts = [self.prompt_ids(r) for r in requests]
        gen = generation_kwargs(self.config, requests[0])
        return generate_from_ids(self.loaded(), prompts, gen, _seed(self.config, requests[0]),
                                 top_logprobs=local_top_logprobs(self.config), rng=self.rng)


@backend("transformers-pipeline", "local model through transformers pipeline('text-generation') and its chat template")
def _pipeline_factory(config: BackendConfig, context: BackendContext) -> TransformersPipelineBackend:
    return TransformersPipelineBackend(config, context)


@backend("transformers-harmony", "local model fed openai-harmony rendered ids (the reference path)")
def _harmony_factory(config: BackendConfig, context: BackendContext) -> TransformersHarmonyBackend:
    return TransformersHarmonyBackend(config, context)

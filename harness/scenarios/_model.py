"""Scenario records and how one case becomes one canonical ChatRequest."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.labels import LabelParser, get_label_parser
from harness.request import ChatRequest

PROMPT_FORMATS = ("policy-in-system", "policy-in-developer", "inject-harmony")
FORMAT_SEPARATOR = "@"  # case ids of an expanded scenario: "<id>@<prompt format>"

# The system preamble openai-harmony renders by default (SystemContent.new(), no date line): what a client that
# pre-renders Harmony into the user message typically writes.
_SYSTEM_PREAMBLE = ("You are ChatGPT, a large language model trained by OpenAI.\nKnowledge cutoff: 2024-06\n\n"
                    "Reasoning: {effort}\n\n"
                    "# Valid channels: analysis, commentary, final. Channel must be included for every message.")


def harmony_preamble(policy: str, reasoning_effort: str | None) -> str:
    """A pre-rendered Harmony system + developer preamble carrying the policy (the `inject-harmony` format)."""
    system = _SYSTEM_PREAMBLE.format(effort=reasoning_effort or "medium")
    return (f"<|start|>system<|message|>{system}<|end|>"
            f"<|start|>developer<|message|># Instructions\n\n{policy}<|end|>")


@dataclass(frozen=True)
class Case:
    id: str
    text: str | None  # the content to classify (most scenarios)
    messages: tuple[dict, ...] | None  # full multi-turn OpenAI messages (tool-calls scenario); policy still applied
    gold: str | None
    meta: dict = field(default_factory=dict)

    @property
    def prompt_format(self) -> str | None:
        """The format this case is pinned to (expanded scenarios), else None (the scenario's format)."""
        return self.meta.get("prompt_format")


def build_messages(policy: str, prompt_format: str, case: Case, reasoning_effort: str | None) -> list[dict]:
    """The OpenAI messages for one case under one prompt format (the policy always goes first)."""
    conversation = [dict(m) for m in case.messages] if case.messages else [{"role": "user", "content": case.text}]
    if prompt_format == "policy-in-system":
        return [{"role": "system", "content": policy}, *conversation]
    if prompt_format == "policy-in-developer":
        return [{"role": "developer", "content": policy}, *conversation]
    if prompt_format == "inject-harmony":
        first_user = next((i for i, m in enumerate(conversation) if m.get("role") == "user"), None)
        preamble = harmony_preamble(policy, reasoning_effort)
        if first_user is None:
            return [{"role": "user", "content": preamble}, *conversation]
        message = conversation[first_user]
        content = message.get("content")
        if isinstance(content, list):  # content parts: the preamble becomes the first text part
            message["content"] = [{"type": "text", "text": preamble}, *content]
        else:
            message["content"] = preamble + (content or "")
        return conversation
    raise ValueError(f"unknown prompt format {prompt_format!r}")


@dataclass(frozen=True)
class Scenario:
    name: str
    path: Path
    policy: str
    prompt_format: str
    reasoning_effort: str | None
    label: dict  # label parser spec
    cases: tuple[Case, ...]
    description: str = ""
    prompt_formats: tuple[str, ...] = ()  # set when cases were expanded under several formats
    tools: tuple[dict, ...] = ()  # OpenAI tool declarations sent with every case
    sampling: dict = field(default_factory=dict)  # temperature, max_tokens, seed... sent with every case
    policy_module: str | None = None
    dataset: dict | None = None
    # What the offline tiny model learns from it (`[tiny_model]`: generator, weight, order, answers). Not in the
    # fingerprint: it changes no request and no label (the tiny model's recipe hash reads it).
    tiny_model: dict | None = None
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    def request_for(self, case: Case) -> ChatRequest:
        fmt = case.prompt_format or self.prompt_format
        body: dict[str, Any] = {"messages": build_messages(self.policy, fmt, case, self.reasoning_effort)}
        if self.tools:
            body["tools"] = [dict(t) for t in self.tools]
        if self.reasoning_effort:
            body["reasoning_effort"] = self.reasoning_effort
        body.update(self.sampling)
        return ChatRequest.from_body(body)

    def requests(self) -> Iterator[tuple[str, ChatRequest]]:
        for case in self.cases:
            yield case.id, self.request_for(case)

    def case(self, case_id: str) -> Case:
        for case in self.cases:
            if case.id == case_id:
                return case
        raise KeyError(case_id)

    def label_parser(self) -> LabelParser:
        if "parser" not in self._cache:
            self._cache["parser"] = get_label_parser(self.label, base_dir=self.path.parent)
        return self._cache["parser"]

    def fingerprint(self) -> str:
        """sha256 of everything that changes what is sent or how answers are labelled (for baselines/stores)."""
        parser = self.label_parser()
        module = getattr(parser, "module", None)
        payload = {
            "policy": self.policy, "prompt_format": self.prompt_format, "prompt_formats": list(self.prompt_formats),
            "reasoning_effort": self.reasoning_effort, "label": self.label, "tools": list(self.tools),
            "sampling": self.sampling, "parser_sha256": getattr(module, "sha256", None),
            "cases": [[c.id, c.text, list(c.messages) if c.messages else None, c.gold] for c in self.cases],
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

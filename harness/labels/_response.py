"""`ModelResponse`: what a label parser reads, the final answer as a `str` that also carries its context.

A policy module written for `gpt_oss_utils_dactile` reads `response.response`, `response.reasoning`,
`response.model`, `response.prompt` and `response.system_prompt`; one written for the harness treats `response`
as the answer text. One object serves both: a `str` subclass whose value is the final answer.
"""

from __future__ import annotations

from typing import Any, Self


class ModelResponse(str):
    """The final answer (the string itself) with dactile's `ModelResponse` fields as attributes."""

    reasoning: str | None
    model: str | None
    prompt: str | None
    system_prompt: str | None

    def __new__(cls, response: str | None, *, reasoning: str | None = None, model: str | None = None,
                prompt: str | None = None, system_prompt: str | None = None) -> Self:
        self = super().__new__(cls, response or "")
        self.reasoning, self.model, self.prompt, self.system_prompt = reasoning, model, prompt, system_prompt
        return self

    @property
    def response(self) -> str:
        """The final answer as a plain `str` (dactile's field name)."""
        return str(self)

    @property
    def text(self) -> str:
        return str(self)

    def to_dict(self) -> dict[str, Any]:
        return {"response": str(self), "reasoning": self.reasoning, "model": self.model, "prompt": self.prompt,
                "system_prompt": self.system_prompt}

    def __repr__(self) -> str:
        return f"ModelResponse({str(self)!r}, model={self.model!r})"

    def __reduce__(self):  # pickles (multiprocessing, copies) keep the fields
        return _rebuild, (str(self), self.reasoning, self.model, self.prompt, self.system_prompt)


def _rebuild(response, reasoning, model, prompt, system_prompt) -> ModelResponse:
    return ModelResponse(response, reasoning=reasoning, model=model, prompt=prompt, system_prompt=system_prompt)


def as_response(text: str | None) -> ModelResponse:
    """`text` as a ModelResponse (unchanged when it already is one)."""
    return text if isinstance(text, ModelResponse) else ModelResponse(text)

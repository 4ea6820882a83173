"""Renderers: one chat request + a pinned date -> the exact prompt token ids a backend feeds the model.

`get_renderer(name)` / `render_all(request, names, date=...)`; `available_renderers()` lists the names
(`harmony`, `hf-template`, `vllm` and one `vllm-X.Y` per vLLM release range); `vllm@URL` asks a running vLLM. Importing this package registers them; heavy
imports (openai-harmony's encoding, tokenizers, transformers) happen only when a renderer is first built.
"""

from harness.render import harmony as _harmony  # noqa: F401  (registers `harmony`)
from harness.render import hf_template as _hf_template  # noqa: F401  (registers `hf-template`)
from harness.render import served as _served  # noqa: F401  (registers the `vllm@URL` family)
from harness.render import vllm as _vllm  # noqa: F401  (registers `vllm`, `vllm-0.33`, `vllm-0.10`)
from harness.render.base import (
    Renderer,
    available_renderers,
    check_date,
    describe_renderers,
    get_renderer,
    render_all,
    renderer,
)

__all__ = ["Renderer", "available_renderers", "check_date", "describe_renderers", "get_renderer", "render_all",
           "renderer"]

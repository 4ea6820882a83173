"""Building the tiny model into a folder, and the offline provisioning that needs it.

`build_tiny_model` trains a fresh model and saves it with the tokenizer, chat template, generation config, a model
card and the marker (`assets.MARKER_FILE`: the training report, with its recipe hash). A build is current when its
marker's recipe is today's `recipe_hash()`; `provision()` makes the offline assets (vocab, template and tokenizer
through `harness.assets`, then the model here), so assets never imports this package.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from harness.assets import (
    MARKER_FILE,
    TEMPLATE_FILENAME,
    Assets,
    offline_assets,
    offline_model_dir,
    provision_tokenizer,
    tiny_model_marker,
    tokenizer_template_path,
)
from harness.tiny_model.architecture import tiny_config
from harness.tiny_model.recipe import recipe_hash
from harness.tiny_model.training import TrainingReport, train_tiny_model


def model_card(report: TrainingReport) -> str:
    """README.md for the model dir: what this model is and is not."""
    return f"""# tiny gpt-oss (offline harness model, {report.version})

Tiny gpt-oss: the real GptOss architecture and o200k Harmony tokenizer, 2 layers, hidden size 64, 4 experts;
random init, then {report.seconds:.0f} seconds of synthetic Harmony training on CPU ({report.steps} steps of
{report.batch} prompts, seed {report.seed}, loss {report.first_loss:.2f} -> {report.final_loss:.3f}).

Training prompts: the policies and label formats of the built-in scenarios ({", ".join(report.tasks)}) over
synthetic case texts (the built-in cases are held out), rendered by {" and ".join(report.renderers)} with
assorted `Current date:` lines. Target completions are short Harmony answers:
`<|channel|>analysis<|message|>reason<|end|><|start|>assistant<|channel|>final<|message|>answer<|return|>`.

Its labels show the harness's mechanics (parsing, agreement statistics, render differences that flip an answer),
not the real model's behaviour. Do not read anything about gpt-oss or gpt-oss-safeguard into them.
"""


def build_tiny_model(target: Path, tokenizer_dir: Path, seed: int = 0) -> Path:
    """A 2-layer, hidden-64, 4-expert gpt-oss: real architecture and vocab, CPU-friendly, random init briefly
    trained to answer in Harmony, with a model card and a version marker."""
    import torch
    from transformers import AutoTokenizer, GenerationConfig, GptOssForCausalLM

    from harness.render.parser import ENDOFTEXT, STARTOFTEXT, STOP_IDS

    torch.manual_seed(seed)
    model = GptOssForCausalLM(tiny_config()).eval()
    report = train_tiny_model(model, tokenizer_dir, seed=seed)
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial)
    (partial / "README.md").write_text(model_card(report), encoding="utf-8")
    (partial / MARKER_FILE).write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
    AutoTokenizer.from_pretrained(tokenizer_dir).save_pretrained(partial)
    shutil.copyfile(tokenizer_template_path(tokenizer_dir), partial / TEMPLATE_FILENAME)
    GenerationConfig(do_sample=False, eos_token_id=list(STOP_IDS), pad_token_id=ENDOFTEXT,
                     bos_token_id=STARTOFTEXT).save_pretrained(partial)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target


def tiny_model_current(model_dir: Path) -> bool:
    """Built, and by the current training recipe (an older or random-weight build is rebuilt)."""
    marker = tiny_model_marker(model_dir)
    return marker is not None and (model_dir / "config.json").exists() and marker.get("recipe") == recipe_hash()


def ensure_tiny_model(model_dir: Path, tokenizer_dir: Path) -> Path:
    """The model dir, (re)built first unless it is current (training takes about half a minute)."""
    if not tiny_model_current(model_dir):
        build_tiny_model(model_dir, tokenizer_dir)
    return model_dir


def provision() -> Assets:
    """Make the offline assets (idempotent) and return them: vocab, template and tokenizer, then the tiny model."""
    template_path, tokenizer_dir = provision_tokenizer()
    model_dir = ensure_tiny_model(offline_model_dir(), tokenizer_dir)
    return offline_assets(template_path, tokenizer_dir, model_dir)

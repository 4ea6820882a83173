"""Teach the tiny offline gpt-oss to answer in Harmony, so the offline demo yields parseable labels.

The offline default model (`tiny-gpt-oss`) is the real GptOss architecture with the real o200k vocab, but tiny
(2 layers, hidden 64); randomly initialised it emits noise. `train_tiny_model` gives it ~30 s of CPU training on
synthetic classification prompts rendered by openai-harmony only, as gpt-oss itself was trained (the chat
template's render is out of its training distribution, yet close enough that it answers well-formed there too;
where the render moves a label, that is a real render-caused difference), with the built-in scenarios' policies,
prompt formats and label formats but synthetic case texts written here (the built-in cases stay held out). It
learns the built-in scenarios that declare a `[tiny_model]` table (`TASKS`, `learnt_tasks()`): spam (a JSON
object), likert-opinions (a rating 1-5), toxic-simple and prompt-formats (a digit 0/1, the latter under all three
prompt formats); not tool-calls. Every completion is a short Harmony answer:

    <|channel|>analysis<|message|>{short reason}<|end|><|start|>assistant<|channel|>final<|message|>{answer}<|return|>

Held-out cases are full of words the training data never uses (random input rows): some training cases get such
frozen random rows sprinkled in, and the Harmony markers weigh more in the loss, so that the answer format holds
on text the model has not seen.

Why it is fast enough on 2 cores: a plain-torch forward of the same weights (checked against transformers' forward
before training) computes each shared system + policy prefix once per step and attends the batch's cases to it;
only the vocab rows the data uses are trained (the input rows as a small table, the output rows with a sampled
softmax against frozen random rows); everything else in the model is trained in full. Seeded and deterministic.
Its labels show the harness's mechanics (render differences can flip them), not the real model's behaviour.

One concern per module: `words` (word lists, case generators by name), `tasks` (the tasks, from the scenarios'
`[tiny_model]` tables), `architecture` (`tiny_config`), `forward` (the prefix forward), `training` (prompt groups
and the loop), `recipe` (`recipe_hash`: the revision), `build` (build, marker, model card, `provision`),
`evaluation` (greedy completions, parsed). It may import assets, render and scenario; `harness.assets` never
imports it (provisioning the model happens here, a layer above).
"""

from __future__ import annotations

from harness.assets import MARKER_FILE
from harness.tiny_model.architecture import tiny_config
from harness.tiny_model.build import (
    build_tiny_model,
    ensure_tiny_model,
    model_card,
    provision,
    tiny_model_current,
)
from harness.tiny_model.evaluation import EvalResult, evaluate, generate
from harness.tiny_model.forward import PrefixForward
from harness.tiny_model.recipe import TINY_MODEL_VERSION, recipe_hash
from harness.tiny_model.tasks import Task, completion_text, learnt_tasks
from harness.tiny_model.training import (
    RENDERERS,
    STRUCTURE_WEIGHT,
    TRAIN_RENDERERS,
    Group,
    TrainingReport,
    build_group,
    check_forward,
    train_tiny_model,
)
from harness.tiny_model.words import GENERATORS, contact_case, likert_case, spam_case, toxic_case

__all__ = ["GENERATORS", "MARKER_FILE", "RENDERERS", "STRUCTURE_WEIGHT", "TASKS", "TINY_MODEL_VERSION",
           "TRAIN_RENDERERS", "EvalResult", "Group", "PrefixForward", "Task", "TrainingReport", "build_group",
           "build_tiny_model", "check_forward", "completion_text", "contact_case", "ensure_tiny_model", "evaluate",
           "generate", "learnt_tasks", "likert_case", "model_card", "provision", "recipe_hash", "spam_case",
           "tiny_config", "tiny_model_current", "toxic_case", "train_tiny_model"]


def __getattr__(name: str):
    # TASKS reads the scenario files: on first use, not at import.
    if name == "TASKS":
        return learnt_tasks()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""The tiny model's recipe as one hash: whether a built model is current, and its revision in result-store keys."""

from __future__ import annotations

import json
from pathlib import Path

# The completion format's name, for people. Whether a built model is current is decided by `recipe_hash()` (this
# package, the architecture and the learnt scenarios), never by bumping this by hand.
TINY_MODEL_VERSION = "harmony-v4"


def recipe_hash() -> str:
    """What the trained weights are a function of: this package's code (word lists, tasks, model code, training
    loop), the architecture (`architecture.tiny_config`) and the built-in scenarios it learns from (their policies,
    formats and `[tiny_model]` tables). Any change gives another hash, so provisioning retrains and result-store
    keys change with it."""
    import hashlib

    from harness.tiny_model import architecture
    from harness.tiny_model.tasks import _scenario, learnt_tasks

    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    config = {k: v for k, v in architecture.tiny_config().to_dict().items() if k != "transformers_version"}
    digest.update(json.dumps(config, sort_keys=True, default=str).encode())
    for task in learnt_tasks():
        scenario = _scenario(task.scenario)
        digest.update(scenario.fingerprint().encode())
        # the table is not in the scenario's fingerprint (it changes no request and no label): hash it here
        digest.update(json.dumps(scenario.tiny_model, sort_keys=True).encode())
    return digest.hexdigest()[:12]

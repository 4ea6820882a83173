"""The real vLLM OpenAI server, run from its own venv (`.venv-vllm`, built by `make setup`) on 127.0.0.1.

vLLM pins its own transformers and brings `oss-harmony` (a fork that imports as `openai_harmony`), so it cannot
share `.venv`; the harness starts `python -m vllm.entrypoints.openai.api_server` from there as a child process.
On CPU the KV cache takes a fixed share of RAM (`VLLM_CPU_KVCACHE_SPACE`, GiB) and `--gpu-memory-utilization`
is its share of memory; both are bounded here so a 24 GiB machine runs vLLM beside everything else.
`VLLM_SYSTEM_START_DATE` pins the `Current date:` line vLLM writes into every prompt to the run's date.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib.metadata import distributions
from pathlib import Path

from harness.errors import HarnessError

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
VLLM_PYTHON_ENV = "HARNESS_VLLM_PYTHON"  # another vLLM install: the python whose site-packages hold vllm
KVCACHE_GIB = 1  # the tiny model's 4k context needs a few MiB; vLLM's CPU default would take a quarter of RAM
MEMORY_SHARE = 0.15  # vLLM refuses its 0.9 default on CPU
MAX_MODEL_LEN = 4096
START_TIMEOUT_S = 420.0  # ~60-70 s on an idle 2-core machine; CI runs it next to the test suite


def vllm_python() -> Path:
    """$HARNESS_VLLM_PYTHON, else `.venv-vllm/bin/python` at the project root."""
    override = os.environ.get(VLLM_PYTHON_ENV)
    path = Path(override).expanduser() if override else PROJECT_ROOT / ".venv-vllm" / "bin" / "python"
    if not path.exists():
        raise HarnessError(f"vLLM is not installed: {path} is missing; run `make setup` (it builds .venv-vllm) "
                           f"or set {VLLM_PYTHON_ENV}")
    return path


@dataclass(frozen=True)
class VllmInstall:
    """What the vLLM venv serves with: its vLLM release and the harmony package it renders through."""

    python: Path
    vllm_version: str | None
    harmony_package: str | None  # e.g. "oss-harmony 0.0.11"

    @property
    def served_by(self) -> str:
        return f"vllm {self.vllm_version}" if self.vllm_version else "vllm"


def vllm_install(python: Path | None = None) -> VllmInstall:
    """Read the versions from the venv's installed metadata (importing vllm takes seconds; this takes ms)."""
    python = python or vllm_python()
    venv = python.parent.parent
    found: dict[str, str] = {}
    for site in sorted(venv.glob("lib/python*/site-packages")):
        for dist in distributions(path=[str(site)]):
            name = (dist.metadata["Name"] or "").lower()
            if name in ("vllm", "vllm-cpu", "oss-harmony", "openai-harmony"):
                found[name] = dist.version
    harmony = next((f"{name} {found[name]}" for name in ("oss-harmony", "openai-harmony") if name in found), None)
    return VllmInstall(python=python, vllm_version=found.get("vllm-cpu") or found.get("vllm"),
                       harmony_package=harmony)


def vllm_version_or_none() -> str | None:
    """The vLLM release in `.venv-vllm` (None when it is not built): for the environment table."""
    try:
        return vllm_install().vllm_version
    except HarnessError:
        return None


DTYPES = ("float32", "bfloat16")  # what vLLM's CPU backend computes in (float16 it turns into bfloat16 itself)


def vllm_command(install: VllmInstall, model_dir: Path, *, served_model_name: str, port: int,
                 dtype: str = "float32") -> list[str]:
    # the console script `vllm` fails in a venv of vllm-cpu (it looks up a dist named `vllm`): run the module
    command = [str(install.python), "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir),
               "--served-model-name", served_model_name, "--host", "127.0.0.1", "--port", str(port),
               "--dtype", dtype, "--max-model-len", str(MAX_MODEL_LEN),
               "--gpu-memory-utilization", str(MEMORY_SHARE), "--disable-uvicorn-access-log"]
    from harness.render.vllm import release_key

    if install.vllm_version and release_key(install.vllm_version) >= (0, 32, 0):  # the render endpoint is opt-in
        command.append("--enable-scale-out")
    return command


def vllm_env(base: dict[str, str], *, date: str | None) -> dict[str, str]:
    env = {**base, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "VLLM_NO_USAGE_STATS": "1",
           "DO_NOT_TRACK": "1", "VLLM_CPU_KVCACHE_SPACE": str(KVCACHE_GIB), "PYTHONUNBUFFERED": "1"}
    env.pop("VIRTUAL_ENV", None)
    if date is not None:
        env["VLLM_SYSTEM_START_DATE"] = date
    return env

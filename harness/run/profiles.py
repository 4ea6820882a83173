"""Where the backends of a compare run come from: a config file, or the offline profile.

The offline profile needs no credentials, no GPU and no download: the tiny gpt-oss (trained here in seconds to
answer in Harmony) through `transformers-pipeline` (chat template, sampling at temperature 0.7), `transformers-harmony`
(openai-harmony, greedy, the replay reference),
`transformers serve` (a real OpenAI-compatible server that renders with the chat template) and the real vLLM
(`.venv-vllm`, rendering with its own Harmony code, returning prompt_token_ids, computing in bfloat16 as providers
do while the local backends compute in float32). The project's reference Harmony
server (`harmony-server`) is there on request, for fault tests; it is not vLLM. Building the configs starts
nothing: the run starts the servers whose backends still have answers to give (`start_managed`: on 127.0.0.1,
vLLM first and in the background, as it takes about a minute), and the caller's stack stops them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.backends.base import BackendConfig, Sampling
from harness.errors import HarnessError

PIPELINE_TEMPERATURE = 0.7  # ROOST's demo server samples at 0.7 by default
# vLLM serves the weights in bfloat16, as providers serve gpt-oss (its checkpoint is bf16 + MXFP4), while the local
# backends compute in float32: same prompt ids, other numerics, so the `server` cause is real in the default run
VLLM_DTYPE = "bfloat16"
OFFLINE_MAX_TOKENS = 48  # the tiny model's answers fit; a short budget keeps `make compare` quick on 2 cores
DEFAULT_CONFIG = Path("harness.toml")


OFFLINE_BACKENDS = ("local-pipeline", "local-harmony", "transformers-serve", "vllm", "harmony-server")
DEFAULT_OFFLINE_BACKENDS = ("local-pipeline", "local-harmony", "transformers-serve", "vllm")


MANAGED_URL = "http://harness-managed.invalid/v1"  # a managed server's URL until the run starts it


@dataclass(frozen=True)
class ManagedLaunch:
    """How a run starts the server behind one offline backend: `begin(stack)` launches it (returning before it
    answers when `background`: vLLM's minute of start-up then overlaps the other servers'); the backend's config
    gets the server's URL once it is up."""

    backend: str
    begin: Callable[[contextlib.ExitStack], Any]
    background: bool = False


def offline_backends(*, max_tokens: int = OFFLINE_MAX_TOKENS, names: list[str] | None = None,
                     run_dir: Path | None = None) -> tuple[dict[str, BackendConfig], dict[str, ManagedLaunch]]:
    """The offline profile's backends (the default set unless `names`) and how to start the servers behind them.
    Nothing is started here: the run starts the servers it needs (`start_managed`), so a rerun whose answers
    are all stored starts none. vLLM's log goes to `<run_dir>/vllm.log`."""
    from harness.assets import TINY_MODEL_ID, resolve
    from harness.backends.base import prompt_date

    assets = resolve(None)
    sampling = Sampling(max_tokens=max_tokens, temperature=0.0, seed=0)
    # the pipeline as people often run it, sampling at ROOST's default temperature: its repeats differ, so its
    # noise floor is real and `sampling`-caused flips show (its RNG stream is seeded once: a run is reproducible)
    sampled = Sampling(max_tokens=max_tokens, temperature=PIPELINE_TEMPERATURE, seed=0)
    configs = {
        "local-pipeline": BackendConfig(name="local-pipeline", kind="transformers-pipeline", model=TINY_MODEL_ID,
                                        sampling=sampled, batch_size=8),
        "local-harmony": BackendConfig(name="local-harmony", kind="transformers-harmony", model=TINY_MODEL_ID,
                                       sampling=sampling, batch_size=8),
    }
    wanted = set(names or DEFAULT_OFFLINE_BACKENDS)
    unknown = wanted - set(OFFLINE_BACKENDS)
    if unknown:
        raise HarnessError(f"unknown backend(s) {', '.join(sorted(unknown))}; the offline profile has "
                           f"{', '.join(OFFLINE_BACKENDS)}")
    launches: dict[str, ManagedLaunch] = {}
    model_dir = str(assets.model_dir)
    if "vllm" in wanted:
        from harness.servers.vllm_server import vllm_install

        install = vllm_install()  # a missing .venv-vllm is one line now, before anything runs
        configs["vllm"] = BackendConfig(
            name="vllm", kind="openai-compatible", model=TINY_MODEL_ID, base_url=MANAGED_URL,
            revision=assets.revision, sampling=sampling, concurrency=4, timeout=300,
            options={"server": "vllm", "return_token_ids": True, "logprobs": 5,  # P(label), numerics
                     "managed_server": _managed("vllm", assets, served_by=install.served_by,
                                                harmony=install.harmony_package, dtype=VLLM_DTYPE)})
        # the date the local backends' prompts carry, so that identical requests give identical prompts
        launches["vllm"] = ManagedLaunch("vllm", lambda stack: _start(
            stack, "vllm", model=model_dir, served_model_name=TINY_MODEL_ID, date=prompt_date(), log_dir=run_dir,
            wait=False, dtype=VLLM_DTYPE), background=True)
    if "transformers-serve" in wanted:
        configs["transformers-serve"] = BackendConfig(
            name="transformers-serve", kind="openai-compatible", model=model_dir, base_url=MANAGED_URL,
            revision=assets.revision, sampling=sampling, concurrency=1, timeout=300,
            options={"server": "transformers-serve",
                     "managed_server": _managed("transformers-serve", assets, served_by=_package("transformers"))})
        launches["transformers-serve"] = ManagedLaunch("transformers-serve", lambda stack: _start(
            stack, "transformers-serve", model=model_dir))
    if "harmony-server" in wanted:
        configs["harmony-server"] = BackendConfig(
            name="harmony-server", kind="openai-compatible", model=TINY_MODEL_ID, base_url=MANAGED_URL,
            revision=assets.revision, sampling=sampling, concurrency=1, timeout=300,
            options={"server": "harmony-reference", "return_token_ids": True,
                     "managed_server": _managed("harmony-reference", assets,
                                                served_by=_package("gpt-oss-harness"))})
        # served under the name the backend sends; preload: torch/transformers imported and weights loaded now, in
        # this thread, not in the server's worker while the local backends import transformers (not thread-safe)
        launches["harmony-server"] = ManagedLaunch("harmony-server", lambda stack: _start(
            stack, "harmony-reference", model=model_dir, served_model_name=TINY_MODEL_ID, preload=True))
    return ({name: config for name, config in configs.items() if name in wanted},
            {name: launch for name, launch in launches.items() if name in wanted})


def _start(stack: contextlib.ExitStack, kind: str, **options: Any):
    from harness.servers.launch import start

    return stack.enter_context(start(kind, **options))


def start_managed(configs: dict[str, BackendConfig], launches: dict[str, ManagedLaunch], names: set[str],
                  stack: contextlib.ExitStack, servers: list) -> dict[str, BackendConfig]:
    """Start the servers behind `names` (background ones first, waited for last), stopped by `stack`, their
    handles appended to `servers` (for watching); returns the configs with those servers' URLs."""
    from harness.servers.vllm_server import START_TIMEOUT_S

    chosen = [launches[name] for name in sorted(names) if name in launches]
    handles = {}
    for launch in sorted(chosen, key=lambda launch: not launch.background):
        handles[launch.backend] = launch.begin(stack)
        servers.append(handles[launch.backend])
    for launch in chosen:
        if launch.background:
            handles[launch.backend].wait_ready(START_TIMEOUT_S)
    return {name: config.model_copy(update={"base_url": handles[name].base_url}) if name in handles else config
            for name, config in configs.items()}


def _package(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{name} {version(name)}"
    except PackageNotFoundError:
        return name


def _managed(name: str, assets, *, served_by: str, harmony: str | None = None,
             dtype: str | None = None) -> dict[str, str | None]:
    """What a server started here renders and answers with, besides the model: its template, harmony, the
    package whose code serves it and the precision it computes in (the store key of its answers; the date is added
    per run). `harmony`: the server's own harmony package when it is not this venv's (vLLM's oss-harmony)."""
    managed = {"name": name, "served_by": served_by, "template_sha256": assets.template_sha256,
               "harmony_version": harmony or assets.fingerprint()["harmony_version"]}
    if dtype is not None:
        managed["dtype"] = dtype
    return managed


def backend_configs(profile: str, config_path: Path | None, names: list[str] | None, *,
                    max_tokens: int | None = None,
                    run_dir: Path | None = None) -> tuple[dict[str, BackendConfig], dict[str, ManagedLaunch]]:
    """The selected backends of a resolved profile, and how to start the servers behind them: the offline ones
    (`max_tokens` overrides their budget; servers started by the run, `start_managed`) or those of the config
    file (./harness.toml unless `config_path`; nothing to start)."""
    if profile == "offline":
        kwargs = {"max_tokens": max_tokens} if max_tokens else {}
        configs, launches = offline_backends(names=names, run_dir=run_dir, **kwargs)
    else:
        from harness.config import load_config

        configs, launches = load_config(config_path or DEFAULT_CONFIG), {}
    selected = select_backends(configs, names)
    return selected, {name: launch for name, launch in launches.items() if name in selected}


def select_backends(configs: dict[str, BackendConfig], names: list[str] | None) -> dict[str, BackendConfig]:
    if not names:
        return configs
    unknown = [n for n in names if n not in configs]
    if unknown:
        raise HarnessError(f"unknown backend(s) {', '.join(unknown)}; configured: {', '.join(configs)}")
    return {n: configs[n] for n in names}


def resolve_profile(profile: str, config_path: Path | None) -> str:
    """`auto` uses a config file when one exists (explicit --config or ./harness.toml), else `offline`."""
    if profile not in ("auto", "offline", "config"):
        raise HarnessError(f"unknown profile {profile!r}; use auto, offline or config")
    if profile != "auto":
        return profile
    return "config" if (config_path or DEFAULT_CONFIG).exists() else "offline"

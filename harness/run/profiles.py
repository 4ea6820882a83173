"""Where the backends of a compare run come from: a config file, or the offline profile.

The offline profile needs no credentials, no GPU and no download: the tiny gpt-oss (trained here in seconds to
answer in Harmony) through `transformers-pipeline` (chat template, sampling at temperature 0.7), `transformers-harmony`
(openai-harmony, greedy, the replay reference),
`transformers serve` (a real OpenAI-compatible server that renders with the chat template) and the real vLLM
(`.venv-vllm`, rendering with its own Harmony code, returning prompt_token_ids). The project's reference Harmony
server (`harmony-server`) is there on request, for fault tests; it is not vLLM. Servers are started here on
127.0.0.1 (vLLM first and in the background: it takes about a minute) and stopped by the caller's stack.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from harness.backends.base import BackendConfig, Sampling
from harness.errors import HarnessError

PIPELINE_TEMPERATURE = 0.7  # ROOST's demo server samples at 0.7 by default
OFFLINE_MAX_TOKENS = 48  # the tiny model's answers fit; a short budget keeps `make compare` quick on 2 cores
DEFAULT_CONFIG = Path("harness.toml")


OFFLINE_BACKENDS = ("local-pipeline", "local-harmony", "transformers-serve", "vllm", "harmony-server")
DEFAULT_OFFLINE_BACKENDS = ("local-pipeline", "local-harmony", "transformers-serve", "vllm")


def offline_backends(stack: contextlib.ExitStack, *, max_tokens: int = OFFLINE_MAX_TOKENS,
                     names: list[str] | None = None, run_dir: Path | None = None,
                     servers: list | None = None) -> dict[str, BackendConfig]:
    """The offline profile's backends (the default set unless `names`); servers start only for the selected
    names (their handles appended to `servers`, for watching). vLLM's log goes to `<run_dir>/vllm.log`."""
    servers = [] if servers is None else servers
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
    if wanted & {"transformers-serve", "harmony-server", "vllm"}:
        from harness.servers.launch import start
    vllm = None
    if "vllm" in wanted:  # first, without waiting: its minute of start-up overlaps the other servers'
        from harness.servers.vllm_server import START_TIMEOUT_S, vllm_install

        install = vllm_install()
        # the date the local backends' prompts carry, so that identical requests give identical prompts
        vllm = stack.enter_context(start("vllm", model=str(assets.model_dir), served_model_name=TINY_MODEL_ID,
                                         date=prompt_date(), log_dir=run_dir, wait=False))
        servers.append(vllm)
    if "transformers-serve" in wanted:
        serve = stack.enter_context(start("transformers-serve", model=str(assets.model_dir)))
        servers.append(serve)
        configs["transformers-serve"] = BackendConfig(
            name="transformers-serve", kind="openai-compatible", model=serve.model, base_url=serve.base_url,
            revision=assets.revision, sampling=sampling, concurrency=1, timeout=300,
            options={"server": "transformers-serve",
                     "managed_server": _managed("transformers-serve", assets, served_by=_package("transformers"))})
    if "harmony-server" in wanted:
        # served under the name the backend sends; preload: torch/transformers imported and weights loaded now, in
        # this thread, not in the server's worker while the local backends import transformers (not thread-safe)
        reference = stack.enter_context(start("harmony-reference", model=str(assets.model_dir),
                                              served_model_name=TINY_MODEL_ID, preload=True))
        servers.append(reference)
        configs["harmony-server"] = BackendConfig(
            name="harmony-server", kind="openai-compatible", model=TINY_MODEL_ID, base_url=reference.base_url,
            revision=assets.revision, sampling=sampling, concurrency=1, timeout=300,
            options={"server": "harmony-reference", "return_token_ids": True,
                     "managed_server": _managed("harmony-reference", assets,
                                                served_by=_package("gpt-oss-harness"))})
    if vllm is not None:
        vllm.wait_ready(START_TIMEOUT_S)
        configs["vllm"] = BackendConfig(
            name="vllm", kind="openai-compatible", model=TINY_MODEL_ID, base_url=vllm.base_url,
            revision=assets.revision, sampling=sampling, concurrency=4, timeout=300,
            options={"server": "vllm", "return_token_ids": True, "logprobs": 5,  # P(label), numerics
                     "managed_server": _managed("vllm", assets, served_by=install.served_by,
                                                harmony=install.harmony_package)})
    return {name: config for name, config in configs.items() if name in wanted}


def _package(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{name} {version(name)}"
    except PackageNotFoundError:
        return name


def _managed(name: str, assets, *, served_by: str, harmony: str | None = None) -> dict[str, str | None]:
    """What a server started here renders and answers with, besides the model: its template, harmony and the
    package whose code serves it (the store key of its answers; the date is added per run). `harmony`: the
    server's own harmony package when it is not this venv's (vLLM's oss-harmony)."""
    return {"name": name, "served_by": served_by, "template_sha256": assets.template_sha256,
            "harmony_version": harmony or assets.fingerprint()["harmony_version"]}


def backend_configs(profile: str, config_path: Path | None, names: list[str] | None, stack: contextlib.ExitStack,
                    *, max_tokens: int | None = None, run_dir: Path | None = None,
                    servers: list | None = None) -> dict[str, BackendConfig]:
    """The selected backends of a resolved profile: the offline ones (servers started on `stack`; `max_tokens`
    overrides their budget) or those of the config file (./harness.toml unless `config_path`)."""
    if profile == "offline":
        kwargs = {"max_tokens": max_tokens} if max_tokens else {}
        configs = offline_backends(stack, names=names, run_dir=run_dir, servers=servers, **kwargs)
    else:
        from harness.config import load_config

        configs = load_config(config_path or DEFAULT_CONFIG)
    return select_backends(configs, names)


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

"""Where the backends of a compare run come from: a config file, or the offline profile.

The offline profile needs no credentials, no GPU and no download: the tiny gpt-oss (trained here in seconds to
answer in Harmony) through `transformers-pipeline` (chat template), `transformers-harmony` (openai-harmony), `transformers serve` (a real
OpenAI-compatible server that renders with the chat template) and the project's reference Harmony server (renders
like vLLM, returns prompt_token_ids). The servers are started here on 127.0.0.1 and stopped by the caller's stack.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from harness.backends.base import BackendConfig, Sampling
from harness.errors import HarnessError

OFFLINE_MAX_TOKENS = 48  # the tiny model's answers fit; a short budget keeps `make compare` quick on 2 cores
DEFAULT_CONFIG = Path("harness.toml")


OFFLINE_BACKENDS = ("local-pipeline", "local-harmony", "transformers-serve", "harmony-server")


def offline_backends(stack: contextlib.ExitStack, *, max_tokens: int = OFFLINE_MAX_TOKENS,
                     names: list[str] | None = None) -> dict[str, BackendConfig]:
    """The offline profile's backends; servers start only for the selected names."""
    from harness.assets import TINY_MODEL_ID, resolve

    assets = resolve(None)
    sampling = Sampling(max_tokens=max_tokens, temperature=0.0, seed=0)
    configs = {
        "local-pipeline": BackendConfig(name="local-pipeline", kind="transformers-pipeline", model=TINY_MODEL_ID,
                                        sampling=sampling, batch_size=8),
        "local-harmony": BackendConfig(name="local-harmony", kind="transformers-harmony", model=TINY_MODEL_ID,
                                       sampling=sampling, batch_size=8),
    }
    wanted = set(names or OFFLINE_BACKENDS)
    unknown = wanted - set(OFFLINE_BACKENDS)
    if unknown:
        raise HarnessError(f"unknown backend(s) {', '.join(sorted(unknown))}; the offline profile has "
                           f"{', '.join(OFFLINE_BACKENDS)}")
    if wanted & {"transformers-serve", "harmony-server"}:
        from harness.servers.launch import start
    if "transformers-serve" in wanted:
        serve = stack.enter_context(start("transformers-serve", model=str(assets.model_dir)))
        configs["transformers-serve"] = BackendConfig(
            name="transformers-serve", kind="openai-compatible", model=serve.model, base_url=serve.base_url,
            revision=assets.revision, sampling=sampling, concurrency=1, timeout=300,
            options={"server": "transformers-serve",
                     "managed_server": _managed("transformers-serve", assets, package="transformers")})
    if "harmony-server" in wanted:
        # served under the name the backend sends; preload: torch/transformers imported and weights loaded now, in
        # this thread, not in the server's worker while the local backends import transformers (not thread-safe)
        reference = stack.enter_context(start("harmony-reference", model=str(assets.model_dir),
                                              served_model_name=TINY_MODEL_ID, preload=True))
        configs["harmony-server"] = BackendConfig(
            name="harmony-server", kind="openai-compatible", model=TINY_MODEL_ID, base_url=reference.base_url,
            revision=assets.revision, sampling=sampling, concurrency=1, timeout=300,
            options={"server": "vllm", "return_token_ids": True,
                     "managed_server": _managed("harmony-reference", assets, package="gpt-oss-harness")})
    return {name: config for name, config in configs.items() if name in wanted}


def _managed(name: str, assets, *, package: str) -> dict[str, str | None]:
    """What a server started here renders and answers with, besides the model: its template, harmony and the
    package whose code serves it (the store key of its answers; the date is added per run)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        served_by = f"{package} {version(package)}"
    except PackageNotFoundError:
        served_by = package
    return {"name": name, "served_by": served_by, "template_sha256": assets.template_sha256,
            "harmony_version": assets.fingerprint()["harmony_version"]}


def backend_configs(profile: str, config_path: Path | None, names: list[str] | None, stack: contextlib.ExitStack,
                    *, max_tokens: int | None = None) -> dict[str, BackendConfig]:
    """The selected backends of a resolved profile: the offline ones (servers started on `stack`; `max_tokens`
    overrides their budget) or those of the config file (./harness.toml unless `config_path`)."""
    if profile == "offline":
        kwargs = {"max_tokens": max_tokens} if max_tokens else {}
        configs = offline_backends(stack, names=names, **kwargs)
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

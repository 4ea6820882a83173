"""harness.toml: named backends, defaults merged into each, and the `compare` settings.

```toml
[defaults]                      # merged into every backend (tables merge key by key; the backend wins)
timeout = 120
sampling = { temperature = 0.0, max_tokens = 512 }

[backends.groq]                 # the table key is the backend's name
kind = "hf-inference"
model = "openai/gpt-oss-safeguard-20b"
provider = "groq"
api_key_env = "HF_TOKEN"        # secrets only through environment variables

[compare]                       # optional: what `harness compare` runs by default
scenario = "scenarios/spam.toml"
backends = ["local", "groq"]
repeats = 3
```

`load_config(path) -> dict[str, BackendConfig]` returns the backends; `load_harness_config(path) -> HarnessConfig`
returns the backends and the `[compare]` table as `CompareSettings` (None when the file has no `[compare]`).
Every problem is one `HarnessError` line naming the file and the offending key.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.backends.base import BackendConfig
from harness.errors import HarnessError

TOP_LEVEL_TABLES = ("defaults", "backends", "compare")
# Keys that only ever hold a secret, and value prefixes of well-known key formats (HF, OpenAI, Groq).
SECRET_KEYS = {"api_key", "apikey", "token", "hf_token", "access_token", "auth_token", "secret", "password",
               "authorization", "bearer", "key"}
SECRET_KEY_SUFFIXES = ("_api_key", "_token", "_secret", "_password")
SECRET_PREFIXES = ("hf_", "sk-", "gsk_", "Bearer ")


class CompareSettings(BaseModel):
    """The `[compare]` table: which scenario, which backends (names from `[backends]`), how many repeats."""

    model_config = ConfigDict(extra="forbid")

    scenario: str | None = None
    backends: list[str] = Field(default_factory=list)
    repeats: int = Field(default=1, ge=1, le=1000)


@dataclass
class HarnessConfig:
    path: Path
    backends: dict[str, BackendConfig] = field(default_factory=dict)
    compare: CompareSettings | None = None


def load_config(path: str | Path) -> dict[str, BackendConfig]:
    """The backends of a harness.toml, by name, validated."""
    return load_harness_config(path).backends


def load_harness_config(path: str | Path) -> HarnessConfig:
    path = Path(path)
    label = path.name
    data = _read_toml(path)
    _reject_secrets(data, label, ())
    for key in data:
        if key not in TOP_LEVEL_TABLES:
            raise HarnessError(f"{label}: {key}: unknown table (known: {', '.join(TOP_LEVEL_TABLES)})")
    defaults = _table(data, "defaults", label)
    backends_raw = _table(data, "backends", label)
    if "name" in defaults:
        raise HarnessError(f"{label}: defaults.name: a backend's name comes from its [backends.NAME] key")

    backends: dict[str, BackendConfig] = {}
    for name, raw in backends_raw.items():
        where = f"backends.{name}"
        if not isinstance(raw, dict):
            raise HarnessError(f"{label}: {where}: must be a table ([{where}])")
        if "name" in raw and raw["name"] != name:
            raise HarnessError(f"{label}: {where}.name: a backend's name comes from its [backends.NAME] key")
        merged = _merge(defaults, raw)
        merged["name"] = name
        if "kind" not in merged:
            raise HarnessError(f"{label}: {where}.kind: missing (every backend needs a kind)")
        try:
            backends[name] = BackendConfig.model_validate(merged)
        except ValidationError as exc:
            raise HarnessError(_one_line(label, where, exc)) from None

    compare = None
    if "compare" in data:
        try:
            compare = CompareSettings.model_validate(_table(data, "compare", label))
        except ValidationError as exc:
            raise HarnessError(_one_line(label, "compare", exc)) from None
        for name in compare.backends:
            if name not in backends:
                known = ", ".join(backends) or "none defined"
                raise HarnessError(f"{label}: compare.backends: no backend named {name!r} (known: {known})")
    return HarnessConfig(path=path, backends=backends, compare=compare)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise HarnessError(f"{path}: no such config file") from None
    except tomllib.TOMLDecodeError as exc:
        raise HarnessError(f"{path.name}: not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise HarnessError(f"{path}: cannot read config ({exc})") from None


def _table(data: dict[str, Any], key: str, label: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise HarnessError(f"{label}: {key}: must be a table ([{key}])")
    return value


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Defaults under a backend: nested tables (sampling, options) merge key by key; the backend's value wins."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _looks_secret_key(key: str) -> bool:
    lowered = key.lower()
    return lowered in SECRET_KEYS or lowered.endswith(SECRET_KEY_SUFFIXES)


def _reject_secrets(value: Any, label: str, where: tuple[str, ...]) -> None:
    """A literal secret in the file is refused before anything else, and never echoed back."""
    if isinstance(value, dict):
        for key, item in value.items():
            path = (*where, str(key))
            if _looks_secret_key(str(key)):
                raise HarnessError(f"{label}: {'.'.join(path)}: secrets are not read from the config file; put the "
                                   "key in an environment variable and name that variable with api_key_env")
            _reject_secrets(item, label, path)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _reject_secrets(item, label, (*where[:-1], f"{where[-1]}[{index}]") if where else (f"[{index}]",))
    elif isinstance(value, str) and value.startswith(SECRET_PREFIXES):
        raise HarnessError(f"{label}: {'.'.join(where)}: this value looks like a secret (an API key or token); put it "
                           "in an environment variable and name that variable with api_key_env")


def _one_line(label: str, where: str, exc: ValidationError) -> str:
    error = exc.errors()[0]
    loc = ".".join(str(part) for part in error["loc"])
    key = f"{where}.{loc}" if loc else where
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    elif error["type"] == "missing":
        message = "missing"
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"{label}: {key}: {message}{more}"

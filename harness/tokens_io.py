"""Load token ids from a file: a JSON array, a JSON object with `token_ids` / `prompt_token_ids`, whitespace-separated
integers, or (for `load_tokens_or_text`) Harmony text with special tokens. Bad input -> one-line HarnessError."""

from __future__ import annotations

import json
from pathlib import Path

from harness.assets import VOCAB_SIZE  # o200k_harmony: ids 0..201087
from harness.errors import HarnessError

TOKEN_KEYS = ("token_ids", "prompt_token_ids")


class _NotTokens(Exception):
    """The file is readable text but does not hold token ids (message says why)."""


def load_token_ids(path: str | Path) -> list[int]:
    """Token ids from `path`; HarnessError naming the file on any problem."""
    path = Path(path)
    return _ids_of(path, _read(path))


def load_tokens_or_text(path: str | Path) -> list[int]:
    """Token ids from `path`, or Harmony text encoded with every special token allowed."""
    path = Path(path)
    text = _read(path)
    stripped = text.strip()
    if not stripped or stripped[0] in "[{" or _looks_numeric(stripped):
        return _ids_of(path, text)
    from harness.assets import harmony_encoding

    return list(harmony_encoding().encode(text, allowed_special="all"))


def _ids_of(path: Path, text: str) -> list[int]:
    try:
        return _token_ids(text)
    except _NotTokens as exc:
        raise HarnessError(f"{path}: {exc}") from None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HarnessError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise HarnessError(f"{path}: is a directory, not a file") from None
    except UnicodeDecodeError:
        raise HarnessError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise HarnessError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _looks_numeric(text: str) -> bool:
    first = text.split(None, 1)[0]
    return first.lstrip("-+").isdigit()


def _token_ids(text: str) -> list[int]:
    stripped = text.strip()
    if not stripped:
        raise _NotTokens("file is empty")
    if stripped[0] in "[{":
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise _NotTokens(f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
        if isinstance(data, dict):
            key = next((k for k in TOKEN_KEYS if k in data), None)
            if key is None:
                raise _NotTokens("JSON object has no `token_ids` or `prompt_token_ids` array")
            data = data[key]
        if not isinstance(data, list):
            raise _NotTokens("token ids must be a JSON array of integers")
        values = data
    else:
        values = []
        for word in stripped.split():
            try:
                values.append(int(word))
            except ValueError:
                raise _NotTokens(f"{word[:40]!r} is not an integer token id") from None
    if not values:
        raise _NotTokens("holds no token ids")
    for index, value in enumerate(values):
        if type(value) is not int:  # bools and floats are not token ids
            raise _NotTokens(f"item {index} is {json.dumps(value)[:40]}, not an integer token id")
        if not 0 <= value < VOCAB_SIZE:
            raise _NotTokens(f"token id {value} is outside the vocab (0..{VOCAB_SIZE - 1})")
    return values

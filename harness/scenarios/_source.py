"""Reading a scenario file (TOML or YAML) and pointing errors at `file:line`."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

TOML_SUFFIXES = (".toml",)
YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Source:
    """A scenario file's text, kept so semantic errors can name the line of the offending key."""

    path: Path
    text: str
    syntax: str  # "toml" | "yaml"

    def line_of(self, key: str, *, after: int = 0) -> int:
        """1-based line where `key` is set (first at or after line `after`), or the line `after` (min 1)."""
        k = re.escape(key)
        if self.syntax == "toml":
            pattern = rf"^\s*(?:{k}|\"{k}\")\s*=|^\s*\[\[?\s*{k}\s*(?:\]|\.)|[{{,]\s*{k}\s*="
        else:
            pattern = rf"^\s*(?:-\s*)?[\"']?{k}[\"']?\s*:"
        lines = self.text.splitlines()
        for number in range(max(after, 1), len(lines) + 1):
            if re.search(pattern, lines[number - 1]):
                return number
        return max(after, 1)

    def line_of_case(self, index: int, case_id: Any, occurrence: int = 0) -> int:
        """The line of the `index`-th case: by its id (the `occurrence`-th time that id is set) when it has one,
        else by `[[cases]]` headers."""
        start = self.line_of("cases")
        if isinstance(case_id, (str, int)) and not isinstance(case_id, bool):
            value = re.escape(str(case_id))
            pattern = rf"\bid\b[\"']?\s*[=:]\s*[\"']?{value}[\"']?\s*(?:$|[,}}#])"
            hits = [number for number, line in enumerate(self.text.splitlines(), 1)
                    if number >= start and re.search(pattern, line)]
            if hits:
                return hits[min(occurrence, len(hits) - 1)]
        headers = [n for n, line in enumerate(self.text.splitlines(), 1)
                   if re.match(r"^\s*\[\[\s*cases\s*\]\]" if self.syntax == "toml" else r"^\s*-\s", line)
                   and n >= start]
        return headers[index] if index < len(headers) else start

    def error(self, message: str, *, key: str | None = None, line: int | None = None) -> HarnessError:
        if line is None:
            line = self.line_of(key) if key else 1
        return HarnessError(f"{self.path}:{line}: {message}")


def read_source(path: Path) -> tuple[Source, dict[str, Any]]:
    """Parse `path` as TOML or YAML (by suffix; other suffixes: TOML, then YAML) into a table of keys."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise HarnessError(f"{path}: cannot read scenario file: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise HarnessError(f"{path}:{line}: not a scenario file (not UTF-8 text, so neither TOML nor YAML)") from None
    suffix = path.suffix.lower()
    if suffix in TOML_SUFFIXES:
        return _toml(path, text)
    if suffix in YAML_SUFFIXES:
        return _yaml(path, text)
    try:
        return _toml(path, text)
    except HarnessError:
        try:
            return _yaml(path, text)
        except HarnessError:
            raise HarnessError(f"{path}:1: not a scenario file: neither TOML nor YAML") from None


def _toml(path: Path, text: str) -> tuple[Source, dict[str, Any]]:
    source = Source(path, text, "toml")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = re.search(r"\(at line (\d+), column (\d+)\)", message)
        if found:
            line = int(found.group(1))
            message = message[: found.start()].strip()
        else:
            line = max(text.count("\n"), 1)
            message = re.sub(r"\s*\(at end of document\)", "", message).strip()
        raise source.error(f"not valid TOML: {message}", line=line) from None
    return source, data


def _yaml(path: Path, text: str) -> tuple[Source, dict[str, Any]]:
    import yaml

    source = Source(path, text, "yaml")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise source.error(f"not valid YAML: {problem}", line=line) from None
    if not isinstance(data, dict):
        raise source.error("not a scenario: expected a table of keys (name, policy, prompt_format, label, cases)",
                           line=1)
    return source, data

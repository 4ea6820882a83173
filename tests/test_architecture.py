"""The rooms of docs/architecture.md ("What each room may import") are the code's: every import between two rooms
of `harness/` (at module level or inside a function) must be listed there, and every room must be named."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "harness"
DOC = ROOT / "docs" / "architecture.md"
ENTRY_POINTS = {"__init__", "__main__"}  # `python -m harness` -> cli


def declared() -> dict[str, set[str] | None]:
    """Room -> the rooms it may import (None: every room), from the doc's table."""
    section = DOC.read_text(encoding="utf-8").split("## What each room may import", 1)[1]
    rooms: dict[str, set[str] | None] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 2 or not cells[0].startswith("`"):
            continue
        room = cells[0].strip("`")
        rooms[room] = None if cells[1].startswith("every room") else set(re.findall(r"`([a-z_]+)`", cells[1]))
    return rooms


def room_of(path: Path) -> str:
    return path.relative_to(PACKAGE).with_suffix("").parts[0]


def imports(source: str) -> set[str]:
    """The harness rooms a module's source imports (`from harness.x...`, `import harness.x`, `from harness import
    x`), wherever the statement is."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "harness":
                found.update(alias.name for alias in node.names)
            elif node.module.startswith("harness."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("harness."))
    return found


def actual() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        room = room_of(path)
        if room in ENTRY_POINTS:
            continue
        graph.setdefault(room, set()).update(imports(path.read_text(encoding="utf-8")) - {room})
    return graph


def violations(graph: dict[str, set[str]], allowed: dict[str, set[str] | None]) -> list[str]:
    found = []
    for room, targets in sorted(graph.items()):
        if room not in allowed:
            found.append(f"room {room!r} is not in docs/architecture.md's table")
            continue
        may = allowed[room]
        if may is not None:
            found += [f"{room} imports {target}, which docs/architecture.md does not allow"
                      for target in sorted(targets - may)]
    return found


def test_every_import_between_rooms_is_one_the_architecture_allows():
    allowed = declared()
    assert len(allowed) > 20, "the table was not found in docs/architecture.md"
    assert violations(actual(), allowed) == []


def test_every_room_in_the_table_exists():
    graph = actual()
    assert sorted(set(declared()) - set(graph)) == []


def test_the_check_catches_an_import_the_table_does_not_allow():
    """A new import from assets into the tiny model (the circle issue 14 removed) would fail the first test."""
    graph = actual()
    assert "tiny_model" not in graph["assets"]
    graph["assets"] = graph["assets"] | imports("def f():\n    from harness.tiny_model import build\n")
    assert violations(graph, declared()) == ["assets imports tiny_model, which docs/architecture.md does not allow"]
    graph["newroom"] = {"errors"}
    assert "room 'newroom' is not in docs/architecture.md's table" in violations(graph, declared())

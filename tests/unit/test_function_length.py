"""No function outside the tests is longer than 50 lines, from its `def` to its last line
(issue #21): a longer one is split into named steps, so each can be read on one screen."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("shared", "functions", "validators", "cli", "devstack", "tools", "bench")
LIMIT = 50


def too_long(root: Path, folders: tuple[str, ...], limit: int = LIMIT) -> list[str]:
    """`path:line name length` for every function under `folders` longer than `limit`."""
    found = []
    for folder in folders:
        for path in sorted((root / folder).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    length = (node.end_lineno or node.lineno) - node.lineno + 1
                    if length > limit:
                        where = path.relative_to(root)
                        found.append(f"{where}:{node.lineno} {node.name} {length}")
    return found


def test_no_function_outside_the_tests_is_longer_than_50_lines() -> None:
    assert too_long(ROOT, FOLDERS) == []


def _body(lines: int, indent: str) -> str:
    return "".join(f"{indent}x{i} = {i}\n" for i in range(lines))


def test_the_walk_finds_a_51_line_function_and_passes_a_50_line_one(tmp_path: Path) -> None:
    package = tmp_path / "pkg" / "inner"
    package.mkdir(parents=True)
    # `fine` spans 50 lines (lines 1-50); the method `long` 51 (lines 52-102).
    (package / "long.py").write_text(
        "def fine():\n"
        + _body(49, "    ")
        + "class Holder:\n"
        + "    async def long(self):\n"
        + _body(50, "        ")
    )
    assert too_long(tmp_path, ("pkg",)) == ["pkg/inner/long.py:52 long 51"]

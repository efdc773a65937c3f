"""`shared/` is grouped by who loads it, and each group imports only the groups below it
(docs/architecture.md draws them). A validator image carries `contract/`, `platform/` and
`adapters/storage/` only, so the validators import nothing else of the product."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Each group and what it may import besides itself.
MAY_IMPORT: dict[str, set[str]] = {
    "platform": set(),
    "contract": set(),
    "domain": {"platform", "contract"},
    "catalog": {"platform", "contract", "domain"},
    "adapters": {"platform", "contract", "domain"},
    "persistence": {"platform", "contract", "domain"},
    "services": {"platform", "contract", "domain", "catalog", "adapters", "persistence"},
    "api": {"platform", "contract", "domain", "catalog", "adapters", "persistence", "services"},
    # The console composes pages as a handler composes routes: it may use the wiring.
    "console": {
        "platform",
        "contract",
        "domain",
        "catalog",
        "adapters",
        "persistence",
        "services",
        "api",
        "wiring",
    },
}
IN_A_VALIDATOR_IMAGE = ("shared.contract", "shared.platform", "shared.adapters.storage")
# `shared` itself (its __init__) is in every image too.


def _imports(path: Path) -> set[str]:
    """Every `shared…` module `path` imports, at the top, in a function or for types."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return {name for name in found if name == "shared" or name.startswith("shared.")}


def _group(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _sources(folder: str) -> list[Path]:
    return sorted(p for p in (ROOT / folder).rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("group", sorted(MAY_IMPORT))
def test_a_group_imports_only_the_groups_below_it(group):
    allowed = MAY_IMPORT[group] | {group}
    upward = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _sources(f"shared/{group}")
        for name in sorted(_imports(path))
        if _group(name) not in allowed
    ]
    assert not upward, "\n".join(upward)


def test_only_the_groups_and_the_wiring_sit_at_the_top_of_shared():
    top = {p.name for p in (ROOT / "shared").iterdir() if p.name != "__pycache__"}
    assert top == {"__init__.py", "wiring.py", *MAY_IMPORT}


def test_the_validators_import_only_what_their_images_carry():
    beyond = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _sources("validators")
        for name in sorted(_imports(path))
        if name != "shared" and not name.startswith(IN_A_VALIDATOR_IMAGE)
    ]
    assert not beyond, "\n".join(beyond)


def test_the_walk_sees_imports_inside_functions(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from shared.services import runs\n")
    assert _imports(source) == {"shared.services.runs"}

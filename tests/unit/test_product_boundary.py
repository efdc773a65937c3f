"""The product is shared/, functions/, validators/ and cli/: the local stand-ins in
devstack/ are never installed as part of it and never imported by it."""

import ast
import tomllib
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("shared", "functions", "validators", "cli")


def test_the_installed_package_leaves_devstack_and_tests_out():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = config["tool"]["setuptools"]["packages"]["find"]["include"]
    tops = [p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()]
    installed = sorted(t for t in tops if any(fnmatch(t, pattern) for pattern in include))
    assert installed == ["cli", "shared", "validators"]


def test_no_product_module_imports_devstack_or_tests():
    offenders = []
    for top in PRODUCT:
        for path in (ROOT / top).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                offenders += [
                    f"{path.relative_to(ROOT)}: {n}"
                    for n in names
                    if n.split(".")[0] in ("devstack", "tests")
                ]
    assert offenders == []

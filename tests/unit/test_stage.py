"""`make stage` ships what the console serves besides Python: its Jinja2 templates and
its static files (CSS, JS, the vendored chart library), at the paths the console reads
them from, and Jinja2 itself among the pinned requirements."""

from __future__ import annotations

from pathlib import Path

from tools.stage import ROOT, stage

CONSOLE = ROOT / "shared" / "console"


def _files(folder: Path) -> set[str]:
    return {
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    }


def test_the_consoles_templates_and_static_files_are_staged(tmp_path: Path) -> None:
    out = tmp_path / "functions"
    stage(out)
    shipped = _files(out / "shared" / "console")
    assert shipped == _files(CONSOLE)
    assert any(name.startswith("templates/") and name.endswith(".html") for name in shipped)
    assert any(name.startswith("static/") for name in shipped)
    for name in shipped:
        assert (out / "shared" / "console" / name).read_bytes() == (CONSOLE / name).read_bytes()
    # Flask brings Jinja2; the staged pins must carry it to the console.
    pins = (out / "requirements.txt").read_text().splitlines()
    assert any(line.startswith("jinja2==") for line in pins)
    assert (out / "handlers" / "console.py").is_file()

"""Pages from Jinja2 templates. Autoescaping is always on and undefined names fail, so
no value reaches a page as HTML and a template's typo is an error, not a blank."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from shared.domain.enums import Role

TEMPLATES = Path(__file__).resolve().parent / "templates"


@cache
def environment() -> Environment:
    # Compiled on first use: the function's cold start does not pay for pages it never shows.
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["roles"] = Role
    return env


def render(template: str, **values: Any) -> str:
    return environment().get_template(template).render(**values)

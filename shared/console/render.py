"""Pages from Jinja2 templates. Autoescaping is always on and undefined names fail, so
no value reaches a page as HTML and a template's typo is an error, not a blank."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.domain.enums import Role

if TYPE_CHECKING:
    from jinja2 import Environment

TEMPLATES = Path(__file__).resolve().parent / "templates"


@cache
def environment() -> Environment:
    # Loaded on the first page (not for /healthz or a script), templates compiled on first use.
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

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

"""What every command prints: one JSON object with --json, else text for people."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import click
from rich.console import Console

EXIT_USAGE = 4

out = Console()
err = Console(stderr=True)


def emit(as_json: bool, payload: dict[str, Any], text: str | None = None) -> None:
    if as_json:
        click.echo(json.dumps(payload, default=str))
    elif text is not None:
        out.print(text, highlight=False)


def fail(as_json: bool, message: str, code: int = EXIT_USAGE, **extra: Any) -> NoReturn:
    if as_json:
        click.echo(json.dumps({"error": message, **extra}))
    else:
        err.print(f"[red]error:[/red] {message}", highlight=False)
    sys.exit(code)

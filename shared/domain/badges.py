"""Status badges (README, "Status badges"): a workflow's public badge, reached by an
unguessable token, and what the badge shows for the latest result. Pure: no I/O."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import NamedTuple

from shared.domain.enums import RunResult
from shared.domain.models import Model

# 32 random bytes: 256 bits, well past the 128 a public, unlisted URL needs.
TOKEN_BYTES = 32
# token_urlsafe's alphabet and length for TOKEN_BYTES: anything else names no badge.
TOKEN_LENGTH = 43
_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


class Badge(Model):
    """A workflow's badge. Keyed by its token; turning the badge off deletes it, and
    turning it on again makes a new one, so an old URL never comes back."""

    token: str
    org_id: str
    workflow_id: str
    workflow_slug: str
    # The workflow's creation: a workflow deleted and made again under the slug is
    # another workflow, which the old badge does not show.
    workflow_created_at: datetime
    created_at: datetime


class Look(NamedTuple):
    """What a badge shows: its right-hand text and colour (the left is the name)."""

    message: str
    color: str


# Shields' own colours: brightgreen, red, orange, lightgrey.
GREEN, RED, ORANGE, GREY = "#4c1", "#e05d44", "#fe7d37", "#9f9f9f"
_LOOKS = {
    RunResult.PASS: Look("pass", GREEN),
    RunResult.FAIL: Look("fail", RED),
    RunResult.ERROR: Look("error", ORANGE),
    RunResult.TIMED_OUT: Look("timed out", ORANGE),
}
NO_RUNS = Look("no runs", GREY)
# The most of a workflow's name a badge shows; a longer one is cut and marked.
NAME_CHARS = 60


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def is_token(value: str) -> bool:
    """The shape new_token makes: a value of another shape is never looked up."""
    return len(value) == TOKEN_LENGTH and set(value) <= _ALPHABET


def look(result: RunResult | None) -> Look:
    """None: the workflow has no run with a result yet."""
    if result is None:
        return NO_RUNS
    return _LOOKS.get(result, Look(result.value.lower().replace("_", " "), GREY))


def label(name: str) -> str:
    """The name as the badge shows it: one line, at most NAME_CHARS characters."""
    flat = " ".join(name.split())
    return flat if len(flat) <= NAME_CHARS else flat[: NAME_CHARS - 1] + "…"

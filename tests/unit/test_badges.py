"""What a badge shows (shared/domain/badges.py) and how it is drawn
(shared/api/badges.py): each result's colour, the name as one short line of text, the
token's shape and randomness, and markup in a name drawn as text."""

from __future__ import annotations

from lxml import etree

from shared.api.badges import svg, token_of
from shared.domain.badges import (
    GREEN,
    GREY,
    NAME_CHARS,
    NO_RUNS,
    ORANGE,
    RED,
    Look,
    is_token,
    label,
    look,
    new_token,
)
from shared.domain.enums import RunResult
from shared.services.badges import Shown


def test_each_result_has_its_colour() -> None:
    assert look(RunResult.PASS) == Look("pass", GREEN)
    assert look(RunResult.FAIL) == Look("fail", RED)
    assert look(RunResult.ERROR) == Look("error", ORANGE)
    assert look(RunResult.TIMED_OUT) == Look("timed out", ORANGE)
    assert look(None) == NO_RUNS == Look("no runs", GREY)


def test_a_name_is_one_line_cut_at_its_limit() -> None:
    assert label("  People\n\tregistry ") == "People registry"
    long = label("x" * 500)
    assert len(long) == NAME_CHARS and long.endswith("…")


def test_tokens_are_random_and_of_one_shape() -> None:
    tokens = {new_token() for _ in range(200)}
    assert len(tokens) == 200 and all(is_token(t) for t in tokens)
    assert not is_token("a" * 42) and not is_token("a" * 43 + "=") and not is_token("a/" * 21 + "b")
    assert token_of("abc.svg") == "abc" and token_of("abc.png") is None


def test_markup_in_a_name_is_drawn_as_text() -> None:
    name = '</text><script>alert(1)</script><text a="'
    drawn = svg(Shown(name, look(RunResult.FAIL))).encode()
    root = etree.fromstring(drawn)
    ns = "{http://www.w3.org/2000/svg}"
    assert not list(root.iter(f"{ns}script"))
    assert [t.text for t in root.iter(f"{ns}text")][:2] == [name, name]

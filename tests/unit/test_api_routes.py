"""The api's router: every route matches its own paths and methods, and no URL builder
is compiled (werkzeug's are Python source compiled per rule at bind, a cold-start cost
for url_for, which the API never calls)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from werkzeug.exceptions import MethodNotAllowed

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "functions"))

from handlers.api import URLS, Route


def _example(rule: str) -> str:
    """The rule's path with each variable filled in."""
    parts = [p if not p.startswith("<") else "x1" for p in rule.split("/")]
    return "/".join(parts)


@pytest.mark.parametrize("rule", list(URLS.iter_rules()), ids=lambda r: f"{r.endpoint}")
def test_each_route_matches_its_path_and_method(rule: Route) -> None:
    assert isinstance(rule, Route)
    adapter = URLS.bind("api.test")
    method = next(iter(rule.methods - {"HEAD", "OPTIONS"}))
    endpoint, values = adapter.match(_example(rule.rule), method=method)
    assert endpoint == rule.endpoint
    assert set(values) == set(rule.arguments)


def test_a_wrong_method_is_refused_and_no_url_is_ever_built() -> None:
    adapter = URLS.bind("api.test")
    with pytest.raises(MethodNotAllowed):
        adapter.match("/v1/orgs/x1/runs/x1/cancel", method="DELETE")
    with pytest.raises(NotImplementedError):
        adapter.build("get_run", {"org": "a", "run": "b"})

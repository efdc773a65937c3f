"""Status badges through the api function (functions-framework test client; the
Firestore emulator, or the memory twin): an author turns a badge on and off, anyone
with its URL gets an SVG of the workflow's name and latest result with cache headers,
the colour follows the latest run, a name with markup stays text, a badge turned off
answers 404, and a badge is read by key with one query (for the latest run)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from lxml import etree

from shared.api.auth.api_keys import issue_key
from shared.domain.badges import GREEN, GREY, ORANGE, RED
from shared.domain.enums import ErrorCategory, Role, RunStatus
from shared.platform.clock import utcnow
from tests.contract.builders import run, store
from tests.factories import workflow_body

VALID = b'{"name": "Ada", "email": "ada@example.com"}'
INVALID = b'{"name": 7}'
SVG = "{http://www.w3.org/2000/svg}"


def _create(api: Any, **extra: Any) -> None:
    body = workflow_body(**{"execution": "auto", **extra})
    created = api.post(f"/v1/orgs/{api.org}/workflows", json=body)
    assert created.status_code == 201, created.get_json()


def _turn_on(api: Any, expected: int = 201) -> str:
    answer = api.client.put(f"/v1/orgs/{api.org}/workflows/people/badge", headers=api.headers())
    assert answer.status_code == expected, answer.get_json()
    return urlsplit(answer.get_json()["url"]).path


def _run(api: Any, data: bytes) -> str:
    answer = api.post(
        f"/v1/orgs/{api.org}/workflows/people/runs",
        data=data,
        headers={"Content-Type": "application/json"},
    )
    run = answer.get_json()["run"]
    assert run["state"] == "COMPLETED", run  # the fast path: ended by the answer
    return str(run["result"])


def _texts(svg: bytes) -> list[str]:
    """The badge's visible texts (each is drawn twice, shadow and face), parsed as XML:
    markup in a name that was not escaped would not parse, or would add elements."""
    root = etree.fromstring(svg, etree.XMLParser(resolve_entities=False, no_network=True))
    return [t.text or "" for t in root.iter(f"{SVG}text")][1::2]


def _fill(svg: bytes) -> str:
    """The right-hand half's colour: the one rect placed at an x."""
    root = etree.fromstring(svg)
    (right,) = [r for r in root.iter(f"{SVG}rect") if r.get("x") is not None]
    return str(right.get("fill"))


def test_an_author_turns_a_badge_on_and_anyone_with_its_url_sees_it(api: Any) -> None:
    _create(api)
    path = _turn_on(api)
    assert _turn_on(api, expected=200) == path  # already on: the same URL
    token = path.removeprefix("/badges/").removesuffix(".svg")
    assert len(token) == 43  # 256 random bits, URL-safe
    public = api.client.get(path)  # no key
    assert public.status_code == 200
    assert public.mimetype == "image/svg+xml"
    assert public.headers["Cache-Control"] == "public, max-age=60"
    assert public.headers["ETag"]
    assert _texts(public.data) == ["People", "no runs"] and _fill(public.data) == GREY
    # Nothing else about the org: not its id, not a key, not a run.
    assert api.org.encode() not in public.data and token.encode() not in public.data
    entries = api.get(f"/v1/orgs/{api.org}/audit?action=badge.enabled").get_json()["items"]
    assert [e["target"] for e in entries] == ["workflow:people"]  # once, never the token
    assert token not in str(entries)


def test_the_badge_changes_colour_with_the_latest_run(api: Any) -> None:
    _create(api)
    path = _turn_on(api)
    assert _run(api, VALID) == "PASS"
    passed = api.client.get(path)
    assert _texts(passed.data) == ["People", "pass"] and _fill(passed.data) == GREEN
    again = api.client.get(path, headers={"If-None-Match": passed.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    assert _run(api, INVALID) == "FAIL"
    failed = api.client.get(path, headers={"If-None-Match": passed.headers["ETag"]})
    assert failed.status_code == 200  # the tag no longer matches
    assert _texts(failed.data) == ["People", "fail"] and _fill(failed.data) == RED
    assert failed.headers["ETag"] != passed.headers["ETag"]


def test_a_badge_turned_off_answers_404_and_on_again_has_a_new_url(api: Any) -> None:
    _create(api)
    old = _turn_on(api)
    off = api.client.delete(f"/v1/orgs/{api.org}/workflows/people/badge", headers=api.headers())
    assert off.status_code == 204
    gone = api.client.get(old)
    assert gone.status_code == 404 and gone.mimetype == "application/problem+json"
    again = api.client.delete(f"/v1/orgs/{api.org}/workflows/people/badge", headers=api.headers())
    assert again.status_code == 204  # already off
    new = _turn_on(api)
    assert new != old and api.client.get(new).status_code == 200
    assert api.client.get(old).status_code == 404
    log = api.get(f"/v1/orgs/{api.org}/audit").get_json()["items"]
    actions = [e["action"] for e in log if e["action"].startswith("badge.")]
    assert actions == ["badge.enabled", "badge.disabled", "badge.enabled"]


@pytest.mark.parametrize(
    "path", ["/badges/x.svg", "/badges/" + "A" * 43 + ".svg", "/badges/" + "A" * 43, "/badges/"]
)
def test_a_token_that_names_no_badge_is_404(api: Any, path: str) -> None:
    assert api.client.get(path).status_code == 404


def test_a_name_with_markup_is_text_in_the_svg(api: Any) -> None:
    name = '<script>alert("x")</script>" onload="alert(1)'
    _create(api, name=name)
    body = api.client.get(_turn_on(api)).data
    assert b"<script" not in body and b'onload="' not in body
    assert _texts(body)[0] == name  # shown as written, as text


def test_an_error_is_orange_and_a_workflow_made_anew_is_not_the_badges(api: Any) -> None:
    _create(api)
    path = _turn_on(api)
    assert _run(api, VALID) == "PASS"
    errored = run(
        api.org,
        status=RunStatus.FAILED,
        error_category=ErrorCategory.VALIDATOR_ERROR,
        started_at=utcnow(),
        ended_at=utcnow() + timedelta(seconds=1),
    )
    store(api.repos, errored)
    shown = api.client.get(path).data
    assert _texts(shown) == ["People", "error"] and _fill(shown) == ORANGE
    # The workflow deleted and made again under its slug: another workflow.
    workflow = api.repos.workflows.get(api.org, "people")
    remade = workflow.model_copy(update={"created_at": workflow.created_at + timedelta(days=1)})
    api.repos.transact(lambda tx: tx.save(remade))
    assert api.client.get(path).status_code == 404


def test_only_an_author_turns_a_badge_on_or_off(api: Any) -> None:
    _create(api)
    _, viewer = issue_key(api.repos, api.org, "viewer", role=Role.SUBMITTER)
    headers = {"Authorization": f"Bearer {viewer}"}
    url = f"/v1/orgs/{api.org}/workflows/people/badge"
    assert api.client.put(url, headers=headers).status_code == 403
    assert api.client.delete(url, headers=headers).status_code == 403
    assert (
        api.client.put(
            f"/v1/orgs/{api.org}/workflows/nope/badge", headers=api.headers()
        ).status_code
        == 404
    )


@pytest.mark.firestore
def test_a_badge_request_reads_by_key_and_queries_only_the_latest_run(
    api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from google.cloud.firestore_v1.services.firestore.client import FirestoreClient

    _create(api)
    path = _turn_on(api)
    _run(api, VALID)
    queries: list[Any] = []
    run_query = FirestoreClient.run_query

    def record(self: Any, *args: Any, **kwargs: Any) -> Any:
        request = kwargs["request"] if "request" in kwargs else args[0]
        queries.append(request["structured_query"])
        return run_query(self, *args, **kwargs)

    monkeypatch.setattr(FirestoreClient, "run_query", record)
    assert api.client.get(path).status_code == 200
    (query,) = queries  # the badge and the workflow are read by key
    assert [s.collection_id for s in query.from_] == ["runs"]
    assert query.limit == 1

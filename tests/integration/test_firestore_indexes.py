"""Every query the repositories can issue is served by an index declared in
infra/firestore.indexes.json, so a new query without an index breaks the build, not
production. Each query is made against the Firestore emulator and recorded as it goes to
the server: the StructuredQuery of the client library's RunQuery and
RunAggregationQuery requests."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest
from google.cloud.firestore_v1.services.firestore.client import FirestoreClient

from shared.api.auth.api_keys import authenticate
from shared.domain.enums import AuditAction, Severity
from shared.domain.models import Finding, PurgeRetryState
from shared.persistence.firestore.store import FirestoreRepositories
from shared.persistence.ports import SubmissionToPurge
from shared.platform.clock import utcnow
from shared.platform.config import get_settings
from shared.platform.ids import stable_id
from shared.services import audit, webhooks, workflows
from shared.services.submissions import IncomingFile, submit
from tests.factories import make_org, workflow_body
from tests.firestore_indexes import Declared, Shape, uncovered

# Firestore's own behaviour: reads, queries, indexes. The emulator only.
pytestmark = pytest.mark.firestore

ROOT = Path(__file__).resolve().parents[2]
INDEXES = ROOT / "infra" / "firestore.indexes.json"
ISSUES_A_QUERY = re.compile(r"\.(where|order_by|stream|count)\(")
BUILDS_A_QUERY = re.compile(r"\.(where|order_by|stream)\(|FieldFilter|db\.collection\(")


@pytest.fixture
def world(repos, dispatcher) -> World:
    from shared import wiring

    wiring.reset()  # the settings now see the Cloud Tasks stand-in
    return World(wiring.repositories())


@pytest.fixture
def recorded(monkeypatch) -> list[Shape]:
    shapes: list[Shape] = []
    run_query, run_aggregation = FirestoreClient.run_query, FirestoreClient.run_aggregation_query

    def request_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return kwargs["request"] if "request" in kwargs else args[0]

    def record_query(self: Any, *args: Any, **kwargs: Any) -> Any:
        shapes.append(Shape.of(request_of(args, kwargs)["structured_query"]))
        return run_query(self, *args, **kwargs)

    def record_aggregation(self: Any, *args: Any, **kwargs: Any) -> Any:
        query = request_of(args, kwargs)["structured_aggregation_query"].structured_query
        shapes.append(Shape.of(query))
        return run_aggregation(self, *args, **kwargs)

    monkeypatch.setattr(FirestoreClient, "run_query", record_query)
    monkeypatch.setattr(FirestoreClient, "run_aggregation_query", record_aggregation)
    return shapes


class World:
    """An org with runs, findings and purge bookkeeping for every query to find."""

    def __init__(self, repos: FirestoreRepositories) -> None:
        self.repos = repos
        self.org, key = make_org(repos)
        body = workflows.WorkflowCreate.model_validate(workflow_body("people"))
        workflows.create_workflow(repos, self.org, body)
        from shared import wiring

        api_key = authenticate(repos, f"Bearer {key}")
        results = [
            submit(
                repos,
                wiring.blob_store(),
                wiring.task_queue(),
                get_settings(),
                key=api_key,
                slug="people",
                incoming=IncomingFile(
                    data=f'{{"name": "n{i}"}}'.encode(),
                    filename="p.json",
                    content_type="application/json",
                ),
            )
            for i in range(3)
        ]
        self.run, self.submission = results[0].run.id, results[0].submission.id
        now = utcnow()
        repos.findings.write(
            self.run,
            [
                Finding(
                    id=stable_id(self.run, 0, 1, i),
                    org_id=self.org,
                    run_id=self.run,
                    step_order=0,
                    step_key="schema-0",
                    attempt=1,
                    index=i,
                    severity=Severity.ERROR,
                    code="c",
                    message="m",
                    created_at=now,
                )
                for i in range(3)
            ],
        )
        by, url = audit.By.operator("test"), "https://93.184.216.34/in"
        made, _ = webhooks.create(repos, get_settings(), self.org, url, ["run.completed"], by)
        self.webhook = made.id


def exercises(world: World) -> dict[str, Callable[[], object]]:
    """Each repository method that issues a query, called every way the product calls it."""
    r, org, far = world.repos, world.org, datetime.now(UTC) + timedelta(days=400)

    def list_runs() -> None:
        for status in (None, "PENDING"):
            for workflow in (None, "people"):
                page = r.runs.page(org, status=status, workflow=workflow, limit=1)
                if page.next_page_token:
                    r.runs.page(
                        org,
                        status=status,
                        workflow=workflow,
                        limit=1,
                        page_token=page.next_page_token,
                    )

    def list_findings() -> None:
        for severity in (None, "ERROR"):
            page = r.findings.page(org, world.run, severity=severity, limit=1)
            r.findings.page(
                org, world.run, severity=severity, limit=1, page_token=page.next_page_token
            )

    def runs_of_submissions() -> None:
        r.runs.of_submissions([world.submission])
        r.transact(lambda t: r.runs.of_submissions([world.submission], t.raw))

    def runs_to_purge() -> None:
        # A record from before `run_ids`: its runs are found by query.
        unlisted = SubmissionToPurge(world.submission, org, None, (), False, far)
        r.sweeps.runs_of([unlisted])

    def audit_page() -> None:
        # The world's key was issued through the service: its creation is an entry.
        for action in (None, AuditAction.KEY_CREATED):
            page = r.audit.page(org, action=action, limit=1)
            assert page.items
            r.audit.page(org, action=action, limit=1, page_token=page.next_page_token)

    def expired_submissions() -> None:
        # A cursor changes where the query starts, not the index it needs (paging is
        # test_retention's).
        page, _ = r.sweeps.expired_submissions(far, 1)
        assert page

    return {
        "workflows.all": lambda: r.workflows.all(org),
        "runs.page": list_runs,
        "findings.page": list_findings,
        "findings.count": lambda: r.findings.count(world.run),
        "runs.of_submissions": runs_of_submissions,
        "sweeps.runs_of": runs_to_purge,
        "uploads.find_granted": lambda: r.uploads.find_granted(org, "x" * 20),
        "purge_retries.due": lambda: r.purge_retries.due(far, 10),
        "purge_retries.all": lambda: [r.purge_retries.all(s) for s in (None, *PurgeRetryState)],
        "sweeps.expired_submissions": expired_submissions,
        "sweeps.expired_outputs": lambda: r.sweeps.expired_outputs(far, 10),
        "runs.to_reconcile": lambda: r.runs.to_reconcile(far, 10),
        "keys.all": lambda: r.keys.all(org),
        "resources.all": lambda: r.resources.all(org, "people"),
        "runs.in_flight": lambda: r.runs.in_flight(org, 5),
        "runs.latest_result": lambda: r.runs.latest_result(org, "people"),
        "uploads.uploaders": lambda: r.uploads.uploaders(org),
        "members.all": lambda: r.members.all(org),
        "members.orgs_of": lambda: r.members.orgs_of("ada@example.com"),
        "upload_inputs.under": lambda: r.upload_inputs.under("gs://uploads", 10),
        "audit.page": audit_page,
        "signing_keys.all": lambda: r.signing_keys.all(),
        "webhooks.all": lambda: r.webhooks.all(org),
        "webhooks.delivered": lambda: r.webhooks.delivered(world.webhook, "event"),
        "webhooks.attempts": lambda: r.webhooks.attempts(org, world.webhook, 10),
    }


def test_every_query_is_served_by_a_declared_index(world, recorded):
    declared = Declared.load(INDEXES)
    recorded.clear()
    problems = []
    for name, call in exercises(world).items():
        before = len(recorded)
        call()
        shapes = recorded[before:]
        assert shapes, f"{name} issued no query: the exercise does not reach it"
        problems += [f"{name}: {s}: {why}" for s in set(shapes) if (why := uncovered(s, declared))]
    assert problems == [], "\n".join(problems)


def _repositories() -> dict[str, type]:
    """Each Firestore repository by its name on the container."""
    return {
        name: _imported(prop.func.__annotations__["return"])
        for name, prop in vars(FirestoreRepositories).items()
        if isinstance(prop, cached_property)
    }


def _imported(class_name: str) -> type:
    import importlib
    import pkgutil

    from shared.persistence import firestore

    for module in pkgutil.iter_modules(firestore.__path__):
        found = importlib.import_module(f"shared.persistence.firestore.{module.name}")
        if hasattr(found, class_name):
            return getattr(found, class_name)
    raise LookupError(class_name)


def test_every_query_issuing_repository_method_is_exercised():
    issuing = {
        f"{attribute}.{name}"
        for attribute, cls in _repositories().items()
        for name, fn in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_") and ISSUES_A_QUERY.search(inspect.getsource(fn))
    }
    exercised = set(re.findall(r'"([a-z_]+\.[a-z_]+)": ', inspect.getsource(exercises)))
    assert issuing - exercised == set(), "add these to exercises()"
    assert len(issuing) >= 9


def test_services_leave_queries_to_the_repositories():
    services = sorted((ROOT / "shared" / "services").glob("*.py"))
    building = [p.name for p in services if BUILDS_A_QUERY.search(p.read_text())]
    assert building == []


def test_declared_indexes_are_all_needed_by_some_query(world, recorded):
    """An index no query uses costs writes and storage for nothing."""
    for call in exercises(world).values():
        call()
    declared = Declared.load(INDEXES)
    unused = []
    for key, indexes in declared.composites.items():
        for fields in indexes:
            alone = Declared(composites={key: [fields]}, exempt=declared.exempt)
            if not any(uncovered(s, alone) is None and uncovered(s, Declared()) for s in recorded):
                unused.append((key, fields))
    assert unused == []

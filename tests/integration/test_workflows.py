from concurrent.futures import ThreadPoolExecutor

import pytest

from shared.platform.errors import Conflict, Unprocessable
from shared.services import workflows
from tests.factories import PERSON_SCHEMA, make_org, workflow_body


def test_create_then_update_keeps_old_versions_immutable(repos):
    org, _ = make_org(repos)
    wf, v1 = workflows.create_workflow(repos, org, workflows.WorkflowCreate(**workflow_body()))
    assert (wf.latest_version, v1.version, v1.allowed_file_types) == (1, 1, ["json"])
    spec = workflow_body(steps=2)
    spec.pop("slug")
    wf2, v2 = workflows.update_workflow(repos, org, "people", workflows.WorkflowSpec(**spec))
    assert (wf2.latest_version, v2.version, len(v2.steps)) == (2, 2, 2)
    assert len(repos.workflows.version(wf2, 1).steps) == 1
    assert len(repos.workflows.version(wf2).steps) == 2


def test_concurrent_creates_of_one_slug_make_exactly_one_workflow(repos):
    org, _ = make_org(repos)

    def create(_):
        try:
            workflows.create_workflow(repos, org, workflows.WorkflowCreate(**workflow_body()))
            return "created"
        except Conflict:
            return "conflict"

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(create, range(8)))
    assert outcomes.count("created") == 1
    assert len(repos.workflows.all(org)) == 1


def test_a_bad_step_is_refused_naming_the_step(repos):
    org, _ = make_org(repos)
    body = workflow_body(steps=2)
    body["steps"][1]["config"] = {"schema": {"type": 12}}
    with pytest.raises(Unprocessable, match=r"steps\[1\] \('Schema 1'\).*not a valid JSON Schema"):
        workflows.create_workflow(repos, org, workflows.WorkflowCreate(**body))
    body["steps"][1] = {"name": "X", "validator": "openstudio", "config": {}}
    with pytest.raises(Unprocessable, match=r"steps\[1\].*unknown validator 'openstudio'"):
        workflows.create_workflow(repos, org, workflows.WorkflowCreate(**body))
    body = workflow_body(allowed_file_types=["xml"])
    with pytest.raises(Unprocessable, match="xml"):
        workflows.create_workflow(repos, org, workflows.WorkflowCreate(**body))
    assert repos.workflows.all(org) == []


def test_duplicate_step_keys_are_refused(repos):
    org, _ = make_org(repos)
    body = workflow_body()
    body["steps"] = [
        {
            "key": "same",
            "name": "A",
            "validator": "json-schema",
            "config": {"schema": PERSON_SCHEMA},
        },
        {
            "key": "same",
            "name": "B",
            "validator": "json-schema",
            "config": {"schema": PERSON_SCHEMA},
        },
    ]
    with pytest.raises(Unprocessable, match="key 'same'"):
        workflows.create_workflow(repos, org, workflows.WorkflowCreate(**body))

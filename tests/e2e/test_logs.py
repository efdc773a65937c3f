"""One run's log lines, across the functions and its validator job, share the trace of
the request that submitted it and carry its run and org as labels (Cloud Logging's
structured fields), so the run can be followed end to end."""

import json
import secrets
import time

import pytest
import requests

from shared.platform.logs import LABELS_FIELD, TRACE_FIELD
from tests.e2e.conftest import wait_for
from tests.factories import workflow_body

pytestmark = pytest.mark.e2e


def lines_of_trace(stack, trace):
    found: dict[str, list[dict]] = {}
    for path in sorted((stack.state / "logs").rglob("*.log")):
        source = "job" if path.parent.name == "jobs" else path.stem
        for text in path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(text)
            except ValueError:
                continue
            if isinstance(entry, dict) and entry.get(TRACE_FIELD, "").endswith(trace):
                found.setdefault(source, []).append(entry)
    return found


def test_a_runs_lines_share_its_trace_and_labels(stack, org):
    org_id, headers = org
    body = workflow_body("traced")
    requests.post(f"{stack.api}/v1/orgs/{org_id}/workflows", json=body, headers=headers, timeout=30)
    trace = secrets.token_hex(16)
    answer = requests.post(
        f"{stack.api}/v1/orgs/{org_id}/workflows/traced/runs",
        data=b'{"name": "Ada"}',
        headers={
            **headers,
            "Content-Type": "application/json",
            "traceparent": f"00-{trace}-{secrets.token_hex(8)}-01",
        },
        timeout=30,
    )
    run = wait_for(stack, org_id, headers, answer.json()["run"]["id"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = lines_of_trace(stack, trace)
        if {"api", "launch", "callback", "job"} <= set(found):
            break
        time.sleep(0.2)
    assert {"api", "launch", "callback", "job"} <= set(found), sorted(found)
    project = stack.env["GOOGLE_CLOUD_PROJECT"]
    for source, entries in found.items():
        assert all(e[TRACE_FIELD] == f"projects/{project}/traces/{trace}" for e in entries)
        labelled = [e[LABELS_FIELD] for e in entries if LABELS_FIELD in e]
        assert {"run_id": run["id"], "org_id": org_id} in [
            {k: v for k, v in labels.items() if k in ("run_id", "org_id")} for labels in labelled
        ], (source, labelled)

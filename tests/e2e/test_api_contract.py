"""The written contract (docs/openapi.json) is the served one, covers every route, and
schemathesis finds no server error and no answer outside it, over every operation and
the stateful links, against the real `api` function on the local stack with a real key."""

import json
import os
import subprocess

import pytest
import requests

from tests.e2e.conftest import ROOT

pytestmark = pytest.mark.e2e

ST = ROOT / ".tools" / "schemathesis" / "bin" / "st"
CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    )
)


def test_the_served_contract_is_the_checked_in_one(stack):
    served = requests.get(f"{stack.api}/v1/openapi.json", timeout=10)
    assert served.status_code == 200 and served.headers["Content-Type"] == "application/json"
    checked_in = json.loads((ROOT / "docs" / "openapi.json").read_text())
    assert served.json() == checked_in, "run `make openapi` and commit docs/openapi.json"


def test_every_route_is_in_the_contract(monkeypatch):
    # The handlers live beside functions/main.py, as functions-framework loads them.
    monkeypatch.syspath_prepend(str(ROOT / "functions"))
    from handlers.api import URLS

    documented = json.loads((ROOT / "docs" / "openapi.json").read_text())["paths"]
    for rule in URLS.iter_rules():
        path = rule.rule.replace("<", "{").replace(">", "}")
        assert path in documented, f"{path} is not in docs/openapi.json"
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in documented[path], f"{method} {path} is not documented"


def test_schemathesis_finds_nothing(stack, org, tmp_path):
    assert ST.exists(), "run `make tools` (tools/schemathesis.txt) first"
    org_id, headers = org
    config = tmp_path / "schemathesis.toml"
    config.write_text(f'[parameters]\n"path.org" = "{org_id}"\n')
    result = subprocess.run(
        [
            str(ST),
            "--config-file",
            str(config),
            "run",
            f"{stack.api}/v1/openapi.json",
            "--checks",
            CHECKS,
            "--header",
            f"Authorization:{headers['Authorization']}",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--max-examples",
            "25",
            # One worker: CPython 3.11's ast.parse is not thread-safe (hypothesis uses it).
            "--workers",
            "1",
            "--seed",
            "20261124",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
    )
    summary = result.stdout[-3000:]
    assert result.returncode == 0, summary
    assert "passed" in summary and "failed" not in summary.split("SUMMARY")[-1], summary

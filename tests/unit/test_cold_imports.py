"""What each deployed function imports when it starts (issue 10, item 4): clients load on
first use, only `launch` and `retry` ever reach Cloud Run Jobs, only the api loads the
validator catalog's schemas, and no function loads another's machinery."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = {
    "api": "api",
    "launch": "launch",
    "callback": "callback",
    "purge": "purge",
    "retry": "retry",
    "on_upload": "upload",
    "console": "console",
    "webhooks": "webhooks",
}
# Loaded on first use by every function (python-docs-samples' lazy global clients).
CLIENTS = (
    "google.cloud.run_v2",
    "google.cloud.tasks_v2",
    "google.cloud.storage",
    "google.cloud.iam",
)
# The api's alone: the catalog's config schemas, the contract, workflow saving, the
# fast path, signed URLs; and the engines no function runs in its own process.
API_ONLY = (
    "shared.catalog.validators",
    "shared.contract.json_schema_drafts",
    "shared.services.workflows",
    "shared.api.openapi",
    "shared.services.upload_urls",
)
NOWHERE = ("jsonschema", "jsonschema_rs", "lxml", "fmpy", "orjson", "shared.services.fast_path")
# The validator contract's models: for the functions that launch a job, take its callback,
# or end a run whose callback was lost. The others only queue tasks (shared.domain.task_bodies).
CONTRACT = {"launch", "callback", "retry"}


def _started(handler: str) -> set[str]:
    script = (
        "import importlib, json, sys\n"
        "import functions_framework\n"
        "importlib.import_module('functions.main')\n"
        f"importlib.import_module('functions.handlers.{handler}')\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return set(json.loads(done.stdout))


def _loaded(modules: set[str], prefix: str) -> bool:
    return any(m == prefix or m.startswith(prefix + ".") for m in modules)


@pytest.mark.parametrize("function", sorted(HANDLERS))
def test_a_function_starts_with_what_it_uses_and_nothing_else(function: str) -> None:
    modules = _started(HANDLERS[function])
    assert _loaded(modules, "google.cloud.firestore")  # every one reads the database
    early = [c for c in CLIENTS if _loaded(modules, c)]
    assert early == [], f"{function} imports {early} before it needs them"
    engines = [m for m in NOWHERE if _loaded(modules, m)]
    assert engines == [], f"{function} imports {engines}"
    api_only = [m for m in API_ONLY if _loaded(modules, m)]
    if function == "api":
        assert "shared.catalog.validators" in api_only
    else:
        assert api_only == [], f"{function} imports the api's {api_only}"
    assert _loaded(modules, "shared.contract.envelopes") == (function in CONTRACT)


@pytest.mark.parametrize("function", sorted(HANDLERS))
def test_only_the_purge_function_loads_the_sweep_and_only_launch_and_retry_the_jobs(
    function: str,
) -> None:
    """The sweep's projections are the purge function's, which sweeps on every call and
    loads them at its start; the Cloud Run Jobs adapter is for the two that reach jobs."""
    modules = _started(HANDLERS[function])
    assert _loaded(modules, "shared.persistence.firestore.sweeps") == (function == "purge")
    assert _loaded(modules, "shared.adapters.jobs") == (function in {"launch", "retry"})


def _calls(path: Path, attribute: str) -> bool:
    tree = ast.parse(path.read_text())
    return any(
        isinstance(node, ast.Attribute) and node.attr == attribute for node in ast.walk(tree)
    )


def test_only_launch_and_retry_reach_cloud_run_jobs() -> None:
    handlers = ROOT / "functions" / "handlers"
    reaching = {
        name for name, module in HANDLERS.items() if _calls(handlers / f"{module}.py", "job_runner")
    }
    assert reaching == {"launch", "retry"}
    importers = sorted(
        str(path.relative_to(ROOT))
        for folder in ("shared", "functions")
        for path in (ROOT / folder).rglob("*.py")
        if "run_v2" in path.read_text()
    )
    assert importers == ["shared/adapters/jobs.py"]


def _collector_after(script: str, **env: str) -> str:
    import os

    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import gc, importlib, sys\nsys.path.insert(0, 'functions')\n" + script,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
    )
    return done.stdout.strip()


def test_the_collector_pauses_only_while_a_function_loads() -> None:
    """main.py pauses the garbage collector while it and a handler load, and moves what
    they loaded out of its reach (frozen); it runs again before any request is handled,
    and after a start that fails, which freezes nothing."""
    loaded = _collector_after(
        "main = importlib.import_module('main')\n"
        "after_main = (gc.isenabled(), gc.get_freeze_count())\n"
        "main.load_handler('purge')\n"
        "print(after_main[0], gc.isenabled(), after_main[1] > 0,"
        " gc.get_freeze_count() > after_main[1])"
    )
    assert loaded == "True True True True"
    failed = _collector_after(
        "try:\n    importlib.import_module('main')\n"
        "except ValueError:\n    print(gc.isenabled(), gc.get_freeze_count())",
        K_SERVICE="api",  # on Google Cloud with nothing configured: the start fails
    )
    assert failed == "True 0"

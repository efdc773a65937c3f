"""The api serves many requests per instance (issue 20, decision record 0029): gen2
concurrency above 1 with the vCPU gen2 requires for it, as many gunicorn threads as
requests, and every other function still one request per instance (but the console,
whose pages and static files arrive together)."""

from __future__ import annotations

import re
from typing import Any

from tests.infra.terraform_rules import ROOT, Infra, _one

INFRA = Infra.load(ROOT / "infra")


def _service(resource: str) -> dict[str, Any]:
    config: dict[str, Any] = _one(
        INFRA.resource("google_cloudfunctions2_function", resource)["service_config"]
    )
    return config


def test_the_api_serves_many_requests_per_instance_with_a_whole_cpu() -> None:
    concurrency, cpu = INFRA.locals["function_concurrency"], INFRA.locals["function_cpu"]
    assert concurrency["api"] > 1
    # Gen2 refuses concurrency above 1 under one vCPU.
    assert all(float(cpu.get(name, 0)) >= 1 for name, n in concurrency.items() if n > 1)
    assert set(concurrency) == {"api", "console"}, "only the api and the console share"


def test_the_http_functions_take_their_concurrency_cpu_and_threads_from_those_maps() -> None:
    http = _service("http")
    assert http["max_instance_request_concurrency"] == (
        "${lookup(local.function_concurrency, each.key, 1)}"
    )
    assert http["available_cpu"] == "${lookup(local.function_cpu, each.key, null)}"
    assert "lookup(local.function_threads, each.key, {})" in http["environment_variables"]
    threads = INFRA.locals["function_threads"]
    assert re.search(r"local\.function_concurrency\b.*THREADS\s*=\s*tostring\(n\)", threads)


def test_the_upload_trigger_still_takes_one_event_at_a_time() -> None:
    assert _service("event")["max_instance_request_concurrency"] == 1

"""The Terraform deploys what units.json lists, wired and granted as the seed says.

Each rule runs on infra/ as committed (no problems), and on a copy with one deliberate
fault (the rule names it), so a rule that checks nothing cannot pass unnoticed.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shared.catalog.validators import CATALOG
from tests.infra import terraform_rules as rules

INFRA = rules.ROOT / "infra"
CATALOG_NAMES = set(CATALOG)


def run_all(infra: rules.Infra) -> list[str]:
    return [
        *rules.check_entry_points(infra),
        *rules.check_targets(infra),
        *rules.check_public_access(infra),
        *rules.check_ingress(infra),
        *rules.check_invokers(infra),
        *rules.check_jobs(infra, CATALOG_NAMES),
        *rules.check_buckets(infra),
        *rules.check_storage_grants(infra),
        *rules.check_validator_network(infra),
        *rules.check_signing(infra),
        *rules.check_console(infra),
    ]


def test_the_committed_infrastructure_holds_every_rule() -> None:
    assert run_all(rules.Infra.load(INFRA)) == []


def test_every_function_in_units_is_deployed_from_its_entry_point() -> None:
    infra = rules.Infra.load(INFRA)
    assert rules.deployed_functions(infra) == set(infra.functions)
    assert rules.entry_points(rules.ROOT / "functions" / "main.py") == {
        f["entry_point"] for f in infra.units["functions"]
    }


def test_invokers_follow_from_what_triggers_each_function() -> None:
    expected = rules.expected_invokers(json.loads((INFRA / "units.json").read_text()))
    assert expected == {
        "launch": {"tasks"},
        "callback": {"validator"},
        "purge": {"scheduler", "tasks"},
        "retry": {"scheduler"},
        "on-upload": {"eventarc"},
        "webhooks": {"tasks"},
    }
    assert "console" not in expected, "the console is invoked by IAP's agent, not an identity"


def _edit_text(file: str, old: str, new: str) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        path = folder / file
        text = path.read_text()
        assert old in text, f"{old!r} is not in {file}: the fault would be a no-op"
        path.write_text(text.replace(old, new, 1))

    return edit


def _edit_units(change: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        units = json.loads((folder / "units.json").read_text())
        change(units)
        (folder / "units.json").write_text(json.dumps(units))

    return edit


def _append(file: str, text: str) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        with (folder / file).open("a") as handle:
            handle.write(text)

    return edit


def _function(units: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f for f in units["functions"] if f["name"] == name)


FAULTS: dict[str, tuple[Callable[[Path], None], str]] = {
    "a unit without an entry point": (
        _edit_units(lambda u: _function(u, "retry").update(entry_point="reconcile")),
        "names entry point reconcile, which main.py lacks",
    ),
    "an entry point left undeployed": (
        _edit_units(lambda u: u["functions"].remove(_function(u, "retry"))),
        "entry point retry of main.py is not in units.json",
    ),
    "an event function dropped from the deploy": (
        _edit_text("locals.tf", 'f.trigger == "storage-finalized"', 'f.trigger == "pubsub"'),
        "function on-upload is not deployed",
    ),
    "a schedule aimed at nothing": (
        _edit_units(lambda u: u["schedules"][0].update(function="purger")),
        "targets no HTTP function",
    ),
    "a schedule whose token is for another audience": (
        _edit_text(
            "scheduler.tf", "audience              = local.function_urls", "audience = var.x"
        ),
        "OIDC audience is not the URL it calls",
    ),
    "a second public function": (
        _edit_units(lambda u: _function(u, "launch").update(trigger="https-public")),
        "only api may be",
    ),
    "a public grant outside the API": (
        _edit_text(
            "iam.tf", 'member = "serviceAccount:${each.value.email}"', 'member = "allUsers"'
        ),
        "google_cloud_run_v2_service_iam_member.invoker grants to the public",
    ),
    "a private function open to all traffic": (
        _edit_text(
            "functions.tf",
            "ingress_settings                 = local.function_ingress[each.key]",
            'ingress_settings = "ALLOW_ALL"',
        ),
        "function resource http ignores function_ingress",
    ),
    "an extra invoker": (
        _edit_units(lambda u: _function(u, "callback")["invokers"].append("api")),
        "callback is invoked by ['api', 'validator']",
    ),
    "a missing invoker": (
        _edit_units(lambda u: _function(u, "purge")["invokers"].remove("tasks")),
        "purge is invoked by ['scheduler']",
    ),
    "a validator without a job": (
        _edit_units(lambda u: u["jobs"].clear()),
        "validator json-schema has no job",
    ),
    "a job that retries blindly": (
        _edit_text("jobs.tf", "max_retries = 0", "max_retries = 3"),
        "validator jobs retry blindly",
    ),
    "a job without its version": (
        _edit_text("jobs.tf", '"VALIDATOR_VERSION"', '"VERSION"'),
        "do not get VALIDATOR_VERSION",
    ),
    "an age rule on content": (
        _edit_text("storage.tf", "days_since_custom_time = 1", "age = 30"),
        "deletes by age",
    ),
    "a bucket open to ACLs": (
        _edit_text(
            "storage.tf",
            "uniform_bucket_level_access = true",
            "uniform_bucket_level_access = false",
        ),
        "lacks uniform bucket-level access",
    ),
    "a validator job that may read runs/": (
        _append(
            "iam.tf",
            'resource "google_storage_bucket_iam_member" "job_reads" {\n'
            "  for_each = local.jobs\n"
            "  bucket   = local.content_bucket\n"
            '  role     = "roles/storage.objectViewer"\n'
            '  member   = "serviceAccount:${google_service_account.job[each.key].email}"\n'
            "}\n",
        ),
        "google_storage_bucket_iam_member.job_reads grants a validator job a storage role",
    ),
    "a project-wide Cloud Run role": (
        _edit_text("iam.tf", 'role    = "roles/datastore.user"', 'role    = "roles/run.developer"'),
        "grants a Cloud Run role on the whole project",
    ),
    # --- the validator jobs' network (decision record 0022) ---
    "a job whose internet traffic bypasses the network": (
        _edit_text("jobs.tf", 'egress = "ALL_TRAFFIC"', 'egress = "PRIVATE_RANGES_ONLY"'),
        "validator jobs do not send all traffic into the validators' network",
    ),
    "a job without Direct VPC egress": (
        _edit_text("jobs.tf", "vpc_access {", "dummy_access {"),
        "validator jobs have no Direct VPC egress",
    ),
    "a job on the default network": (
        _edit_text(
            "jobs.tf", "network    = google_compute_network.validators.name", 'network = "default"'
        ),
        "validator jobs' network is not the validators' network",
    ),
    "a subnetwork without Private Google Access": (
        _edit_text(
            "network.tf", "private_ip_google_access = true", "private_ip_google_access = false"
        ),
        "has no Private Google Access",
    ),
    "a network that keeps its default route": (
        _edit_text(
            "network.tf",
            "delete_default_routes_on_create = true",
            "delete_default_routes_on_create = false",
        ),
        "keeps its default route to the internet",
    ),
    "a Cloud NAT": (
        _append(
            "network.tf",
            'resource "google_compute_router" "nat" {\n'
            '  name    = "nat"\n'
            "  network = google_compute_network.validators.id\n"
            "}\n"
            'resource "google_compute_router_nat" "nat" {\n'
            '  name   = "nat"\n'
            "  router = google_compute_router.nat.name\n"
            "}\n",
        ),
        "google_compute_router_nat.nat gives the network a way out",
    ),
    "a route to the internet": (
        _edit_text(
            "network.tf",
            "dest_range       = local.private_google_access_range",
            'dest_range = "0.0.0.0/0"',
        ),
        "route private_google_access leads to ['0.0.0.0/0']",
    ),
    "an egress rule open to the internet": (
        _edit_text(
            "network.tf",
            "destination_ranges = [local.private_google_access_range]",
            'destination_ranges = ["0.0.0.0/0"]',
        ),
        "firewall allow_private_google_access allows egress to ['0.0.0.0/0']",
    ),
    "an egress rule beyond HTTPS": (
        _edit_text("network.tf", 'ports    = ["443"]', 'ports = ["443", "53"]'),
        "firewall allow_private_google_access allows more than HTTPS",
    ),
    "no default deny": (
        _edit_text("network.tf", 'deny {\n    protocol = "all"', 'allow {\n    protocol = "all"'),
        "no firewall rule denies the validators' network all egress",
    ),
    "run.app resolved elsewhere": (
        _edit_text(
            "network.tf",
            '"run.app."                = { zone = "run-app", type = "A", '
            "rrdatas = local.private_google_access_ips }",
            '"run.app." = { zone = "run-app", type = "A", rrdatas = ["203.0.113.7"] }',
        ),
        "run.app. does not resolve to private.googleapis.com's addresses",
    ),
    "no private zone for googleapis.com": (
        _edit_text("network.tf", 'googleapis = "googleapis.com."', 'googleapis = "example.com."'),
        "googleapis.com. has no private zone on the validators' network",
    ),
    # --- the console behind IAP (decision record 0070) ---
    "a console open to all traffic": (
        _edit_text("functions.tf", '"ALLOW_INTERNAL_AND_GCLB"', '"ALLOW_ALL"'),
        "function_ingress lets the console be reached other than through IAP",
    ),
    "a console invoked by someone besides IAP": (
        _edit_units(lambda u: _function(u, "console").update(invokers=["tasks"])),
        "console is behind IAP, yet names invokers ['tasks']",
    ),
    "a console invoked by the public": (
        _edit_text(
            "iam.tf",
            'member   = "serviceAccount:${local.iap_service_agent}"',
            'member = "allUsers"',
        ),
        "google_cloud_run_v2_service_iam_member.iap grants to the public",
    ),
    "IAP's agent granted on every function": (
        _edit_text(
            "iam.tf",
            "local.iap_functions : name => f if local.console_enabled }",
            "local.http_functions : name => f if local.console_enabled }",
        ),
        "IAP's agent may invoke more than the console",
    ),
    "an invoker grant outside units.json": (
        _append(
            "iam.tf",
            'resource "google_cloud_run_v2_service_iam_member" "console_api" {\n'
            '  name   = "console"\n'
            '  role   = "roles/run.invoker"\n'
            '  member = "serviceAccount:${google_service_account.identity["api"].email}"\n'
            "}\n",
        ),
        "google_cloud_run_v2_service_iam_member.console_api grants run.invoker outside",
    ),
    "a second function behind IAP": (
        _edit_units(lambda u: _function(u, "retry").update(trigger="https-iap", invokers=[])),
        "the load balancer has one backend",
    ),
    "a load balancer in front of another service": (
        _edit_text("iap.tf", "service = local.console_function", 'service = "api"'),
        "IAP's load balancer does not serve the console function",
    ),
    "a backend without IAP": (
        _edit_text("iap.tf", "iap {\n    enabled = true", "iap {\n    enabled = false"),
        "the console's backend service does not have IAP on",
    ),
    "a console that takes another audience": (
        _edit_text("functions.tf", "ASSAY_IAP_AUDIENCE = local.console_iap_audience", "X = 1"),
        "the console is not given ASSAY_IAP_AUDIENCE",
    ),
    # --- URL signing ---
    "Token Creator for signing": (
        _edit_text(
            "iam.tf",
            "role               = google_project_iam_custom_role.url_signer.id",
            'role = "roles/iam.serviceAccountTokenCreator"',
        ),
        "google_service_account_iam_member.api_signs_as_itself grants Token Creator",
    ),
    "a signing role that also mints tokens": (
        _edit_text(
            "iam.tf",
            'permissions = ["iam.serviceAccounts.signBlob"]',
            'permissions = ["iam.serviceAccounts.getAccessToken", "iam.serviceAccounts.signBlob"]',
        ),
        "custom role url_signer mints credentials (iam.serviceAccounts.getAccessToken)",
    ),
    "Token Creator on the project": (
        _append(
            "iam.tf",
            'resource "google_project_iam_member" "minter" {\n'
            "  project = var.project_id\n"
            '  role    = "roles/iam.serviceAccountTokenCreator"\n'
            '  member  = "serviceAccount:${google_service_account.identity["worker"].email}"\n'
            "}\n",
        ),
        "google_project_iam_member.minter grants Token Creator",
    ),
    "the signing role granted to a validator job": (
        _append(
            "iam.tf",
            'resource "google_service_account_iam_member" "job_signs" {\n'
            "  for_each           = local.jobs\n"
            "  service_account_id = google_service_account.job[each.key].name\n"
            "  role               = google_project_iam_custom_role.url_signer.id\n"
            '  member             = "serviceAccount:'
            '${google_service_account.job[each.key].email}"\n'
            "}\n",
        ),
        "google_service_account_iam_member.job_signs grants the signing role beyond",
    ),
    "the worker signing as the api": (
        _edit_text(
            "iam.tf",
            'service_account_id = google_service_account.identity["worker"].name',
            'service_account_id = google_service_account.identity["api"].name',
        ),
        "the signing role is not the worker's, on its own account",
    ),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_fault_is_caught(fault: str, tmp_path: Path) -> None:
    folder = tmp_path / "infra"
    shutil.copytree(INFRA, folder)
    edit, expected = FAULTS[fault]
    edit(folder)
    problems = run_all(rules.Infra.load(folder))
    assert any(expected in p for p in problems), problems

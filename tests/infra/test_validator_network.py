"""Validator jobs have no way out but Google's APIs, and the api signs with signBlob alone
(decision record 0022), read straight from infra/*.tf as python-hcl2 parses it.

test_terraform_structure.py runs the same properties as rules, each also against a copy
of infra/ with one fault injected; these tests spell the properties out one by one.
"""

from __future__ import annotations

from typing import Any

from tests.infra import terraform_rules as rules

INFRA = rules.Infra.load(rules.ROOT / "infra")


def _task() -> dict[str, Any]:
    job = INFRA.resource("google_cloud_run_v2_job", "validator")
    return rules._one(rules._one(job["template"])["template"])


def test_every_validator_job_sends_all_traffic_into_the_validators_network() -> None:
    job = INFRA.resource("google_cloud_run_v2_job", "validator")
    assert job["for_each"] == "${local.jobs}"  # one resource: every job of units.json
    access = rules._one(_task()["vpc_access"])
    assert access["egress"] == "ALL_TRAFFIC"
    assert "connector" not in access
    (interface,) = access["network_interfaces"]
    assert interface["network"] == "${google_compute_network.validators.name}"
    assert interface["subnetwork"] == "${google_compute_subnetwork.validators.name}"


def test_the_network_has_no_route_to_the_internet() -> None:
    network = INFRA.resource("google_compute_network", "validators")
    assert network["auto_create_subnetworks"] is False
    assert network["delete_default_routes_on_create"] is True
    routes = INFRA.resources.get("google_compute_route", {})
    assert list(routes) == ["private_google_access"]
    route = routes["private_google_access"]
    assert rules._values(INFRA, route, route["dest_range"]) == ["199.36.153.8/30"]
    assert route["next_hop_gateway"] == "default-internet-gateway"
    for rtype in rules.WAYS_OUT:
        assert rtype not in INFRA.resources, f"{rtype} would be a way out"


def test_the_subnetwork_has_private_google_access() -> None:
    subnet = INFRA.resource("google_compute_subnetwork", "validators")
    assert subnet["network"] == "${google_compute_network.validators.id}"
    assert subnet["private_ip_google_access"] is True
    assert subnet["stack_type"] == "IPV4_ONLY"


def test_the_firewall_denies_egress_but_https_to_the_private_vip() -> None:
    firewall = INFRA.resources["google_compute_firewall"]
    deny = firewall["deny_egress"]
    assert deny["direction"] == "EGRESS"
    assert deny["deny"] == [{"protocol": "all"}]
    assert set(rules._values(INFRA, deny, deny["destination_ranges"])) == {"0.0.0.0/0", "::/0"}
    assert "target_tags" not in deny and "target_service_accounts" not in deny
    allow = firewall["allow_private_google_access"]
    assert allow["direction"] == "EGRESS"
    assert rules._values(INFRA, allow, allow["destination_ranges"]) == ["199.36.153.8/30"]
    assert allow["allow"] == [{"protocol": "tcp", "ports": ["443"]}]
    assert allow["priority"] < deny["priority"]
    assert set(firewall) == {"deny_egress", "allow_private_google_access"}


def test_googleapis_and_run_app_resolve_to_the_private_vip_on_that_network_only() -> None:
    zone = INFRA.resource("google_dns_managed_zone", "private_google_access")
    assert set(zone["for_each"].values()) == {"googleapis.com.", "run.app."}
    assert zone["visibility"] == "private"
    (networks,) = zone["private_visibility_config"]
    assert networks["networks"] == [{"network_url": "${google_compute_network.validators.id}"}]
    records = INFRA.resource("google_dns_record_set", "private_google_access")["for_each"]
    vip = rules._values(INFRA, {}, "${local.private_google_access_ips}")
    assert set(vip) == rules.PRIVATE_GOOGLE_IPS
    assert records["private.googleapis.com."]["rrdatas"] == "${local.private_google_access_ips}"
    assert records["run.app."]["rrdatas"] == "${local.private_google_access_ips}"
    assert records["*.googleapis.com."]["rrdatas"] == ["private.googleapis.com."]
    assert records["*.run.app."]["rrdatas"] == ["run.app."]
    # the callback's deterministic URL is https://callback-NUMBER.REGION.run.app
    assert records["*.${var.region}.run.app."]["rrdatas"] == ["run.app."]


def test_compute_and_dns_are_enabled() -> None:
    apis = INFRA.locals["apis"]
    assert {"compute.googleapis.com", "dns.googleapis.com"} <= set(apis)


def test_the_api_signs_through_a_role_holding_only_sign_blob() -> None:
    role = INFRA.resource("google_project_iam_custom_role", "url_signer")
    assert role["permissions"] == ["iam.serviceAccounts.signBlob"]
    binding = INFRA.resource("google_service_account_iam_member", "api_signs_as_itself")
    assert binding["role"] == "${google_project_iam_custom_role.url_signer.id}"
    assert binding["service_account_id"] == '${google_service_account.identity["api"].name}'
    assert binding["member"] == 'serviceAccount:${google_service_account.identity["api"].email}'


def test_no_identity_holds_token_creator() -> None:
    for rtype, name, body in INFRA.all_resources():
        assert rules.TOKEN_CREATOR not in str(body.get("role")), f"{rtype}.{name}"
    for name, role in INFRA.resources["google_project_iam_custom_role"].items():
        assert not set(role["permissions"]) & set(rules.MINTING), name

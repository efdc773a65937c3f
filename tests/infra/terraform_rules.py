"""Structural rules over infra/*.tf (parsed with python-hcl2) and infra/units.json.

`terraform validate` needs the Google provider, which these machines cannot download,
so the rules a deploy depends on are checked here instead. Each rule returns the
problems it finds (empty = holds), so tests can also show that a broken copy of the
infrastructure is caught.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2

ROOT = Path(__file__).resolve().parents[2]
PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")
PRIVATE_TRIGGERS = ("https-private", "storage-finalized")
IAP_TRIGGER = "https-iap"
IAP_AGENT = "service-${data.google_project.this.number}@gcp-sa-iap.iam.gserviceaccount.com"
# Who may grant run.invoker: the public API's grant, units.json's invokers, IAP's agent.
INVOKER_GRANTS = {
    ("google_cloud_run_v2_service_iam_member", "invoker"),
    ("google_cloud_run_v2_service_iam_member", "public"),
    ("google_cloud_run_v2_service_iam_member", "iap"),
}
PRIMITIVE_ROLES = ("roles/owner", "roles/editor", "roles/viewer")


def _unquote(value: Any) -> Any:
    """hcl2 keeps string literals quoted ("\\"x\\""); expressions stay as ${...}."""
    if isinstance(value, str):
        if len(value) >= 2 and value[0] == value[-1] == '"':
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                # A template ("a${b["c"]}"): hcl2 leaves its inner quotes unescaped.
                return value[1:-1]
        return value
    if isinstance(value, list):
        return [_unquote(v) for v in value]
    if isinstance(value, dict):
        return {
            _unquote(k): _unquote(v)
            for k, v in value.items()
            if k not in ("__is_block__", "__comments__", "__inline_comments__")
        }
    return value


@dataclass
class Infra:
    """The parsed Terraform of a folder, and the units.json beside it."""

    resources: dict[str, dict[str, dict[str, Any]]]
    locals: dict[str, Any]
    units: dict[str, Any]
    comments: dict[tuple[str, str], list[str]]

    @classmethod
    def load(cls, folder: Path) -> Infra:
        resources: dict[str, dict[str, dict[str, Any]]] = {}
        local_values: dict[str, Any] = {}
        comments: dict[tuple[str, str], list[str]] = {}
        for path in sorted(folder.glob("*.tf")):
            with path.open() as handle:
                raw = hcl2.load(handle)
            for block in raw.get("resource", []):
                for rtype, named in block.items():
                    for name, body in named.items():
                        key = (_unquote(rtype), _unquote(name))
                        comments[key] = [c["value"] for c in body.get("__comments__", [])]
                        resources.setdefault(key[0], {})[key[1]] = _unquote(body)
            for block in raw.get("locals", []):
                local_values.update(_unquote(block))
        units = json.loads((folder / "units.json").read_text())
        return cls(resources, local_values, units, comments)

    def resource(self, rtype: str, name: str) -> dict[str, Any]:
        return self.resources.get(rtype, {}).get(name, {})

    def all_resources(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        for rtype, named in self.resources.items():
            for name, body in named.items():
                yield rtype, name, body

    @property
    def functions(self) -> dict[str, dict[str, Any]]:
        return {f["name"]: f for f in self.units["functions"]}


def entry_points(main_py: Path) -> set[str]:
    """The functions functions/main.py registers with functions_framework."""
    tree = ast.parse(main_py.read_text())
    found = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            for decorator in node.decorator_list:
                text = ast.unparse(decorator)
                if text.startswith("functions_framework."):
                    found.add(node.name)
    return found


def _one(block: Any) -> dict[str, Any]:
    """A nested block: hcl2 gives a list of one dict."""
    if isinstance(block, list) and len(block) == 1 and isinstance(block[0], dict):
        return block[0]
    return {}


def _selected(infra: Infra, local_name: str) -> set[str]:
    """Evaluate a `{for name, f in local.functions : name => f if f.trigger OP "X"}`."""
    expression = str(infra.locals.get(local_name, ""))
    match = re.search(r'if f\.trigger (==|!=) "([^"]+)"', expression)
    if "local.functions" not in expression or not match:
        return set()
    op, trigger = match.groups()
    return {
        name for name, f in infra.functions.items() if (f["trigger"] == trigger) == (op == "==")
    }


def deployed_functions(infra: Infra) -> set[str]:
    """Every function a google_cloudfunctions2_function resource deploys."""
    deployed: set[str] = set()
    for body in infra.resources.get("google_cloudfunctions2_function", {}).values():
        match = re.fullmatch(r"\$\{local\.(\w+)\}", str(body.get("for_each", "")))
        if match:
            deployed |= _selected(infra, match.group(1))
    return deployed


def check_entry_points(infra: Infra, main_py: Path = ROOT / "functions" / "main.py") -> list[str]:
    problems = []
    points = entry_points(main_py)
    declared = {f["entry_point"]: name for name, f in infra.functions.items()}
    problems += [f"entry point {p} of main.py is not in units.json" for p in points - set(declared)]
    problems += [
        f"unit {declared[p]} names entry point {p}, which main.py lacks"
        for p in set(declared) - points
    ]
    deployed = deployed_functions(infra)
    problems += [f"function {n} is not deployed" for n in set(infra.functions) - deployed]
    for name, body in infra.resources.get("google_cloudfunctions2_function", {}).items():
        build = _one(body.get("build_config"))
        if build.get("entry_point") != "${each.value.entry_point}":
            problems.append(f"function resource {name} does not take its unit's entry point")
        if build.get("runtime") not in ("python312", "${local.function_build.runtime}"):
            problems.append(f"function resource {name} is not on python312")
        account = _one(body.get("service_config")).get("service_account_email", "")
        if "identity[each.value.identity]" not in account:
            problems.append(f"function resource {name} does not run as its unit's identity")
    if infra.locals.get("function_build", {}).get("runtime") != "python312":
        problems.append("functions are not built for python312")
    return problems


def expected_invokers(units: dict[str, Any]) -> dict[str, set[str]]:
    """Who calls each private function, from what units.json says triggers it (a public
    function is called by anyone, an https-iap one by IAP's service agent alone)."""
    callers: dict[str, set[str]] = {
        f["name"]: set() for f in units["functions"] if f["trigger"] in PRIVATE_TRIGGERS
    }
    for schedule in units["schedules"]:
        callers.setdefault(schedule["function"], set()).add("scheduler")
    for queue in units["queues"]:
        for target in queue["targets"]:
            callers.setdefault(target, set()).add("tasks")
    for f in units["functions"]:
        if f["trigger"] == "storage-finalized":
            callers[f["name"]].add("eventarc")
        if f["setting"] == "callback_url":
            callers[f["name"]].add("validator")
    return callers


def check_targets(infra: Infra) -> list[str]:
    problems = []
    functions = infra.functions
    http = {n for n, f in functions.items() if f["trigger"].startswith("https")}
    for schedule in infra.units["schedules"]:
        if schedule["function"] not in http:
            problems.append(f"schedule {schedule['name']} targets no HTTP function")
    for queue in infra.units["queues"]:
        problems += [
            f"queue {queue['name']} targets {t}, no HTTP function"
            for t in queue["targets"]
            if t not in http
        ]
    job = infra.resource("google_cloud_scheduler_job", "schedule")
    target = _one(job.get("http_target"))
    oidc = _one(target.get("oidc_token"))
    if job.get("for_each") != "${local.schedules}":
        problems.append("scheduler jobs are not the schedules of units.json")
    if target.get("uri") != "${local.function_urls[each.value.function]}":
        problems.append("a scheduler job does not call its schedule's function")
    if oidc.get("audience") != target.get("uri"):
        problems.append("a scheduler job's OIDC audience is not the URL it calls")
    if 'identity["scheduler"]' not in str(oidc.get("service_account_email")):
        problems.append("scheduler jobs do not sign as the scheduler identity")
    if job.get("time_zone") != "Etc/UTC":
        problems.append("scheduler jobs are not on UTC")
    queue = infra.resource("google_cloud_tasks_queue", "queue")
    if queue.get("for_each") != "${local.queues}":
        problems.append("task queues are not the queues of units.json")
    return problems


def check_public_access(infra: Infra) -> list[str]:
    problems = []
    public = [n for n, f in infra.functions.items() if f["trigger"] == "https-public"]
    if public != ["api"]:
        problems.append(f"units.json makes {public} public; only api may be")
    for rtype, name, body in infra.all_resources():
        members = json.dumps(body.get("member", "")) + json.dumps(body.get("members", ""))
        if any(m in members for m in PUBLIC_MEMBERS):
            if (rtype, name) != ("google_cloud_run_v2_service_iam_member", "public"):
                problems.append(f"{rtype}.{name} grants to the public")
            elif 'f.trigger == "https-public"' not in str(body.get("for_each")):
                problems.append(f"{rtype}.{name} is not limited to https-public functions")
            elif body.get("role") != "roles/run.invoker":
                problems.append(f"{rtype}.{name} grants more than run.invoker to the public")
    return problems


def check_ingress(infra: Infra) -> list[str]:
    """Internal-only unless the public API or the callback (open until it is narrowed to
    the validators' network, decision record 0022)."""
    problems = []
    rule = str(infra.locals.get("function_ingress", ""))
    if not all(p in rule for p in ('"https-public"', '"validator"', '"ALLOW_INTERNAL_ONLY"')):
        problems.append("function_ingress does not keep Tasks/Scheduler/Eventarc targets internal")
    if not re.search(r'f\.trigger == "https-iap" \? "ALLOW_INTERNAL_AND_GCLB"', rule):
        problems.append("function_ingress lets the console be reached other than through IAP")
    for name, body in infra.resources.get("google_cloudfunctions2_function", {}).items():
        setting = _one(body.get("service_config")).get("ingress_settings")
        if setting != "${local.function_ingress[each.key]}":
            problems.append(f"function resource {name} ignores function_ingress ({setting})")
    return problems


def check_invokers(infra: Infra) -> list[str]:
    problems = []
    identities = set(infra.units["identities"])
    expected = expected_invokers(infra.units)
    for name, f in infra.functions.items():
        if f["trigger"] == IAP_TRIGGER and f.get("invokers"):
            problems.append(f"{name} is behind IAP, yet names invokers {f['invokers']}")
        if f["trigger"] not in PRIVATE_TRIGGERS:
            continue
        declared = set(f.get("invokers", []))
        unknown = declared - identities - {"validator"}
        if unknown:
            problems.append(f"{name} names unknown invokers {sorted(unknown)}")
        if declared != expected.get(name, set()):
            problems.append(
                f"{name} is invoked by {sorted(declared)}, "
                f"but is called by {sorted(expected.get(name, set()))}"
            )
    emails = str(infra.locals.get("invoker_emails", ""))
    if "f.invokers" not in emails or "google_service_account.job" not in emails:
        problems.append("invoker_emails is not built from units.json invokers")
    invoker = infra.resource("google_cloud_run_v2_service_iam_member", "invoker")
    if "local.invoker_emails" not in str(invoker.get("for_each")):
        problems.append("private functions' invokers are not units.json's")
    if invoker.get("member") != "serviceAccount:${each.value.email}":
        problems.append("a private function's invoker is not exactly its service account")
    for rtype, name, body in infra.all_resources():
        if body.get("role") == "roles/run.invoker" and (rtype, name) not in INVOKER_GRANTS:
            problems.append(f"{rtype}.{name} grants run.invoker outside units.json")
        if rtype == "google_project_iam_member" and str(body.get("role", "")).startswith(
            "roles/run."
        ):
            problems.append(f"{rtype}.{name} grants a Cloud Run role on the whole project")
    return problems


def check_console(infra: Infra) -> list[str]:
    """The console (units.json's one https-iap function) is IAP's load balancer's backend,
    invoked by IAP's service agent alone, and takes assertions for that backend only."""
    problems = []
    behind = [n for n, f in infra.functions.items() if f["trigger"] == IAP_TRIGGER]
    if len(behind) > 1:
        problems.append(f"units.json puts {behind} behind IAP; the load balancer has one backend")
    selected = str(infra.locals.get("iap_functions", ""))
    if 'if f.trigger == "https-iap"' not in selected or "local.functions" not in selected:
        problems.append("iap_functions is not units.json's https-iap functions")
    if "local.iap_functions" not in str(infra.locals.get("console_function", "")):
        problems.append("the console function is not units.json's https-iap function")
    neg = infra.resource("google_compute_region_network_endpoint_group", "console")
    if _one(neg.get("cloud_run")).get("service") != "${local.console_function}":
        problems.append("IAP's load balancer does not serve the console function")
    backend = infra.resource("google_compute_backend_service", "console")
    if _one(backend.get("iap")).get("enabled") is not True:
        problems.append("the console's backend service does not have IAP on")
    grant = infra.resource("google_cloud_run_v2_service_iam_member", "iap")
    if grant.get("member") != "serviceAccount:${local.iap_service_agent}":
        problems.append("the console's invoker is not exactly IAP's service agent")
    if infra.locals.get("iap_service_agent") != IAP_AGENT:
        problems.append(f"iap_service_agent is not {IAP_AGENT}")
    if "local.iap_functions" not in str(grant.get("for_each")):
        problems.append("IAP's agent may invoke more than the console")
    audience = str(infra.locals.get("console_iap_audience", ""))
    if "google_compute_backend_service.console[0].generated_id" not in audience:
        problems.append("the console's audience is not its backend service's")
    env = str(infra.locals.get("function_iap_env", ""))
    if "local.iap_functions" not in env or "ASSAY_IAP_AUDIENCE" not in env:
        problems.append("the console is not given ASSAY_IAP_AUDIENCE")
    http = infra.resource("google_cloudfunctions2_function", "http")
    variables = str(_one(http.get("service_config")).get("environment_variables"))
    if "lookup(local.function_iap_env, each.key, {})" not in variables:
        problems.append("the functions do not take function_iap_env")
    return problems


def check_jobs(infra: Infra, catalog: set[str]) -> list[str]:
    problems = []
    jobs = {j["validator"]: j for j in infra.units["jobs"]}
    problems += [f"validator {v} has no job" for v in sorted(catalog - set(jobs))]
    problems += [f"job for unknown validator {v}" for v in sorted(set(jobs) - catalog)]
    for validator, job in jobs.items():
        if job["name"] != f"validator-{validator}":
            problems.append(f"job {job['name']} is not named validator-{validator}")
        if not (ROOT / job["dockerfile"]).is_file():
            problems.append(f"job {job['name']} has no Dockerfile at {job['dockerfile']}")
    body = infra.resource("google_cloud_run_v2_job", "validator")
    if body.get("for_each") != "${local.jobs}":
        problems.append("validator jobs are not the jobs of units.json")
    if body.get("labels") != {"validator": "${each.value.validator}", "version": "${var.release}"}:
        problems.append("validator jobs are not labelled validator=<name>, version=<release>")
    task = _one(_one(body.get("template")).get("template"))
    container = _one(task.get("containers"))
    env = {e.get("name"): e.get("value") for e in container.get("env", [])}
    if env.get("VALIDATOR_VERSION") != "${var.release}":
        problems.append("validator jobs do not get VALIDATOR_VERSION=<release>")
    if not str(container.get("image", "")).endswith(":${var.release}"):
        problems.append("validator images are not the release's")
    if task.get("max_retries") != 0:
        problems.append("validator jobs retry blindly")
    if "google_service_account.job[each.key]" not in str(task.get("service_account")):
        problems.append("validator jobs do not run as their own service account")
    return problems


def check_buckets(infra: Infra) -> list[str]:
    problems = []
    buckets = infra.resources.get("google_storage_bucket", {})
    if buckets.get("unit", {}).get("for_each") != "${local.units.buckets}":
        problems.append("buckets are not the buckets of units.json")
    for name, body in buckets.items():
        if body.get("uniform_bucket_level_access") is not True:
            problems.append(f"bucket {name} lacks uniform bucket-level access")
        if body.get("public_access_prevention") != "enforced":
            problems.append(f"bucket {name} does not enforce public access prevention")
        if _one(body.get("versioning")).get("enabled") is not False:
            problems.append(f"bucket {name} keeps versions")
    rules = buckets.get("unit", {}).get("lifecycle_rule", [])
    deletes = [
        _one(r.get("condition")) for r in rules if _one(r.get("action")).get("type") == "Delete"
    ]
    if not any("days_since_custom_time" in c for c in deletes):
        problems.append("no lifecycle safety net on the end of retention (customTime)")
    if any("age" in c or "created_before" in c for c in deletes):
        problems.append("a lifecycle rule deletes by age: it would cut retention short")
    soft = _one(buckets.get("unit", {}).get("soft_delete_policy"))
    if soft.get("retention_duration_seconds") != 0:
        problems.append("soft delete keeps purged content recoverable")
    return problems


def check_storage_grants(infra: Infra) -> list[str]:
    """No storage role on the whole project, and none at all for a validator job: a job
    reaches only the objects its launch signed URLs for (decision record 0024)."""
    problems = []
    for rtype, name, body in infra.all_resources():
        role = str(body.get("role", ""))
        if role in PRIMITIVE_ROLES:
            problems.append(f"{rtype}.{name} grants the primitive role {role}")
        if rtype == "google_project_iam_member" and role.startswith("roles/storage."):
            problems.append(f"{rtype}.{name} grants storage on the whole project")
        if "google_service_account.job" not in str(body.get("member", "")):
            continue
        if rtype.startswith("google_storage_") or "storage" in role.lower():
            problems.append(f"{rtype}.{name} grants a validator job a storage role")
        elif rtype == "google_project_iam_member":
            problems.append(f"{rtype}.{name} grants a validator job a project role")
    return problems


# --- The validator jobs' network (decision record 0022) ---------------------------------

# private.googleapis.com: the Private Google Access VIP, the one place a job can reach.
PRIVATE_GOOGLE_RANGE = "199.36.153.8/30"
PRIVATE_GOOGLE_IPS = {"199.36.153.8", "199.36.153.9", "199.36.153.10", "199.36.153.11"}
NETWORK = "google_compute_network.validators"
# Anything that would give the network another way out.
WAYS_OUT = (
    "google_compute_router",
    "google_compute_router_nat",
    "google_compute_network_peering",
    "google_compute_vpn_gateway",
    "google_compute_ha_vpn_gateway",
    "google_compute_vpn_tunnel",
    "google_compute_address",
    "google_vpc_access_connector",
)
TOKEN_CREATOR = "roles/iam.serviceAccountTokenCreator"
SIGN_BLOB = "iam.serviceAccounts.signBlob"
# Permissions that mint credentials as another account (Token Creator's, less signBlob).
MINTING = (
    "iam.serviceAccounts.getAccessToken",
    "iam.serviceAccounts.getOpenIdToken",
    "iam.serviceAccounts.implicitDelegation",
    "iam.serviceAccounts.signJwt",
)


def _refers(value: Any, address: str) -> bool:
    """An expression that names `address` (`google_x.y`), as `${google_x.y.attr}`."""
    return re.search(rf"\b{re.escape(address)}\b(\.|\[|\}})", str(value)) is not None


def _values(infra: Infra, body: dict[str, Any], value: Any) -> list[Any]:
    """What an attribute holds: a literal, a local, or each value of a map for_each."""
    if isinstance(value, list):
        return [v for item in value for v in _values(infra, body, item)]
    text = str(value)
    local = re.fullmatch(r"\$\{local\.(\w+)\}", text)
    if local:
        return _values(infra, body, infra.locals.get(local.group(1)))
    each = body.get("for_each")
    if text == "${each.value}" and isinstance(each, dict):
        return [v for item in each.values() for v in _values(infra, body, item)]
    return [value]


def _on_network(body: dict[str, Any]) -> bool:
    return _refers(body.get("network"), NETWORK)


def check_validator_network(infra: Infra) -> list[str]:
    """Every validator job sends all its traffic into the validators' network, whose only
    way out is Private Google Access: no default route, no NAT, egress denied but to the
    VIP, and googleapis.com and run.app resolving to the VIP."""
    problems = []
    network = infra.resource("google_compute_network", "validators")
    if not network:
        return ["there is no validators' network (google_compute_network.validators)"]
    if network.get("auto_create_subnetworks") is not False:
        problems.append("the validators' network creates subnetworks of its own")
    if network.get("delete_default_routes_on_create") is not True:
        problems.append("the validators' network keeps its default route to the internet")

    subnets = {
        name
        for name, body in infra.resources.get("google_compute_subnetwork", {}).items()
        if _on_network(body)
    }
    for name in sorted(subnets):
        body = infra.resource("google_compute_subnetwork", name)
        if body.get("private_ip_google_access") is not True:
            problems.append(f"subnetwork {name} has no Private Google Access")

    job = infra.resource("google_cloud_run_v2_job", "validator")
    task = _one(_one(job.get("template")).get("template"))
    access = _one(task.get("vpc_access"))
    interfaces = access.get("network_interfaces", [])
    if not access:
        problems.append("validator jobs have no Direct VPC egress (vpc_access)")
    elif access.get("egress") != "ALL_TRAFFIC":
        problems.append("validator jobs do not send all traffic into the validators' network")
    if access and "connector" in access:
        problems.append("validator jobs go through a VPC connector, not Direct VPC egress")
    if access and len(interfaces) != 1:
        problems.append("validator jobs do not have exactly one network interface")
    for interface in interfaces:
        if not _refers(interface.get("network"), NETWORK):
            problems.append("validator jobs' network is not the validators' network")
        if not any(
            _refers(interface.get("subnetwork"), f"google_compute_subnetwork.{s}") for s in subnets
        ):
            problems.append("validator jobs' subnetwork is not one of the validators' network")

    for rtype in WAYS_OUT:
        for name in infra.resources.get(rtype, {}):
            problems.append(f"{rtype}.{name} gives the network a way out (NAT, router, peering)")

    for name, body in infra.resources.get("google_compute_route", {}).items():
        if not _on_network(body):
            continue
        ranges = _values(infra, body, body.get("dest_range"))
        if ranges != [PRIVATE_GOOGLE_RANGE]:
            problems.append(f"route {name} leads to {ranges}, not only private.googleapis.com")
        if body.get("next_hop_gateway") != "default-internet-gateway":
            problems.append(f"route {name} goes through something other than Private Google Access")

    problems += _check_firewall(infra)
    problems += _check_dns(infra)
    return problems


def _priority(body: dict[str, Any]) -> int:
    """A firewall rule's priority (1000 unless set; an expression counts as the lowest)."""
    value = body.get("priority", 1000)
    return value if isinstance(value, int) else 65535


def _check_firewall(infra: Infra) -> list[str]:
    problems = []
    rules = {
        name: body
        for name, body in infra.resources.get("google_compute_firewall", {}).items()
        if _on_network(body) and body.get("direction") == "EGRESS"
    }
    denies = {
        name: body
        for name, body in rules.items()
        if any(d.get("protocol") == "all" for d in body.get("deny", []))
        and "0.0.0.0/0" in _values(infra, body, body.get("destination_ranges"))
        and body.get("disabled") is not True
        and not body.get("target_tags")
        and not body.get("target_service_accounts")
    }
    if not denies:
        problems.append("no firewall rule denies the validators' network all egress")
    floor = min((_priority(b) for b in denies.values()), default=0)
    for name, body in rules.items():
        if not body.get("allow"):
            continue
        ranges = _values(infra, body, body.get("destination_ranges", ["0.0.0.0/0"]))
        if any(r != PRIVATE_GOOGLE_RANGE for r in ranges):
            problems.append(f"firewall {name} allows egress to {ranges}, beyond the APIs' VIP")
        for allowed in body["allow"]:
            if allowed.get("protocol") != "tcp" or allowed.get("ports") != ["443"]:
                problems.append(f"firewall {name} allows more than HTTPS")
        if _priority(body) >= floor:
            problems.append(f"firewall {name} does not take precedence over the deny rule")
    return problems


def _check_dns(infra: Infra) -> list[str]:
    problems = []
    served: set[str] = set()
    for body in infra.resources.get("google_dns_managed_zone", {}).values():
        config = _one(body.get("private_visibility_config"))
        if body.get("visibility") != "private" or not any(
            _refers(n.get("network_url"), NETWORK) for n in config.get("networks", [])
        ):
            continue
        served |= {str(v) for v in _values(infra, body, body.get("dns_name"))}
    for domain in ("googleapis.com.", "run.app."):
        if domain not in served:
            problems.append(f"{domain} has no private zone on the validators' network")
    records: dict[str, dict[str, Any]] = {}
    for body in infra.resources.get("google_dns_record_set", {}).values():
        each = body.get("for_each")
        if isinstance(each, dict) and body.get("name") == "${each.key}":
            records.update(each)
        elif isinstance(body.get("name"), str):
            records[body["name"]] = body
    for name in ("private.googleapis.com.", "run.app."):
        record = records.get(name, {})
        addresses = set(_values(infra, record, record.get("rrdatas", [])))
        if record.get("type") != "A" or not addresses or not addresses <= PRIVATE_GOOGLE_IPS:
            problems.append(f"{name} does not resolve to private.googleapis.com's addresses")
    aliases = {"*.googleapis.com.": "private.googleapis.com.", "*.run.app.": "run.app."}
    for name, target in aliases.items():
        record = records.get(name, {})
        if record.get("type") != "CNAME" or record.get("rrdatas") != [target]:
            problems.append(f"{name} is not an alias of {target}")
    return problems


def check_signing(infra: Infra) -> list[str]:
    """The api and the worker sign URLs through a custom role holding signBlob alone, each
    on its own account; no identity holds Token Creator or any permission that mints
    tokens."""
    problems = []
    for rtype, name, body in infra.all_resources():
        roles = [body.get("role")] + [b.get("role") for b in body.get("binding", [])]
        if any(TOKEN_CREATOR in str(r) for r in roles):
            problems.append(f"{rtype}.{name} grants Token Creator")
    for name, body in infra.resources.get("google_project_iam_custom_role", {}).items():
        minting = sorted(set(body.get("permissions", [])) & set(MINTING))
        if minting:
            problems.append(f"custom role {name} mints credentials ({', '.join(minting)})")
    signer = infra.resource("google_project_iam_custom_role", "url_signer")
    if signer.get("permissions") != [SIGN_BLOB]:
        problems.append(f"the signing role holds {signer.get('permissions')}, not exactly signBlob")
    # Exactly two signers, each on its own account: the api (upload URLs) and the worker
    # (each execution's URLs).
    signers = {"api_signs_as_itself": "api", "worker_signs_as_itself": "worker"}
    for binding_name, who in signers.items():
        binding = infra.resources.get("google_service_account_iam_member", {}).get(binding_name)
        if binding is None:
            problems.append(f"the {who} has no signing binding ({binding_name})")
            continue
        if not _refers(binding.get("role"), "google_project_iam_custom_role.url_signer"):
            problems.append(f"the {who} does not sign through the signing role")
        account = f'google_service_account.identity["{who}"]'
        if account not in str(binding.get("service_account_id")) or account not in str(
            binding.get("member")
        ):
            problems.append(f"the signing role is not the {who}'s, on its own account")
    allowed = {("google_service_account_iam_member", name) for name in signers}
    for rtype, name, body in infra.all_resources():
        if _refers(body.get("role"), "google_project_iam_custom_role.url_signer") and (
            (rtype, name) not in allowed
        ):
            problems.append(f"{rtype}.{name} grants the signing role beyond the api's and worker's")
    return problems

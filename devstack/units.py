"""infra/units.json, the one list of deployed units, as the local stack reads it: the
same functions, queues, schedules and identities that Terraform deploys."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
UNITS_FILE = ROOT / "infra" / "units.json"
# A function reached only through Identity-Aware Proxy (the console): locally, through
# the identity stand-in (devstack/identity.py).
IAP_TRIGGER = "https-iap"


@dataclass(frozen=True)
class FunctionUnit:
    name: str
    entry_point: str
    trigger: str
    identity: str
    invokers: tuple[str, ...]
    setting: str

    @property
    def url_variable(self) -> str:
        """The environment variable that holds this function's URL (ASSAY_LAUNCH_URL)."""
        return f"ASSAY_{self.setting.upper()}"

    @property
    def behind_iap(self) -> bool:
        return self.trigger == IAP_TRIGGER

    @property
    def invokers_variable(self) -> str:
        """The variable listing who may call it (ASSAY_LAUNCH_INVOKERS)."""
        return f"ASSAY_{self.setting.removesuffix('_url').upper()}_INVOKERS"


@dataclass(frozen=True)
class Units:
    functions: tuple[FunctionUnit, ...]
    queues: tuple[dict[str, Any], ...]
    schedules: tuple[dict[str, Any], ...]
    jobs: tuple[dict[str, Any], ...]
    identities: tuple[str, ...]

    def function(self, name: str) -> FunctionUnit:
        return next(f for f in self.functions if f.name == name)

    def console(self) -> FunctionUnit:
        """The one function behind IAP (Terraform's load balancer has one backend)."""
        (unit,) = (f for f in self.functions if f.behind_iap)
        return unit


@lru_cache(maxsize=1)
def load() -> Units:
    data = json.loads(UNITS_FILE.read_text())
    functions = tuple(
        FunctionUnit(
            name=f["name"],
            entry_point=f["entry_point"],
            trigger=f["trigger"],
            identity=f["identity"],
            invokers=tuple(f.get("invokers", ())),
            setting=f["setting"],
        )
        for f in data["functions"]
    )
    return Units(
        functions=functions,
        queues=tuple(data["queues"]),
        schedules=tuple(data["schedules"]),
        jobs=tuple(data["jobs"]),
        identities=tuple(data["identities"]),
    )


def service_account(identity: str, project: str) -> str:
    """The email of an identity: a role's of `identities`, or a job's own `identity`
    (Terraform names the accounts the same way)."""
    return f"assay-{identity}@{project}.iam.gserviceaccount.com"


def job_accounts(project: str) -> dict[str, str]:
    """Each validator job's own service account, by job name."""
    return {j["name"]: service_account(j["identity"], project) for j in load().jobs}


def validator_identities(project: str) -> dict[str, str]:
    """Each validator's job identity, by validator: whom the callback takes its
    steps' results from (ASSAY_VALIDATOR_IDENTITIES)."""
    return {j["validator"]: service_account(j["identity"], project) for j in load().jobs}

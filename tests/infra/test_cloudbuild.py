"""cloudbuild.yaml tests before it deploys, builds every validator job's image with the
commit as its tag, deploys the staged functions, and passes Terraform exactly the
variables infra/variables.tf declares (those without a default included)."""

from __future__ import annotations

import re
from typing import Any

import hcl2
import yaml

from tests.infra.terraform_rules import ROOT

STEPS: list[dict[str, Any]] = yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())["steps"]


def _script(step: dict[str, Any]) -> str:
    return " ".join(step.get("args", []))


def _index(step_id: str) -> int:
    return next(i for i, s in enumerate(STEPS) if s["id"] == step_id)


def _terraform_vars(step: dict[str, Any]) -> dict[str, str]:
    return dict(re.findall(r"-var=(\w+)=(\S+)", _script(step)))


def _declared() -> dict[str, bool]:
    """Variable name -> has a default."""
    with (ROOT / "infra" / "variables.tf").open() as handle:
        blocks = hcl2.load(handle)["variable"]
    return {name.strip('"'): "default" in body for block in blocks for name, body in block.items()}


def test_make_test_runs_before_anything_is_built_or_deployed() -> None:
    test = _index("test")
    assert "make test" in _script(STEPS[test])
    for later in ("registry", "images", "stage", "deploy"):
        assert _index(later) > test, later


def test_every_validator_job_image_is_built_from_units_json_and_tagged_with_the_commit() -> None:
    listing = _script(STEPS[_index("image-list")])
    assert 'infra/units.json").read_text())["jobs"]' in listing
    assert "j['dockerfile']" in listing
    images = _script(STEPS[_index("images")])
    assert "done < build/images.txt" in images
    assert '-f "$$dockerfile"' in images
    assert "--build-arg VALIDATOR_VERSION=${COMMIT_SHA}" in images
    assert '-t "$$repo/$$name:${COMMIT_SHA}"' in images
    assert 'docker push "$$repo/$$name:${COMMIT_SHA}"' in images
    # the image path is the one Terraform's jobs run: <registry>/<job name>:<release>
    jobs_tf = (ROOT / "infra" / "jobs.tf").read_text()
    assert 'image = "${local.image_repository}/${each.key}:${var.release}"' in jobs_tf
    assert _index("registry") < _index("images") < _index("deploy")


def test_the_deploy_applies_the_staged_functions_at_the_commit() -> None:
    stage = _script(STEPS[_index("stage")])
    assert "make stage" in stage and "zip -qr ../functions.zip ." in stage
    deploy = STEPS[_index("deploy")]
    assert deploy["args"][:2] == ["-chdir=infra", "apply"]
    given = _terraform_vars(deploy)
    assert given["release"] == "${COMMIT_SHA}"
    assert given["functions_source_zip"] == "/workspace/build/functions.zip"


def test_terraform_gets_every_required_variable_and_no_unknown_one() -> None:
    declared = _declared()
    required = {name for name, has_default in declared.items() if not has_default}
    for step_id in ("registry", "deploy"):
        given = set(_terraform_vars(STEPS[_index(step_id)]))
        assert required <= given, (step_id, required - given)
        assert given <= set(declared), (step_id, given - set(declared))


def test_bash_variables_are_escaped_from_cloud_builds_substitutions() -> None:
    for step in STEPS:
        for name in re.findall(r"(?<!\$)\$\{?([A-Za-z_]\w*)", _script(step)):
            # Cloud Build's own are PROJECT_ID, COMMIT_SHA, ... and _USER_DEFINED ones.
            assert name.upper() == name, f"step {step['id']}: ${name} would be a substitution"


def test_the_console_is_configured_by_substitutions_that_default_to_off() -> None:
    pipeline = yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())
    given = _terraform_vars(STEPS[_index("deploy")])
    assert given["console_domain"] == "${_CONSOLE_DOMAIN}"
    assert given["console_members"] == "${_CONSOLE_MEMBERS}"
    # No domain: iap.tf creates nothing (local.console_enabled), the console is inert.
    assert pipeline["substitutions"]["_CONSOLE_DOMAIN"] == ""
    assert pipeline["substitutions"]["_CONSOLE_MEMBERS"] == "[]"
    locals_tf = (ROOT / "infra" / "locals.tf").read_text()
    assert 'coalesce(var.console_enabled, var.console_domain != "")' in locals_tf

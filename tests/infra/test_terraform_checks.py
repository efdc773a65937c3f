"""Terraform's formatter and checkov's policies pass on infra/ (both run in make test).

`terraform validate` is not among them: it needs the Google provider, which these
machines cannot download (docs/deploy.md); test_terraform_structure.py covers the rules
a deploy depends on instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from tests.infra.terraform_rules import ROOT

INFRA = ROOT / "infra"
CHECKOV = ROOT / ".tools" / "checkov" / "bin" / "checkov"


def _quiet_env() -> dict[str, str]:
    # No network here: keep terraform and checkov from reaching for it.
    return {
        **os.environ,
        "TF_CLI_CONFIG_FILE": "/dev/null",
        "CHECKPOINT_DISABLE": "1",
        "BC_SKIP_MAPPING": "TRUE",
    }


def test_terraform_is_formatted() -> None:
    terraform = shutil.which("terraform")
    assert terraform, "terraform is not on PATH"
    result = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff", str(INFRA)],
        capture_output=True,
        text=True,
        env=_quiet_env(),
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_checkov_finds_no_failed_check() -> None:
    assert CHECKOV.exists(), "run `make tools` (tools/checkov.txt) first"
    result = subprocess.run(
        [
            str(CHECKOV),
            "-d",
            str(INFRA),
            "--framework",
            "terraform",
            "--skip-download",
            "--output",
            "json",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        env=_quiet_env(),
        timeout=300,
    )
    report = json.loads(result.stdout)
    summary = report["summary"]
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
        for c in report["results"]["failed_checks"]
    ]
    assert summary["failed"] == 0, "\n".join(failed)
    assert summary["parsing_errors"] == 0, summary
    assert summary["passed"] > 20, summary


def test_every_checkov_skip_says_why() -> None:
    skips = [
        (path.name, match)
        for path in sorted(INFRA.glob("*.tf"))
        for match in re.findall(r"checkov:skip=([^\n]*)", path.read_text())
    ]
    assert skips, "expected the documented skips (versioning, public API, ingress)"
    for name, skip in skips:
        check, _, reason = skip.partition(":")
        assert re.fullmatch(r"CKV2?_GCP_\d+", check), (name, skip)
        assert len(reason.strip().split()) >= 5, f"{name}: skip {check} gives no reason"


def test_a_failing_policy_is_reported(tmp_path: Path) -> None:
    """The check above would see a failure: a public bucket without PAP fails checkov."""
    (tmp_path / "main.tf").write_text(
        'resource "google_storage_bucket" "open" {\n  name     = "open"\n  location = "US"\n}\n'
    )
    result = subprocess.run(
        [
            str(CHECKOV),
            "-d",
            str(tmp_path),
            "--framework",
            "terraform",
            "--skip-download",
            "--output",
            "json",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        env=_quiet_env(),
        timeout=300,
    )
    assert json.loads(result.stdout)["summary"]["failed"] > 0

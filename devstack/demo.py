"""`make demo`: start the local stack, create an org, a key and the example workflows,
submit a valid and an invalid example for each (JSON Schema, XML Schema, a BuildingSync
use case's Schematron, SHACL on a Brick model, an FMU, the same FMU against a reference
CSV, EnergyPlus) with the `assay` CLI, show each result, make demo@example.com the org's
admin and end by printing the console's URL and how to sign in there. In a terminal the
stack then stays up for the console until Ctrl-C (ASSAY_DEMO_KEEP=1 or 0 says so
elsewhere); otherwise it stops."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from devstack import firestore_emulator

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def start_stack(state: Path, timeout: float = 180) -> subprocess.Popen[str]:
    env = {**os.environ, "ASSAY_LOCAL_DIR": str(state)}
    stack = subprocess.Popen(
        [sys.executable, "-m", "devstack.stack"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    assert stack.stdout is not None
    for line in stack.stdout:
        print(f"  stack: {line.rstrip()}", flush=True)
        if line.strip() == "ready":
            return stack
        if time.monotonic() > deadline:
            break
    stop_stack(stack)
    raise SystemExit("the local stack did not become ready")


def stop_stack(stack: subprocess.Popen[str]) -> None:
    if stack.poll() is None:
        os.killpg(stack.pid, signal.SIGTERM)
        stack.wait(timeout=30)


def assay(state: Path, *args: str, check: bool = True) -> tuple[int, str]:
    cli = str(Path(sys.executable).parent / "assay")
    env = {**os.environ, "ASSAY_LOCAL_DIR": str(state)}
    done = subprocess.run([cli, *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise SystemExit(f"assay {' '.join(args)} failed: {done.stdout}{done.stderr}")
    return done.returncode, done.stdout


# Each example workflow with a file that passes (exit 0) and one that fails (exit 1), and
# the workflow resources it names.
DEMOS: tuple[tuple[str, str, tuple[str, str], tuple[str, ...]], ...] = (
    ("people.workflow.json", "people", ("valid-person.json", "invalid-person.json"), ()),
    ("orders.workflow.json", "orders", ("valid-order.xml", "invalid-order.xml"), ()),
    (
        # An ASHRAE 211 Level 100 audit, against the built-in BuildingSync Schematron.
        "buildingsync.workflow.json",
        "buildingsync",
        ("buildingsync-l100-audit.xml", "buildingsync-l100-audit-incomplete.xml"),
        (),
    ),
    # A Brick model checked with SHACL shapes.
    ("brick.workflow.json", "brick", ("brick-model.ttl", "brick-model-invalid.ttl"), ()),
    ("tank.workflow.json", "tank", ("Tank.fmu", "TankFailing.fmu"), ()),
    # The FMU's results compared with a reference CSV within tolerances.
    (
        "tank-reference.workflow.json",
        "tank-reference",
        ("Tank.fmu", "TankFailing.fmu"),
        ("tank-reference.csv",),
    ),
    ("box.workflow.json", "box", ("box.idf", "box-broken.idf"), ()),
)
EXPECTED = {f"{slug}/{good}": 0 for _, slug, (good, _), _ in DEMOS} | {
    f"{slug}/{bad}": 1 for _, slug, (_, bad), _ in DEMOS
}
# Who the printed sign-in link signs in: the demo org's admin.
DEMO_PERSON = "demo@example.com"


def apply_with_resources(
    state: Path, org: str, workflow: Path, slug: str, resources: tuple[str, ...]
) -> None:
    """Applies the example workflow. A resource is uploaded to a workflow that exists, so
    one that names resources is first saved without the configs that name them."""
    if resources:
        spec = json.loads(workflow.read_text())
        for step in spec["steps"]:
            step["config"].pop("reference", None)
            step["assertions"] = []
        first = state / f"{slug}.first.json"
        first.write_text(json.dumps(spec))
        print(assay(state, "workflows", "apply", str(first), "--org", org)[1].strip())
        for name in resources:
            upload = ("workflows", "upload-resource", str(EXAMPLES / name))
            print(assay(state, *upload, "--org", org, "--workflow", slug)[1].strip())
    print(assay(state, "workflows", "apply", str(workflow), "--org", org)[1].strip())


def stack_settings(state: Path) -> dict[str, str]:
    lines = (state / "stack.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def keep_running() -> bool:
    """Whether to leave the stack up for the console: asked for, or run in a terminal."""
    asked = os.environ.get("ASSAY_DEMO_KEEP", "")
    if asked in ("0", "1"):
        return asked == "1"
    return sys.stdin.isatty() and sys.stdout.isatty()


def show_console(state: Path, org: str, stack: subprocess.Popen[str]) -> None:
    """Makes DEMO_PERSON the org's admin and prints where the console is and how to sign
    in (the identity stand-in's page, as IAP's sign-in in the cloud)."""
    assay(state, "admin", "members", "add", "--org", org, "--email", DEMO_PERSON, "--role", "admin")
    console = stack_settings(state)["ASSAY_CONSOLE_URL"]
    print(f"\nThe console: {console}")
    print(f"Sign in as the demo org's admin: {console}/_dev/sign-in?email={DEMO_PERSON}")
    if not keep_running():
        print("(The stack stops now; ASSAY_DEMO_KEEP=1 make demo keeps it up for the console.)")
        return
    print("The local stack stays up for the console; Ctrl-C stops it.", flush=True)
    try:
        stack.wait()
    except KeyboardInterrupt:
        print()


def main() -> int:
    reason = firestore_emulator.missing()
    if reason:
        print(reason, file=sys.stderr)
        return 2
    state = Path(os.environ.get("ASSAY_LOCAL_DIR", ROOT / ".local")) / "demo"
    print("Starting the local stack…", flush=True)
    stack = start_stack(state)
    try:
        _, out = assay(state, "admin", "create-org", "Demo Org", "--json")
        org = json.loads(out)["id"]
        _, out = assay(state, "admin", "create-key", "--org", org, "--name", "demo", "--json")
        os.environ["ASSAY_API_KEY"] = json.loads(out)["key"]
        print(f"Created organization {org} and an API key.")
        results = {}
        for workflow, slug, samples, resources in DEMOS:
            apply_with_resources(state, org, EXAMPLES / workflow, slug, resources)
            for example in samples:
                print(f"\n$ assay submit examples/{example} --org {org} --workflow {slug} --wait")
                code, out = assay(
                    state,
                    "submit",
                    str(EXAMPLES / example),
                    *("--org", org, "--workflow", slug, "--wait"),
                    check=False,
                )
                print(out.rstrip())
                results[f"{slug}/{example}"] = code
        print(f"\nexit codes: {results}")
        if results != EXPECTED:
            print(f"the demo did not give {EXPECTED}", file=sys.stderr)
            return 1
        print("Demo complete: each valid file passed, each invalid one failed with findings.")
        show_console(state, org, stack)
        return 0
    finally:
        print("Stopping the local stack…", flush=True)
        stop_stack(stack)


if __name__ == "__main__":
    raise SystemExit(main())

"""`make demo`: start the local stack, create an org, a key and a json-schema workflow,
submit a valid and an invalid example for each validator (JSON, XML, FMU, EnergyPlus) with the
`assay` CLI, show each result, stop."""

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


# Each example workflow with a file that passes (exit 0) and one that fails (exit 1).
DEMOS = (
    ("people.workflow.json", "people", ("valid-person.json", "invalid-person.json")),
    ("orders.workflow.json", "orders", ("valid-order.xml", "invalid-order.xml")),
    ("tank.workflow.json", "tank", ("Tank.fmu", "TankFailing.fmu")),
    ("box.workflow.json", "box", ("box.idf", "box-broken.idf")),
)
EXPECTED = {samples[0]: 0 for _, _, samples in DEMOS} | {samples[1]: 1 for _, _, samples in DEMOS}


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
        for workflow, slug, samples in DEMOS:
            _, out = assay(state, "workflows", "apply", str(EXAMPLES / workflow), "--org", org)
            print(out.strip())
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
                results[example] = code
        print(f"\nexit codes: {results}")
        if results != EXPECTED:
            print(f"the demo did not give {EXPECTED}", file=sys.stderr)
            return 1
        print("Demo complete: each valid file passed, each invalid one failed with findings.")
        return 0
    finally:
        print("Stopping the local stack…", flush=True)
        stop_stack(stack)


if __name__ == "__main__":
    raise SystemExit(main())

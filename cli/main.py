"""`assay`: the command line for Assay. Every command takes --json and then prints
exactly one JSON object on stdout (progress, if any, goes to stderr)."""

from __future__ import annotations

import json
import mimetypes
import os
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import quote

import click
import requests
from rich.table import Table

from cli.audit import audit
from cli.members import members
from cli.migrate import migrate
from cli.output import emit, err, fail, out
from cli.schedules import schedules
from cli.uploaders import uploaders
from cli.verify import verify

EXIT_BY_RESULT = {"PASS": 0, "FAIL": 1, "ERROR": 2, "CANCELED": 2, "TIMED_OUT": 2}
EXIT_WAIT_TIMED_OUT = 3

if TYPE_CHECKING:
    from shared.persistence.ports import Repositories


def load_stack_env() -> None:
    """Reads `.local/stack.env` (written by `make up`); the environment wins."""
    base = Path(os.environ.get("ASSAY_LOCAL_DIR", ".local"))
    path = base / "stack.env"
    if not path.is_file():
        return
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and not line.lstrip().startswith("#"):
            os.environ.setdefault(key.strip(), value.strip())


class Api:
    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.url = os.environ.get("ASSAY_API_URL", "").rstrip("/")
        self.key = os.environ.get("ASSAY_API_KEY", "")
        if not self.url:
            fail(as_json, "ASSAY_API_URL is not set (run `make up`, or export it)")
        if not self.key:
            fail(as_json, "ASSAY_API_KEY is not set (create one: assay admin create-key --org ORG)")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {self.key}"

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            response = self.session.request(method, self.url + path, timeout=60, **kwargs)
        except requests.RequestException as exc:
            fail(self.as_json, f"could not reach the API at {self.url}: {exc}", 2)
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            fail(self.as_json, f"{response.status_code}: {detail}", 2, status=response.status_code)
        return response


json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")


@click.group()
def main() -> None:
    """Assay: validate files against workflows."""
    load_stack_env()


@main.group()
def admin() -> None:
    """Administration; talks to Firestore (and Cloud Scheduler) directly."""


admin.add_command(schedules)
admin.add_command(uploaders)
admin.add_command(members)
admin.add_command(migrate)
admin.add_command(audit)
main.add_command(verify)


def _repos() -> Repositories:
    from shared import wiring

    return wiring.repositories()


@admin.command("create-org")
@click.argument("name")
@json_option
def create_org(name: str, as_json: bool) -> None:
    """Create an organization and print its id."""
    from shared.domain.models import Organization
    from shared.platform.clock import utcnow
    from shared.platform.ids import new_id

    org = Organization(id=new_id(), name=name, created_at=utcnow())
    _repos().orgs.create(org)
    emit(as_json, {"id": org.id, "name": org.name}, org.id)


def _duration(value: str | None) -> timedelta | None:
    """`90d`, `12h` or `30m`."""
    if value is None:
        return None
    units = {"d": "days", "h": "hours", "m": "minutes"}
    number, unit = value[:-1], value[-1:]
    if unit not in units or not number.isdigit() or int(number) < 1:
        raise click.BadParameter(
            f"{value!r}: use a whole number of days, hours or minutes: 90d, 12h, 30m"
        )
    return timedelta(**{units[unit]: int(number)})


@admin.command("create-key")
@click.option("--org", required=True)
@click.option("--name", default="default")
@click.option("--expires-in", default=None, help="e.g. 90d, 12h, 30m (default: never).")
@click.option(
    "--role",
    "role_name",
    default="admin",
    show_default=True,
    help='viewer, submitter, author or admin (README "Roles").',
)
@json_option
def create_key(org: str, name: str, expires_in: str | None, role_name: str, as_json: bool) -> None:
    """Create an API key for ORG with a role and print it (it is shown only this once).
    Keys are managed here, with database access, not through the API: no key's role,
    not even admin, creates, lists or revokes keys."""
    from shared.api.auth.api_keys import issue_key
    from shared.domain.roles import parse_role
    from shared.platform.clock import utcnow
    from shared.platform.errors import NotFound

    try:
        role = parse_role(role_name)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--role") from None
    lifetime = _duration(expires_in)
    expires_at = utcnow() + lifetime if lifetime else None
    try:
        record, key = issue_key(_repos(), org, name, expires_at=expires_at, role=role)
    except NotFound as exc:
        fail(as_json, exc.detail, 2)
    payload = {
        "id": record.id,
        "org_id": org,
        "name": name,
        "role": record.role.value,
        "key": key,
        "expires_at": expires_at,
    }
    emit(as_json, payload, key)


def _key_view(key: Any) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "role": key.role.value,
        "prefix": key.prefix,
        "created_at": key.created_at,
        "last_used_at": key.last_used_at,
        "expires_at": key.expires_at,
        "revoked_at": key.revoked_at,
    }


@admin.command("list-keys")
@click.option("--org", required=True)
@json_option
def list_keys(org: str, as_json: bool) -> None:
    """ORG's API keys: name, role, prefix, created, last used, expiry; never the secret."""
    from shared.api.auth.api_keys import list_keys as keys_of
    from shared.platform.errors import NotFound

    try:
        views = [_key_view(k) for k in keys_of(_repos(), org)]
    except NotFound as exc:
        fail(as_json, exc.detail, 2)
    if as_json:
        emit(True, {"keys": views})
        return
    table = Table("id", "name", "role", "prefix", "created", "last used", "expires", "revoked")
    for v in views:
        table.add_row(
            *(
                str(v[k] or "-")
                for k in (
                    "id",
                    "name",
                    "role",
                    "prefix",
                    "created_at",
                    "last_used_at",
                    "expires_at",
                    "revoked_at",
                )
            )
        )
    out.print(table)


@admin.command("revoke-key")
@click.argument("key_id")
@click.option("--org", required=True)
@json_option
def revoke_key(key_id: str, org: str, as_json: bool) -> None:
    """Revoke KEY_ID of ORG: every request with it is a 401 from now on."""
    from shared.api.auth.api_keys import revoke_key as revoke
    from shared.platform.errors import NotFound

    try:
        key = revoke(_repos(), org, key_id)
    except NotFound as exc:
        fail(as_json, exc.detail, 2)
    emit(as_json, {"key": _key_view(key)}, f"revoked {key.id} at {key.revoked_at}")


@admin.command("purge-retries")
@click.option("--all", "everything", is_flag=True, help="Also list records still retrying.")
@click.option("--retry", "retry_id", default=None, help="Try this record's purge again now.")
@json_option
def purge_retries(everything: bool, retry_id: str | None, as_json: bool) -> None:
    """List purges that wait for a person (or all, with --all); --retry ID tries one again."""
    from shared import wiring
    from shared.platform.config import get_settings
    from shared.services import purge

    repos = _repos()
    if retry_id:
        try:
            outcome = purge.retry_by_hand(repos, wiring.blob_store(), get_settings(), retry_id)
        except LookupError as exc:
            fail(as_json, str(exc), 2)
        left = repos.purge_retries.find(retry_id)
        record = left.model_dump(mode="json") if left is not None else None
        emit(
            as_json,
            {"id": retry_id, "outcome": outcome, "record": record},
            f"{retry_id}: {outcome}" + (f" — {record['last_error']}" if record else ""),
        )
        sys.exit(0 if outcome is purge.PurgeOutcome.PURGED else 1)
    records = purge.list_retries(repos, everything=everything)
    if as_json:
        emit(True, {"items": [r.model_dump(mode="json") for r in records]})
        return
    table = Table()
    for column in ("id", "org", "state", "attempts", "next retry", "last error"):
        table.add_column(column)
    for r in records:
        table.add_row(
            r.id,
            r.org_id,
            r.state,
            str(r.attempt_count),
            r.next_retry_at.isoformat(timespec="seconds"),
            r.last_error or "",
        )
    out.print(table if records else "no purge waits for a person")


@main.group()
def workflows() -> None:
    """Workflows of an organization."""


@workflows.command("apply")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--org", required=True)
@json_option
def apply_workflow(file: Path, org: str, as_json: bool) -> None:
    """Create the workflow in FILE, or add a version if its slug exists."""
    api = Api(as_json)
    spec = json.loads(file.read_text())
    slug = spec.get("slug", "")
    exists = api.session.get(f"{api.url}/v1/orgs/{org}/workflows/{slug}", timeout=30)
    if exists.status_code == 200:
        body = api.call("PUT", f"/v1/orgs/{org}/workflows/{slug}", json=spec).json()
    else:
        body = api.call("POST", f"/v1/orgs/{org}/workflows", json=spec).json()
    emit(as_json, body, f"workflow {body['slug']} is at version {body['version']}")


@workflows.command("upload-resource")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--org", required=True)
@click.option("--workflow", "slug", required=True)
@click.option("--name", default=None, help="The resource's name (default: FILE's name).")
@json_option
def upload_resource(file: Path, org: str, slug: str, name: str | None, as_json: bool) -> None:
    """Upload FILE as a resource of the workflow (a weather file, a schema, a reference);
    a new version is saved when the latest one uses a resource of that name."""
    api = Api(as_json)
    named = name or file.name
    with file.open("rb") as data:
        body = api.call(
            "POST",
            f"/v1/orgs/{org}/workflows/{slug}/resources",
            files={"file": (named, data)},
            data={"name": named},
        ).json()
    version = body.get("new_version")
    text = f"resource {named} uploaded to workflow {slug}"
    emit(as_json, body, text + (f"; now at version {version}" if version else ""))


def _findings_table(findings: list[dict[str, Any]]) -> Table:
    table = Table(show_lines=False)
    for column in ("step", "severity", "code", "path", "line:col", "message"):
        table.add_column(column)
    for f in findings:
        where = f"{f['line']}:{f['column']}" if f.get("line") else ""
        table.add_row(
            f["step_key"], f["severity"], f["code"], f.get("path") or "", where, f["message"]
        )
    return table


def _all_findings(api: Api, org: str, run_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token = None
    while True:
        params = {"limit": 1000, **({"page_token": token} if token else {})}
        page = api.call("GET", f"/v1/orgs/{org}/runs/{run_id}/findings", params=params).json()
        items += page["items"]
        token = page.get("next_page_token")
        if not token:
            return items


def _show(run: dict[str, Any], findings: list[dict[str, Any]]) -> None:
    colour = {"PASS": "green", "FAIL": "red"}.get(run["result"], "yellow")
    out.print(
        f"run {run['id']}  [{colour}]{run['result']}[/{colour}]  status {run['status']}"
        f"  workflow {run['workflow_slug']} v{run['workflow_version']}"
        f"  {run.get('duration_ms') or 0} ms",
        highlight=False,
    )
    s = run["summary"]
    out.print(
        f"findings: {s['total']} ({s['error_count']} errors, {s['warning_count']} "
        f"warnings, {s['info_count']} info)",
        highlight=False,
    )
    for step in run["steps"]:
        out.print(
            f"  step {step['order']} {step['key']}: {step['status']}"
            + (f" — {step['error']}" if step.get("error") else ""),
            highlight=False,
        )
        for name, value in sorted((step.get("metrics") or {}).items()):
            out.print(f"    {name} = {value}", highlight=False)
    if run.get("error"):
        out.print(f"error: {run['error']}", highlight=False)
    if findings:
        out.print(_findings_table(findings))


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--org", required=True)
@click.option("--workflow", "slug", required=True)
@click.option("--wait", is_flag=True, help="Wait for the result (exit 0 PASS, 1 FAIL, 2 other).")
@click.option("--timeout", default=300.0, show_default=True, help="Seconds to wait.")
@click.option("--idempotency-key", default=None)
@click.option(
    "--signed-url",
    is_flag=True,
    help="Send the file by signed URL (automatic above the API's body limit).",
)
@json_option
def submit(
    file: Path,
    org: str,
    slug: str,
    wait: bool,
    timeout: float,
    idempotency_key: str | None,
    signed_url: bool,
    as_json: bool,
) -> None:
    """Submit FILE to a workflow."""
    api = Api(as_json)
    content_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    if signed_url or file.stat().st_size > _body_limit():
        if idempotency_key:
            fail(as_json, "--idempotency-key is for direct submissions; a signed URL is once")
        run = _submit_by_url(api, org, slug, file, content_type, timeout)
        if not wait:
            emit(as_json, {"run": run}, f"run {run['id']} {run['status']}")
            return
        _follow(api, org, run, timeout, as_json)
    headers = {"Content-Type": content_type, "X-Filename": file.name}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    if wait:
        # The API holds the answer until the run ends (up to 30 s; a fast-path run is
        # done by then), so most waits need no polling at all.
        headers["Prefer"] = f"wait={max(0, min(int(timeout), 30))}"
    answer = api.call(
        "POST", f"/v1/orgs/{org}/workflows/{slug}/runs", data=file.read_bytes(), headers=headers
    ).json()
    run = answer["run"]
    if not wait:
        emit(as_json, answer, f"run {run['id']} {run['status']}")
        return
    _follow(api, org, run, timeout, as_json)


def _body_limit() -> int:
    """The API's request body limit (its default unless ASSAY_MAX_UPLOAD_BYTES says)."""
    return int(os.environ.get("ASSAY_MAX_UPLOAD_BYTES") or 10 * 1024 * 1024)


def _submit_by_url(
    api: Api, org: str, slug: str, file: Path, content_type: str, timeout: float
) -> dict[str, Any]:
    """Asks for a signed URL, streams FILE to it, and returns the run the upload trigger
    started for it."""
    grant = _send_by_url(api, org, slug, file, content_type)
    return _run_of_grant(api, org, grant, timeout)


def _send_by_url(
    api: Api,
    org: str,
    slug: str,
    file: Path,
    content_type: str,
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Asks the API for a signed-URL grant and streams FILE to it; returns the grant."""
    grant: dict[str, Any] = api.call(
        "POST",
        f"/v1/orgs/{org}/workflows/{slug}/uploads",
        json={
            "filename": file.name,
            "content_type": content_type,
            "size_bytes": file.stat().st_size,
            **(labels or {}),
        },
    ).json()
    with file.open("rb") as body, err.status(f"sending {file.name}", spinner="dots"):
        try:
            sent = requests.put(
                grant["url"], data=body, headers=grant["headers"], timeout=(10, 3600)
            )
        except requests.RequestException as exc:
            fail(api.as_json, f"could not send the file to its signed URL: {exc}", 2)
    if sent.status_code != 200:
        fail(
            api.as_json, f"the signed URL refused the file: {sent.status_code} {sent.text[:500]}", 2
        )
    return grant


def _run_of_grant(api: Api, org: str, grant: dict[str, Any], timeout: float) -> dict[str, Any]:
    """The run the upload trigger started for the object sent through `grant`."""
    event = _poll_upload(api, f"/v1/orgs/{org}/uploads/{grant['upload_id']}", {}, timeout)
    if event["status"] != "ACCEPTED":
        fail(api.as_json, f"the upload was rejected: {event['reason']}", 2, upload=event)
    run: dict[str, Any] = api.call("GET", f"/v1/orgs/{org}/runs/{event['run_id']}").json()
    return run


def _follow(api: Api, org: str, run: dict[str, Any], timeout: float, as_json: bool) -> NoReturn:
    """Waits for the run to end, shows it, and exits with the code of its result."""
    deadline = time.monotonic() + timeout
    with err.status(f"run {run['id']}: {run['status']}", spinner="dots") as status:
        while run["state"] != "COMPLETED":
            if time.monotonic() > deadline:
                emit(
                    as_json,
                    {"run": run, "findings": [], "timed_out": True},
                    f"gave up waiting after {timeout:.0f}s; run {run['id']} is {run['status']}",
                )
                sys.exit(EXIT_WAIT_TIMED_OUT)
            time.sleep(0.5)
            run = api.call("GET", f"/v1/orgs/{org}/runs/{run['id']}").json()
            done = sum(1 for s in run["steps"] if s["status"] not in ("PENDING", "RUNNING"))
            status.update(f"run {run['id']}: {run['status']} ({done}/{len(run['steps'])} steps)")
    findings = _all_findings(api, org, run["id"])
    if as_json:
        emit(True, {"run": run, "findings": findings})
    else:
        _show(run, findings)
    sys.exit(EXIT_BY_RESULT.get(run["result"], 2))


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--org", required=True)
@click.option("--workflow", "slug", required=True)
@click.option("--project", default=None, help="The project it belongs to.")
@click.option("--user", default=None, help="Who uploads it (a label, never an identity).")
@click.option(
    "--direct",
    is_flag=True,
    help="Write with your own storage access (ASSAY_UPLOADS_URI) instead of a signed URL; "
    "only the org's uploaders (`assay admin uploaders`) may.",
)
@click.option("--wait", is_flag=True, help="Wait for the result (exit 0 PASS, 1 FAIL, 2 other).")
@click.option("--timeout", default=300.0, show_default=True, help="Seconds to wait.")
@json_option
def upload(
    file: Path,
    org: str,
    slug: str,
    project: str | None,
    user: str | None,
    direct: bool,
    wait: bool,
    timeout: float,
    as_json: bool,
) -> None:
    """Put FILE in the uploads location for ORG's WORKFLOW; the upload trigger submits
    it. Sends it through a signed URL granted to your API key (ASSAY_API_KEY), or with
    --direct as an uploader of the org."""
    content_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    labels = {k: v for k, v in (("project_id", project), ("user", user)) if v}
    api = Api(as_json)
    if direct:
        path, params, written = _write_directly(org, slug, file, content_type, labels, as_json)
    else:
        grant = _send_by_url(api, org, slug, file, content_type, labels)
        path, params = f"/v1/orgs/{org}/uploads/{grant['upload_id']}", {}
        written = {"upload_id": grant["upload_id"], "object": grant["object_name"]}
    if not wait:
        emit(as_json, written, f"uploaded {written['object']}")
        return
    event = _poll_upload(api, path, params, timeout)
    if event["status"] != "ACCEPTED":
        fail(as_json, f"the upload was rejected: {event['reason']}", 2, upload=event)
    run = api.call("GET", f"/v1/orgs/{org}/runs/{event['run_id']}").json()
    _follow(api, org, run, timeout, as_json)


def _write_directly(
    org: str, slug: str, file: Path, content_type: str, labels: dict[str, str], as_json: bool
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Writes FILE as ORG/WORKFLOW/FILENAME with the caller's own storage access; returns
    where to ask what the trigger made of it, and what was written."""
    from shared.adapters.storage import open_store
    from shared.adapters.storage.layout import UploadsLayout

    root = os.environ.get("ASSAY_UPLOADS_URI", "")
    if not root:
        fail(as_json, "ASSAY_UPLOADS_URI is not set (run `make up`, or export gs://BUCKET)")
    layout = UploadsLayout(root)
    name = layout.object_name(org, slug, file.name)
    metadata = {k.replace("_", "-"): v for k, v in labels.items()}
    generation = open_store(root).write_bytes(
        layout.object_uri(name), file.read_bytes(), content_type, metadata=metadata
    )
    path = f"/v1/orgs/{org}/uploads/{slug}/{quote(file.name, safe='')}"
    written = {"object": name, "uri": layout.object_uri(name), "generation": generation}
    return path, {"generation": generation}, written


def _poll_upload(api: Api, path: str, params: dict[str, Any], timeout: float) -> dict[str, Any]:
    """What the upload trigger made of the object, once it has seen it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = api.session.get(api.url + path, params=params, timeout=30)
        if response.status_code == 200:
            event: dict[str, Any] = response.json()
            return event
        if response.status_code != 404:
            api.call("GET", path, params=params)
        time.sleep(0.3)
    fail(api.as_json, f"the upload trigger did not take the file within {timeout:.0f}s", 3)


@main.group()
def runs() -> None:
    """Validation runs."""


@runs.command("show")
@click.argument("run_id")
@click.option("--org", required=True)
@json_option
def show_run(run_id: str, org: str, as_json: bool) -> None:
    """Show a run and its findings."""
    api = Api(as_json)
    run = api.call("GET", f"/v1/orgs/{org}/runs/{run_id}").json()
    findings = _all_findings(api, org, run_id)
    if as_json:
        emit(True, {"run": run, "findings": findings})
    else:
        _show(run, findings)


@runs.command("cancel")
@click.argument("run_id")
@click.option("--org", required=True)
@json_option
def cancel_run(run_id: str, org: str, as_json: bool) -> None:
    """Cancel a PENDING or RUNNING run (its job execution is cancelled)."""
    run = Api(as_json).call("POST", f"/v1/orgs/{org}/runs/{run_id}/cancel").json()
    emit(as_json, {"run": run}, f"run {run['id']}: {run['status']}")


@runs.command("evidence")
@click.argument("run_id")
@click.option("--org", required=True)
@json_option
def run_evidence(run_id: str, org: str, as_json: bool) -> None:
    """Print a finished run's evidence manifest: its hashes, never content. --json prints
    the manifest as the API serves it; its digest is sha256 of its RFC 8785 form."""
    from shared.domain.evidence import digest

    manifest = Api(as_json).call("GET", f"/v1/orgs/{org}/runs/{run_id}/evidence").json()
    if as_json:
        click.echo(json.dumps(manifest))
        return
    _show_evidence(manifest, digest(manifest))


def _show_evidence(manifest: dict[str, Any], sha256: str) -> None:
    """Plain lines, never wrapped: a digest is copied whole."""
    given = manifest["input"] or {}
    flow = manifest["workflow"]
    lines = [
        f"run {manifest['run_id']}: {manifest['status']} {manifest['result']}",
        f"manifest sha256  {sha256}",
        f"input sha256     {given.get('sha256', 'not recorded')}",
        f"workflow         {flow['slug']} v{flow['version']} (config {flow['config_sha256']})",
    ]
    for step in manifest["steps"]:
        engine = step["engine"] or {}
        lines += [
            f"step {step['order']} {step['key']}: {step['status']}",
            f"  validator      {step['validator']} {step['validator_version'] or ''}".rstrip(),
            f"  image          {step['image'] or '-'}",
            f"  engine         {engine.get('name', '-')} {engine.get('version', '')}".rstrip(),
            f"  output sha256  {step['output_sha256'] or '-'}",
            f"  findings sha256 {step['findings_sha256'] or '-'}",
        ]
    click.echo("\n".join(lines))


@main.group()
def submissions() -> None:
    """Submitted files."""


@submissions.command("rerun")
@click.argument("submission_id")
@click.option("--org", required=True)
@click.option("--user", default=None, help="Who asks (else the API key is the caller).")
@click.option("--wait", is_flag=True, help="Wait for the result (exit 0 PASS, 1 FAIL, 2 other).")
@click.option("--timeout", default=300.0, show_default=True, help="Seconds to wait.")
@json_option
def rerun(
    submission_id: str, org: str, user: str | None, wait: bool, timeout: float, as_json: bool
) -> None:
    """Run a submission again on its pinned workflow version."""
    api = Api(as_json)
    body = {"user": user} if user else {}
    answer = api.call("POST", f"/v1/orgs/{org}/submissions/{submission_id}/runs", json=body)
    run = answer.json()["run"]
    if wait:
        _follow(api, org, run, timeout, as_json)
    emit(as_json, {"run": run}, f"run {run['id']}: {run['status']}")


if __name__ == "__main__":
    main()

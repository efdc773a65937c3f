"""The console's settings page: an admin manages members, API keys and direct uploaders
through the services the command line uses; every change is in the audit log as made by
member:<email> through the console; a new key's secret is shown once; nobody else may
see or change anything here."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import pytest

from shared.api.auth.api_keys import authenticate, issue_key
from shared.domain.enums import ActorKind, AuditAction, Role
from shared.domain.models import AuditEntry
from tests.integration.console_harness import (
    ADMIN,
    AUTHOR,
    CSRF,
    STRANGER,
    SUBMITTER,
    VIEWER,
    ConsoleHarness,
)

ADA = "ada@example.com"
PIPELINE = "serviceAccount:pipeline@customer.iam.gserviceaccount.com"
SECRET = re.compile(r"assay_[A-Za-z0-9]+_[A-Za-z0-9_-]{20,}")


def settings(console: ConsoleHarness) -> str:
    return f"/orgs/{console.org}/settings"


def logged(console: ConsoleHarness, action: AuditAction) -> list[AuditEntry]:
    return list(console.repos.audit.page(console.org, action=action, limit=100).items)


def assert_by_admin(entry: AuditEntry, route: str) -> None:
    assert entry.actor == f"member:{ADMIN}" and entry.actor_kind is ActorKind.MEMBER
    assert entry.route == f"console: /orgs/<org>/settings{route}"


def changed(console: ConsoleHarness, path: str, **data: str) -> Any:
    """POST a settings form as the admin: a 303 back to the page, whose notice is shown."""
    answer = console.post(settings(console) + path, email=ADMIN, data=data)
    assert answer.status_code == 303, answer.get_data(as_text=True)
    location = answer.headers["Location"]
    assert location.startswith(settings(console) + "?done=")
    return console.get(location, email=ADMIN)


@pytest.fixture
def uploads_iam(
    console: ConsoleHarness, serve: Any, tmp_path: Any, monkeypatch: Any
) -> Iterator[None]:
    """The uploads bucket's IAM policy on the local stand-in, as `make up` has it."""
    from devstack.signed_url_gate import SignedUrlGate
    from shared.platform.config import get_settings

    folder = tmp_path / "uploads"
    gate = serve(SignedUrlGate({"uploads": folder.as_uri()}, "http://127.0.0.1:9"))
    monkeypatch.setenv("ASSAY_UPLOADS_URI", folder.as_uri())
    monkeypatch.setenv("ASSAY_STORAGE_IAM_ENDPOINT", gate.url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_an_admin_adds_re_roles_and_removes_a_member(console: ConsoleHarness) -> None:
    page = changed(console, "/members", email=" Ada@Example.com ", role="author")
    assert "ada@example.com is now a member." in page.get_data(as_text=True)
    assert console.repos.members.get(console.org, ADA).role is Role.AUTHOR
    changed(console, "/members/role", email=ADA, role="submitter")
    assert console.repos.members.get(console.org, ADA).role is Role.SUBMITTER
    page = changed(console, "/members/remove", email=ADA)
    assert "ada@example.com is no longer a member." in page.get_data(as_text=True)
    assert console.repos.members.get(console.org, ADA) is None
    (added,) = logged(console, AuditAction.MEMBER_ADDED)[:1]
    (role,) = logged(console, AuditAction.MEMBER_ROLE_CHANGED)
    (removed,) = logged(console, AuditAction.MEMBER_REMOVED)
    assert added.target == role.target == removed.target == f"member:{ADA}"
    assert role.details == {"role": "submitter", "previous_role": "author"}
    assert_by_admin(added, "/members")
    assert_by_admin(role, "/members/role")
    assert_by_admin(removed, "/members/remove")


def test_the_page_lists_members_keys_and_uploaders(console: ConsoleHarness) -> None:
    page = console.get(settings(console), email=ADMIN)
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    for email in (ADMIN, AUTHOR, SUBMITTER, VIEWER):
        assert email in body
    assert authenticate(console.repos, f"Bearer {console.key}").prefix in body
    assert console.key not in body
    assert "Direct uploads are not available here" in body


def test_removing_or_demoting_the_last_admin_is_refused_clearly(console: ConsoleHarness) -> None:
    for path, data in (("/members/remove", {}), ("/members/role", {"role": "viewer"})):
        answer = console.post(settings(console) + path, data={"email": ADMIN, **data})
        assert answer.status_code == 409
        body = answer.get_data(as_text=True)
        assert "is the last admin member" in body and "make another member an admin first" in body
        assert "<h1>Settings</h1>" in body  # the page again, with the problem on it
    assert console.repos.members.get(console.org, ADMIN).role is Role.ADMIN


def test_form_mistakes_are_shown_on_the_page(console: ConsoleHarness) -> None:
    cases = [
        ("/members", {"email": "not an email", "role": "viewer"}, 422),
        ("/members", {"email": VIEWER, "role": "viewer"}, 409),
        ("/members", {"email": ADA, "role": "owner"}, 422),
        ("/members/role", {"email": ADA, "role": "viewer"}, 404),
        ("/keys", {"name": "", "role": "viewer"}, 422),
        ("/keys", {"name": "ci", "role": "viewer", "expires_in": "9y"}, 422),
        ("/keys/0123/revoke", {}, 404),
    ]
    for path, data, status in cases:
        answer = console.post(settings(console) + path, data=data)
        assert answer.status_code == status, (path, data, answer.get_data(as_text=True))
        assert 'class="problem"' in answer.get_data(as_text=True)


def test_a_new_keys_secret_is_shown_once_and_never_again(console: ConsoleHarness) -> None:
    answer = console.post(
        settings(console) + "/keys",
        data={"name": "ci <b>", "role": "submitter", "expires_in": "90d"},
    )
    assert answer.status_code == 201 and "Location" not in answer.headers
    assert answer.headers["Cache-Control"] == "no-store"
    body = answer.get_data(as_text=True)
    (secret,) = set(SECRET.findall(body)) - {console.key}
    assert "ci &lt;b&gt;" in body and "<b>" not in body
    key = authenticate(console.repos, f"Bearer {secret}")
    assert (key.role, key.name, key.expires_at is not None) == (Role.SUBMITTER, "ci <b>", True)
    later = console.get(settings(console), email=ADMIN).get_data(as_text=True)
    assert secret not in later and key.prefix in later
    assert secret.removeprefix(key.prefix) not in later
    (created,) = [
        e for e in logged(console, AuditAction.KEY_CREATED) if e.target == f"key:{key.id}"
    ]
    assert_by_admin(created, "/keys")
    assert created.details == {"role": "submitter"}


def test_an_admin_revokes_a_key(console: ConsoleHarness) -> None:
    record, _ = issue_key(console.repos, console.org, "old", role=Role.VIEWER)
    page = changed(console, f"/keys/{record.id}/revoke")
    assert f"Key {record.id} is revoked" in page.get_data(as_text=True)
    assert console.repos.keys.get(record.id).revoked_at is not None
    (revoked,) = logged(console, AuditAction.KEY_REVOKED)
    assert revoked.target == f"key:{record.id}"
    assert_by_admin(revoked, "/keys/<key>/revoke")


def test_another_orgs_key_is_not_revoked(console: ConsoleHarness) -> None:
    from tests.factories import make_org

    _, other_key = make_org(console.repos, "other")
    key = authenticate(console.repos, f"Bearer {other_key}")
    answer = console.post(settings(console) + f"/keys/{key.id}/revoke")
    assert answer.status_code == 404
    assert console.repos.keys.get(key.id).revoked_at is None


@pytest.mark.usefixtures("uploads_iam")
def test_an_admin_adds_and_removes_a_direct_uploader(console: ConsoleHarness) -> None:
    page = changed(console, "/uploaders", member=PIPELINE)
    assert f"{PIPELINE} may upload directly." in page.get_data(as_text=True)
    assert [u.member for u in console.repos.uploads.uploaders(console.org)] == [PIPELINE]
    page = changed(console, "/uploaders/remove", member=PIPELINE)
    assert "may no longer upload directly" in page.get_data(as_text=True)
    assert console.repos.uploads.uploaders(console.org) == []
    (added,) = logged(console, AuditAction.UPLOADER_ADDED)
    (removed,) = logged(console, AuditAction.UPLOADER_REMOVED)
    assert added.target == removed.target == f"uploader:{PIPELINE}"
    assert_by_admin(added, "/uploaders")
    assert_by_admin(removed, "/uploaders/remove")
    bad = console.post(settings(console) + "/uploaders", data={"member": "someone"})
    assert bad.status_code == 422 and "is not a Google identity" in bad.get_data(as_text=True)


def test_without_a_bucket_policy_uploaders_cannot_be_added(console: ConsoleHarness) -> None:
    answer = console.post(settings(console) + "/uploaders", data={"member": PIPELINE})
    assert answer.status_code == 501
    assert console.repos.uploads.uploaders(console.org) == []


POSTS = [
    ("/members", {"email": ADA, "role": "admin"}),
    ("/members/role", {"email": VIEWER, "role": "admin"}),
    ("/members/remove", {"email": ADMIN}),
    ("/keys", {"name": "mine", "role": "admin"}),
    ("/keys/0123/revoke", {}),
    ("/uploaders", {"member": PIPELINE}),
    ("/uploaders/remove", {"member": PIPELINE}),
]


@pytest.mark.parametrize("email", [VIEWER, SUBMITTER, AUTHOR])
def test_a_member_below_admin_may_neither_see_nor_change_settings(
    console: ConsoleHarness, email: str
) -> None:
    page = console.get(settings(console), email=email)
    assert page.status_code == 403
    assert "needs the role 'admin'" in html.unescape(page.get_data(as_text=True))
    runs = console.get(f"/orgs/{console.org}/runs", email=email).get_data(as_text=True)
    assert "/settings" not in runs and "/audit" not in runs
    for path, data in POSTS:
        answer = console.post(settings(console) + path, email=email, data=data)
        assert answer.status_code == 403, path
    assert console.repos.members.get(console.org, ADA) is None
    assert console.repos.members.get(console.org, ADMIN).role is Role.ADMIN
    assert len(console.repos.keys.all(console.org)) == 1


def test_a_non_member_gets_404_and_changes_nothing(console: ConsoleHarness) -> None:
    assert console.get(settings(console), email=STRANGER).status_code == 404
    for path, data in POSTS:
        assert console.post(settings(console) + path, email=STRANGER, data=data).status_code == 404
    assert console.repos.members.get(console.org, ADA) is None


def test_every_change_needs_the_csrf_token(console: ConsoleHarness) -> None:
    for path, data in POSTS:
        console.client.set_cookie("assay_csrf", CSRF)
        answer = console.client.post(
            settings(console) + path, headers=console.headers(ADMIN), data=data
        )
        assert answer.status_code == 403 and "CSRF" in answer.get_data(as_text=True), path
    assert console.repos.members.get(console.org, ADA) is None
    assert len(console.repos.keys.all(console.org)) == 1


def test_a_notice_shows_only_a_name_never_a_sentence_of_a_links_own(
    console: ConsoleHarness,
) -> None:
    crafted = settings(console) + "?done=member-added&subject=Call+us+now+<script>"
    body = console.get(crafted, email=ADMIN).get_data(as_text=True)
    assert "It is now a member." in body and "Call us" not in body and "<script>" not in body
    unknown = console.get(settings(console) + "?done=pwned&subject=x", email=ADMIN)
    assert 'class="notice"' not in unknown.get_data(as_text=True)


def test_an_admin_who_demotes_themselves_is_sent_to_the_runs(console: ConsoleHarness) -> None:
    console.post(settings(console) + "/members/role", data={"email": VIEWER, "role": "admin"})
    answer = console.post(
        settings(console) + "/members/role", data={"email": ADMIN, "role": "author"}
    )
    assert answer.status_code == 303
    assert answer.headers["Location"] == f"/orgs/{console.org}/runs"


class _RefusingIam:
    """Cloud Storage refusing the console's identity the bucket's policy (the local
    stand-in lets anyone change it, so only a stand-in of the refusal shows this)."""

    def get(self) -> Any:
        from google.api_core.exceptions import Forbidden

        raise Forbidden("storage.buckets.getIamPolicy denied")

    def set(self, policy: Any) -> None:
        raise AssertionError("no policy was read, so none is written")


def test_a_bucket_policy_the_console_may_not_change_is_explained(
    console: ConsoleHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.console.pages import settings as page

    monkeypatch.setattr(page, "_iam", lambda: (_RefusingIam(), "uploads"))
    for path in ("/uploaders", "/uploaders/remove"):
        answer = console.post(settings(console) + path, data={"member": PIPELINE})
        assert answer.status_code == 501
        assert "use `assay admin uploaders`" in html.unescape(answer.get_data(as_text=True))
    assert logged(console, AuditAction.UPLOADER_ADDED) == []

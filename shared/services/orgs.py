"""The org a change names must exist: the one check every org-scoped service makes
before it writes (a 404 names the org)."""

from __future__ import annotations

from shared.persistence.ports import Repositories
from shared.platform.errors import NotFound


def require(repos: Repositories, org_id: str) -> None:
    """NotFound unless `org_id` is an organization."""
    if repos.orgs.get(org_id) is None:
        raise NotFound(f"organization {org_id!r} does not exist")

"""What an API key's role lets it do, beyond the role each route declares (functions/
handlers/api.py): the rules that depend on the object acted on, and the refusal's words.

Tenancy comes first everywhere: another org's object is a 404 whatever the role, so a
403 never tells a caller that something exists outside its org."""

from __future__ import annotations

from shared.domain.enums import Role
from shared.platform.errors import Forbidden

# A submitter re-runs its own submissions and cancels their runs; from this role up, any
# of the org's. ("Its own": submitted with that key, as the submission records.)
ACTS_FOR_OTHERS = Role.AUTHOR
# A workflow version that keeps anything longer than the version before it (a new
# workflow: longer than the default, 30 days) can make the org keep data it chose not to.
LENGTHENS_RETENTION = Role.ADMIN


def require(role: Role, needed: Role, action: str) -> None:
    """Forbidden, naming the role needed and the key's, unless `role` includes `needed`."""
    if not role.allows(needed):
        raise Forbidden(
            f"{action} needs an API key with role {needed.value!r} or above; "
            f"this key's role is {role.value!r}"
        )


def parse_role(raw: str) -> Role:
    """A role from its name, any case; ValueError listing the roles otherwise."""
    try:
        return Role(raw.strip().lower())
    except ValueError:
        names = ", ".join(r.value for r in Role)
        raise ValueError(f"{raw!r} is not a role; use one of {names}") from None

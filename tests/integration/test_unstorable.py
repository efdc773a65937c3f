"""What Firestore refuses to store (a document over its 1 MiB limit) is the caller's 422,
said by persistence in Assay's words, never Firestore's (which may quote the data)."""

from __future__ import annotations

import pytest

from shared.domain.models import ApiKey
from shared.platform.clock import utcnow
from shared.platform.errors import Unprocessable
from tests.factories import make_org

pytestmark = pytest.mark.firestore  # Firestore's own limit


def test_a_document_over_firestores_limit_is_unprocessable_and_quotes_nothing(repos):
    org, _ = make_org(repos)
    secret = "SECRET-" + "x" * (1024 * 1024)
    key = ApiKey(id="k" * 20, org_id=org, name=secret, secret_sha256="0" * 64, created_at=utcnow())
    with pytest.raises(Unprocessable) as refused:
        repos.keys.create(key)
    assert refused.value.status == 422
    assert "SECRET" not in refused.value.detail
    assert repos.keys.get(key.id) is None

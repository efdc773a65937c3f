"""Run credentials and signing keys: a credential is kept once per run (the first one
stands, also when two are kept at once) and only its org finds it; a key is kept once
by its kid, and every key is listed, oldest first use first."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from shared.domain.credentials import IssuedCredential, SigningKey
from shared.platform.ids import new_id
from tests.contract.builders import at

pytestmark = pytest.mark.contract


def credential(run_id: str, jws: str, org_id: str = "org-a") -> IssuedCredential:
    return IssuedCredential(run_id=run_id, org_id=org_id, jws=jws, kid="k1", issued_at=at(0))


def key(kid: str, minutes: float, n: str = "AQAB") -> SigningKey:
    jwk = {"kty": "RSA", "kid": kid, "n": n, "e": "AQAB", "alg": "RS256", "use": "sig"}
    return SigningKey(kid=kid, signer="s@p.iam", jwk=jwk, first_used_at=at(minutes))


def test_the_first_credential_of_a_run_stands(backend: Any) -> None:
    run_id = new_id()
    assert backend.credentials.find("org-a", run_id) is None
    first = backend.credentials.keep(credential(run_id, "a.b.c"))
    assert first.jws == "a.b.c"
    assert backend.credentials.keep(credential(run_id, "d.e.f")).jws == "a.b.c"
    found = backend.credentials.find("org-a", run_id)
    assert found is not None and (found.jws, found.kid, found.issued_at) == ("a.b.c", "k1", at(0))
    assert backend.credentials.find("org-b", run_id) is None  # another org's is missing


def test_concurrent_keeps_store_one_credential(backend: Any) -> None:
    run_id = new_id()
    with ThreadPoolExecutor(4) as pool:
        kept = set(
            pool.map(
                lambda i: backend.credentials.keep(credential(run_id, f"jws{i}")).jws, range(4)
            )
        )
    assert len(kept) == 1
    assert backend.credentials.find("org-a", run_id).jws in kept


def test_keys_are_kept_once_by_kid_and_listed_oldest_first(backend: Any) -> None:
    assert backend.signing_keys.all() == []
    backend.signing_keys.keep(key("new/key+1", 5))
    backend.signing_keys.keep(key("old", 1))
    backend.signing_keys.keep(key("old", 9, n="changed"))  # kept as first seen
    keys = backend.signing_keys.all()
    assert [k.kid for k in keys] == ["old", "new/key+1"]
    assert keys[0].jwk["n"] == "AQAB" and keys[0].first_used_at == at(1)

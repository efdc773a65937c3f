"""Purge at scale: 2,000 expired and 2,000 unexpired submissions in the emulator."""

from datetime import UTC, datetime, timedelta

import pytest
from google.cloud.firestore_v1.base_query import FieldFilter

from shared import wiring
from shared.domain.enums import RetentionPolicy
from shared.domain.models import Submission
from shared.persistence.firestore.documents import BATCH_LIMIT, to_doc
from shared.platform.config import get_settings
from shared.platform.ids import new_id
from shared.services import purge
from tests.factories import make_org

NOW = datetime(2026, 6, 1, tzinfo=UTC)
EACH = 2000


def seed(repos, org_id):
    batch, pending = repos.db.batch(), 0
    for i in range(2 * EACH):
        expired = i % 2 == 0
        submission = Submission(
            id=new_id(),
            org_id=org_id,
            workflow_id="w",
            workflow_slug="people",
            workflow_version=1,
            content=f'{{"n": {i}}}',
            original_filename=f"{i}.json",
            content_type="application/json",
            file_type="json",
            size_bytes=10,
            checksum_sha256="0" * 64,
            retention_policy=RetentionPolicy.STORE_1_DAY,
            expires_at=NOW - timedelta(minutes=i + 1) if expired else NOW + timedelta(hours=i + 1),
            created_at=NOW - timedelta(days=1),
        )
        batch.set(repos.document("submissions", submission.id), to_doc(submission))
        pending += 1
        if pending == BATCH_LIMIT:
            batch.commit()
            batch, pending = repos.db.batch(), 0
    if pending:
        batch.commit()


def purged_count(repos, purged: bool) -> int:
    query = repos.db.collection("submissions").where(
        filter=FieldFilter("content", "==" if purged else "!=", "")
    )
    return int(query.count().get()[0][0].value)


@pytest.mark.firestore
def test_passes_purge_exactly_the_expired_ones_in_batches(repos):
    wiring.reset()
    repos = wiring.repositories()
    org_id, _ = make_org(repos)
    seed(repos, org_id)
    passes = []
    while True:
        report = purge.purge_expired(
            repos, wiring.blob_store(), get_settings(), batch_size=100, now=lambda: NOW
        )
        passes.append(report)
        if report.purged == 0:
            break
    # Each pass takes at most max_batches (10) of batch_size (100); the last finds nothing.
    assert [p.purged for p in passes] == [1000, 1000, 0]
    assert [p.batches for p in passes] == [10, 10, 0]
    assert all(p.failed == p.deferred == 0 for p in passes)
    assert purged_count(repos, True) == EACH
    untouched = repos.db.collection("submissions").where(
        filter=FieldFilter("content_purged_at", "==", None)
    )
    kept = [s.to_dict() for s in untouched.stream()]
    assert len(kept) == EACH
    assert all(k["expires_at"] > NOW and k["content"].startswith('{"n"') for k in kept)

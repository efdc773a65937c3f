"""`FirestoreRepositories`: every Firestore repository over one client, and the units of
work that span them (`ports.Repositories`). Each repository's module is loaded when it
is first used: a function pays at cold start only for the ones it touches."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from shared.persistence.firestore.documents import committed, transactional
from shared.persistence.firestore.unit_of_work import Batch, Transaction
from shared.persistence.ports import UnitOfWork

if TYPE_CHECKING:
    from shared.persistence.firestore.audit import FirestoreAudit
    from shared.persistence.firestore.badges import FirestoreBadges
    from shared.persistence.firestore.credentials import (
        FirestoreCredentials,
        FirestoreSigningKeys,
    )
    from shared.persistence.firestore.evidence import FirestoreEvidence
    from shared.persistence.firestore.findings import FirestoreFindings
    from shared.persistence.firestore.members import FirestoreMembers
    from shared.persistence.firestore.orgs import FirestoreKeys, FirestoreOrgs
    from shared.persistence.firestore.purge_retries import FirestorePurgeRetries
    from shared.persistence.firestore.receipts import FirestoreReceipts
    from shared.persistence.firestore.runs import FirestoreRuns
    from shared.persistence.firestore.submissions import FirestoreSubmissions
    from shared.persistence.firestore.sweeps import FirestoreSweeps
    from shared.persistence.firestore.upload_inputs import FirestoreUploadInputs
    from shared.persistence.firestore.uploads import FirestoreUploads
    from shared.persistence.firestore.webhooks import FirestoreWebhooks
    from shared.persistence.firestore.workflows import FirestoreResources, FirestoreWorkflows

T = TypeVar("T")


class FirestoreRepositories:
    def __init__(self, client: Any) -> None:
        self.db = client  # for the Firestore implementation's own tests and tools

    def document(self, collection: str, doc_id: str) -> Any:
        """A raw document, for the Firestore implementation's own tests and tools."""
        return self.db.collection(collection).document(doc_id)

    @cached_property
    def orgs(self) -> FirestoreOrgs:
        from shared.persistence.firestore.orgs import FirestoreOrgs

        return FirestoreOrgs(self.db)

    @cached_property
    def keys(self) -> FirestoreKeys:
        from shared.persistence.firestore.orgs import FirestoreKeys

        return FirestoreKeys(self.db)

    @cached_property
    def workflows(self) -> FirestoreWorkflows:
        from shared.persistence.firestore.workflows import FirestoreWorkflows

        return FirestoreWorkflows(self.db)

    @cached_property
    def resources(self) -> FirestoreResources:
        from shared.persistence.firestore.workflows import FirestoreResources

        return FirestoreResources(self.db)

    @cached_property
    def submissions(self) -> FirestoreSubmissions:
        from shared.persistence.firestore.submissions import FirestoreSubmissions

        return FirestoreSubmissions(self.db)

    @cached_property
    def runs(self) -> FirestoreRuns:
        from shared.persistence.firestore.runs import FirestoreRuns

        return FirestoreRuns(self.db)

    @cached_property
    def findings(self) -> FirestoreFindings:
        from shared.persistence.firestore.findings import FirestoreFindings

        return FirestoreFindings(self.db)

    @cached_property
    def receipts(self) -> FirestoreReceipts:
        from shared.persistence.firestore.receipts import FirestoreReceipts

        return FirestoreReceipts(self.db)

    @cached_property
    def purge_retries(self) -> FirestorePurgeRetries:
        from shared.persistence.firestore.purge_retries import FirestorePurgeRetries

        return FirestorePurgeRetries(self.db)

    @cached_property
    def sweeps(self) -> FirestoreSweeps:
        from shared.persistence.firestore.sweeps import FirestoreSweeps

        return FirestoreSweeps(self.db)

    @cached_property
    def uploads(self) -> FirestoreUploads:
        from shared.persistence.firestore.uploads import FirestoreUploads

        return FirestoreUploads(self.db)

    @cached_property
    def upload_inputs(self) -> FirestoreUploadInputs:
        from shared.persistence.firestore.upload_inputs import FirestoreUploadInputs

        return FirestoreUploadInputs(self.db)

    @cached_property
    def members(self) -> FirestoreMembers:
        from shared.persistence.firestore.members import FirestoreMembers

        return FirestoreMembers(self.db)

    @cached_property
    def audit(self) -> FirestoreAudit:
        from shared.persistence.firestore.audit import FirestoreAudit

        return FirestoreAudit(self.db)

    @cached_property
    def badges(self) -> FirestoreBadges:
        from shared.persistence.firestore.badges import FirestoreBadges

        return FirestoreBadges(self.db)

    @cached_property
    def evidence(self) -> FirestoreEvidence:
        from shared.persistence.firestore.evidence import FirestoreEvidence

        return FirestoreEvidence(self.db)

    @cached_property
    def credentials(self) -> FirestoreCredentials:
        from shared.persistence.firestore.credentials import FirestoreCredentials

        return FirestoreCredentials(self.db)

    @cached_property
    def signing_keys(self) -> FirestoreSigningKeys:
        from shared.persistence.firestore.credentials import FirestoreSigningKeys

        return FirestoreSigningKeys(self.db)

    @cached_property
    def webhooks(self) -> FirestoreWebhooks:
        from shared.persistence.firestore.webhooks import FirestoreWebhooks

        return FirestoreWebhooks(self.db)

    def transact(self, fn: Callable[[UnitOfWork], T], max_attempts: int = 10) -> T:
        """Runs `fn(unit of work)` in a transaction, then the effects the committed
        attempt registered (a retried attempt starts with none)."""

        def attempt(raw: Any) -> tuple[T, Transaction]:
            tx = Transaction(self, raw)
            return fn(tx), tx

        with committed():
            result, tx = transactional(self.db, attempt, max_attempts)
        for effect in tx.effects:
            effect()
        return result

    def batch(self) -> Batch:
        return Batch(self)


def get_repositories() -> FirestoreRepositories:
    from shared.persistence.firestore.client import get_client

    return FirestoreRepositories(get_client())

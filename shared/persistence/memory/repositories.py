"""`MemoryRepositories`: every repository over one in-memory store, for tests that need
no emulator. It keeps the promises of `shared.persistence.ports` as the Firestore
implementation does (orders, tenancy, page tokens, duplicates, preconditions), and is
safe to share between threads."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from shared.persistence.memory.accounts import MemoryKeys, MemoryOrgs
from shared.persistence.memory.audit import MemoryAudit
from shared.persistence.memory.badges import MemoryBadges
from shared.persistence.memory.callbacks import MemoryPurgeRetries, MemoryReceipts
from shared.persistence.memory.credentials import MemoryCredentials, MemorySigningKeys
from shared.persistence.memory.evidence import MemoryEvidence
from shared.persistence.memory.members import MemoryMembers
from shared.persistence.memory.runs import MemoryFindings, MemoryRuns, MemorySubmissions
from shared.persistence.memory.store import Store
from shared.persistence.memory.sweeps import MemorySweeps, MemoryUploadInputs
from shared.persistence.memory.unit_of_work import MemoryBatch, transact
from shared.persistence.memory.uploads import MemoryUploads
from shared.persistence.memory.webhooks import MemoryWebhooks
from shared.persistence.memory.workflows import MemoryResources, MemoryWorkflows
from shared.persistence.ports import (
    Audit,
    Badges,
    Credentials,
    Evidence,
    Findings,
    Keys,
    Members,
    Orgs,
    PurgeRetries,
    Receipts,
    Repositories,
    Resources,
    Runs,
    SigningKeys,
    Submissions,
    Sweeps,
    UnitOfWork,
    UploadInputs,
    Uploads,
    Webhooks,
    Workflows,
    WriteBatch,
)

T = TypeVar("T")


class MemoryRepositories:
    def __init__(self) -> None:
        self.store = Store()
        self._orgs = MemoryOrgs(self.store)
        self._keys = MemoryKeys(self.store)
        self._workflows = MemoryWorkflows(self.store)
        self._resources = MemoryResources(self.store)
        self._submissions = MemorySubmissions(self.store)
        self._runs = MemoryRuns(self.store)
        self._findings = MemoryFindings(self.store)
        self._receipts = MemoryReceipts(self.store)
        self._purge_retries = MemoryPurgeRetries(self.store)
        self._sweeps = MemorySweeps(self.store)
        self._uploads = MemoryUploads(self.store)
        self._upload_inputs = MemoryUploadInputs(self.store)
        self._members = MemoryMembers(self.store)
        self._audit = MemoryAudit(self.store)
        self._badges = MemoryBadges(self.store)
        self._evidence = MemoryEvidence(self.store)
        self._credentials = MemoryCredentials(self.store)
        self._signing_keys = MemorySigningKeys(self.store)
        self._webhooks = MemoryWebhooks()

    @property
    def orgs(self) -> Orgs:
        return self._orgs

    @property
    def keys(self) -> Keys:
        return self._keys

    @property
    def workflows(self) -> Workflows:
        return self._workflows

    @property
    def resources(self) -> Resources:
        return self._resources

    @property
    def submissions(self) -> Submissions:
        return self._submissions

    @property
    def runs(self) -> Runs:
        return self._runs

    @property
    def findings(self) -> Findings:
        return self._findings

    @property
    def receipts(self) -> Receipts:
        return self._receipts

    @property
    def purge_retries(self) -> PurgeRetries:
        return self._purge_retries

    @property
    def sweeps(self) -> Sweeps:
        return self._sweeps

    @property
    def uploads(self) -> Uploads:
        return self._uploads

    @property
    def upload_inputs(self) -> UploadInputs:
        return self._upload_inputs

    @property
    def members(self) -> Members:
        return self._members

    @property
    def audit(self) -> Audit:
        return self._audit

    @property
    def badges(self) -> Badges:
        return self._badges

    @property
    def evidence(self) -> Evidence:
        return self._evidence

    @property
    def credentials(self) -> Credentials:
        return self._credentials

    @property
    def signing_keys(self) -> SigningKeys:
        return self._signing_keys

    @property
    def webhooks(self) -> Webhooks:
        return self._webhooks

    def transact(self, fn: Callable[[UnitOfWork], T], max_attempts: int = 10) -> T:
        """Runs `fn` (again on contention), then the committed attempt's effects;
        contention that outlasts `max_attempts` is Transient."""
        return transact(self.store, fn, max_attempts)

    def batch(self) -> WriteBatch:
        return MemoryBatch(self.store)


def _keeps_the_ports() -> Repositories:
    """Never called: mypy checks here that the twin is a `Repositories`."""
    return MemoryRepositories()

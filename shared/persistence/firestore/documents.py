"""How aggregates are kept as Firestore documents: the collections, the conversion of
a model to a document and back, page tokens, and the one tenancy check every read of
an org's object goes through (another org's document reads exactly like a missing one)."""

from __future__ import annotations

import base64
import binascii
import functools
import inspect
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from google.api_core import exceptions as gexc

from shared.domain.models import FIRESTORE, Model
from shared.persistence.ports import BATCH_LIMIT as BATCH_LIMIT
from shared.persistence.ports import Page
from shared.platform.errors import (
    AlreadyExists,
    BadRequest,
    ChangedConcurrently,
    NotFound,
    Transient,
    Unprocessable,
)
from shared.platform.ids import is_doc_id

M = TypeVar("M", bound=Model)
T = TypeVar("T")
R = TypeVar("R")
P = ParamSpec("P")

ORGS = "orgs"
PROJECTS = "projects"
API_KEYS = "api_keys"
WORKFLOWS = "workflows"
VERSIONS = "versions"
SUBMISSIONS = "submissions"
RUNS = "runs"
FINDINGS = "findings"
ARTIFACTS = "artifacts"
CALLBACK_RECEIPTS = "callback_receipts"
IDEMPOTENCY_KEYS = "idempotency_keys"
PURGE_RETRIES = "purge_retries"
UPLOAD_EVENTS = "upload_events"
UPLOAD_GRANTS = "upload_grants"
UPLOAD_URL_GRANTS = "upload_url_grants"
UPLOADERS = "uploaders"
MEMBERS = "members"
RESOURCES = "workflow_resources"
# The audit log: kept without expiry, purges leave it alone (record 0069).
AUDIT_LOG = "audit_log"

# A commit is at most BATCH_LIMIT writes (ports.py) and a request of at most 10 MiB (the
# emulator's gRPC takes 4 MiB): a batch of writes is committed before its documents'
# estimated size (doc_bytes) passes this, which leaves room for the request's framing.
BATCH_BYTES = 3 * 1024 * 1024
# An `in` filter takes at most 30 values.
IN_LIMIT = 30


def to_doc(model: Model) -> dict[str, Any]:
    return model.model_dump(mode="python", exclude={"id"}, context=FIRESTORE)


def from_snapshot(cls: type[M], snap: Any) -> M:
    data = snap.to_dict() or {}
    if "id" in cls.model_fields:
        data["id"] = snap.id
    return cls.model_validate(data)


def doc_bytes(value: Any) -> int:
    """A generous estimate of a value's size in a write request: Firestore's storage
    size (strings as UTF-8 plus one, numbers eight) and a few bytes of framing a field."""
    if isinstance(value, str):
        return len(value.encode()) + 8
    if isinstance(value, dict):
        return 32 + sum(doc_bytes(k) + doc_bytes(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return 32 + sum(doc_bytes(v) for v in value)
    if isinstance(value, bytes):
        return len(value) + 8
    return 16


def encode_token(doc_id: str) -> str:
    return base64.urlsafe_b64encode(doc_id.encode()).decode().rstrip("=")


def decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"page_token {token[:64]!r} is not a token this API issued") from exc


@contextmanager
def translated() -> Iterator[None]:
    """A commit's conflicts in the words of `shared.platform.errors`: around writes only
    (a read's FailedPrecondition is not a changed record). The details are ours:
    Firestore's may name documents."""
    try:
        yield
    except gexc.Conflict:  # ALREADY_EXISTS on create
        raise AlreadyExists("the record already exists") from None
    except (gexc.FailedPrecondition, gexc.Aborted):  # a precondition failed
        raise ChangedConcurrently("the record changed since it was read") from None
    except gexc.NotFound:  # an update of a document that is gone
        raise NotFound("the record to change does not exist") from None
    except gexc.InvalidArgument:
        raise Unprocessable("the request holds data that cannot be stored") from None


@contextmanager
def committed() -> Iterator[None]:
    """Around a whole transaction, reads included: a create that met a document and an
    update of one that is gone as in `translated`; contention met while reading (the
    client retries only at commit) is Transient, a retry's business."""
    try:
        yield
    except gexc.Conflict:
        raise AlreadyExists("the record already exists") from None
    except gexc.NotFound:
        raise NotFound("the record to change does not exist") from None
    except gexc.InvalidArgument:
        raise Unprocessable("the request holds data that cannot be stored") from None
    except gexc.Aborted:
        raise Transient(
            "the record is busy with concurrent updates; retry shortly",
            headers={"Retry-After": "1"},
        ) from None


def transactional(db: Any, fn: Callable[[Any], T], max_attempts: int = 10) -> T:
    """Runs `fn(transaction)` in a Firestore transaction. Contention that outlasts the
    retries is reported as Transient (503, retry), not as an unexpected error."""
    from google.cloud import firestore as fs

    try:
        done: T = fs.transactional(fn)(db.transaction(max_attempts=max_attempts))
    except ValueError as exc:
        if "Failed to commit transaction" in str(exc):
            raise Transient(
                "the record is busy with concurrent updates; retry shortly",
                headers={"Retry-After": "1"},
            ) from exc
        raise
    return done


def committed_unless_changed(batch: Any) -> bool:
    """Commits a batch of conditional writes: False, and nothing written, when one of
    its documents changed (or went) since it was read."""
    try:
        batch.commit()
    except (gexc.FailedPrecondition, gexc.NotFound, gexc.Aborted):
        return False
    return True


def refusing_unstorable(method: Callable[P, R]) -> Callable[P, R]:
    """Firestore's refusal of what a request carried (a document too large, a field it
    cannot hold: a safety net behind the checks at the edge) as the caller's 422, by
    type only: Firestore's message may quote the refused data."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except gexc.InvalidArgument:
            raise Unprocessable("the request holds data that cannot be stored") from None

    return wrapper


class Collections:
    """What every repository shares: the client, the reads every one makes, and the
    refusal of unstorable data on every public operation."""

    def __init__(self, db: Any) -> None:
        self.db = db

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, value in list(vars(cls).items()):
            if name.startswith("_"):
                continue
            if isinstance(value, staticmethod):
                setattr(cls, name, staticmethod(refusing_unstorable(value.__func__)))
            elif inspect.isfunction(value):
                setattr(cls, name, refusing_unstorable(value))

    def owned(self, collection: str, cls: type[M], org_id: str, doc_id: str, what: str) -> M:
        """The org's document, or NotFound for a missing one and for another org's."""
        missing = NotFound(f"{what} {doc_id!r} does not exist in organization {org_id!r}")
        if not doc_id or "/" in doc_id:
            raise missing
        snap = self.db.collection(collection).document(doc_id).get()
        if not snap.exists or (snap.get("org_id") != org_id):
            raise missing
        return from_snapshot(cls, snap)

    def after(self, query: Any, collection_path: str, org_id: str, token: str | None) -> Any:
        """`query` from after the document a page token names (the org's only)."""
        if not token:
            return query
        doc_id = decode_token(token)
        snap = self.db.document(f"{collection_path}/{doc_id}").get() if is_doc_id(doc_id) else None
        if snap is None or not snap.exists or snap.get("org_id") != org_id:
            raise BadRequest(f"page_token {token[:64]!r} is not a token this API issued")
        return query.start_after(snap)

    @staticmethod
    def paged(cls: type[M], snaps: Sequence[Any], limit: int) -> Page[M]:
        """A page of `limit` from `limit + 1` snapshots (the extra says another follows)."""
        more = len(snaps) > limit
        kept = list(snaps[:limit])
        token = encode_token(kept[-1].id) if more and kept else None
        return Page([from_snapshot(cls, s) for s in kept], token)

"""Identifiers: random for documents (never sequential), stable where retries must collide."""

import hashlib
import secrets
import string

_ALPHABET = string.ascii_letters + string.digits
ID_PATTERN = r"^[A-Za-z0-9]{20}$"


def new_id(length: int = 20) -> str:
    """A random id in the style of Firestore's auto ids."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def is_new_id(value: str, length: int = 20) -> bool:
    """Whether `value` has the shape new_id gives (checked before it names a document)."""
    return len(value) == length and all(c in _ALPHABET for c in value)


def is_doc_id(value: str) -> bool:
    """Whether `value` is an id Assay makes (new_id or stable_id): anything else, such as
    the names Firestore reserves ('.', '..', '__x__'), never reaches a document path."""
    stable = len(value) == 32 and all(c in "0123456789abcdef" for c in value)
    return is_new_id(value) or stable


def stable_id(*parts: object, length: int = 32) -> str:
    """The same parts always give the same id, so a retried write lands on the same
    document instead of adding a second one."""
    joined = "\x1f".join(str(p) for p in parts)
    return hashlib.sha256(joined.encode()).hexdigest()[:length]

"""Pages as the Firestore repositories make them: the token is the last item's document
id, and the next page starts after that document's place in the order (its values as
they are now), so a token from another org or another list is refused."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any, TypeVar

from shared.domain.models import Model
from shared.persistence.memory.store import Store
from shared.persistence.ports import Page
from shared.platform.errors import BadRequest
from shared.platform.ids import is_doc_id

M = TypeVar("M", bound=Model)
SortKey = Callable[[Any], Any]


def encode_token(doc_id: str) -> str:
    return base64.urlsafe_b64encode(doc_id.encode()).decode().rstrip("=")


def _refused(token: str) -> BadRequest:
    return BadRequest(f"page_token {token[:64]!r} is not a token this API issued")


def decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise _refused(token) from exc


def token_doc(store: Store, collection: str, org_id: str, token: str) -> Model:
    """The document a token names, if it is one of the org's in this list's collection."""
    doc_id = decode_token(token)
    stored = store.get(collection, doc_id) if is_doc_id(doc_id) else None
    if stored is None or getattr(stored.model, "org_id", None) != org_id:
        raise _refused(token)
    return stored.model


def page_of(
    ordered: list[M],
    sort_key: SortKey,
    limit: int,
    after: Model | None,
    descending: bool = False,
) -> Page[M]:
    """`ordered` (sorted by `sort_key`), after the token's document, `limit` of them."""
    if after is not None:
        mark = sort_key(after)
        if descending:
            ordered = [m for m in ordered if sort_key(m) < mark]
        else:
            ordered = [m for m in ordered if sort_key(m) > mark]
    kept = ordered[:limit]
    more = len(ordered) > limit
    token = encode_token(str(getattr(kept[-1], "id"))) if more and kept else None  # noqa: B009
    return Page([m.model_copy(deep=True) for m in kept], token)

"""The Firestore client, created lazily once per process (cold start matters)."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from google.cloud import firestore


@lru_cache(maxsize=1)
def get_client() -> firestore.Client:
    from google.cloud import firestore

    from shared.config import get_settings

    # With FIRESTORE_EMULATOR_HOST set the client talks to the emulator, no credentials.
    return firestore.Client(project=get_settings().project)

"""The Firestore client, created lazily once per process (cold start matters), under a
lock: two concurrent first requests share one client (its channel is thread-safe)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.platform.once import once

if TYPE_CHECKING:
    from google.cloud import firestore


@once
def get_client() -> firestore.Client:
    from google.cloud import firestore

    from shared.platform.config import get_settings

    # With FIRESTORE_EMULATOR_HOST set the client talks to the emulator, no credentials.
    return firestore.Client(project=get_settings().project)

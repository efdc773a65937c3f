"""`console`: the web console for people signed in through IAP (shared/console/)."""

from __future__ import annotations

from shared.console.app import handle

__all__ = ["handle"]

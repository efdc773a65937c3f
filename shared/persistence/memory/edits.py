"""Field updates the Firestore repositories make, as edits of a stored model: each
returns a new model (a stored one is never changed in place)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from shared.domain.models import Model, Submission
from shared.persistence.memory.store import fields

Edit = Callable[[Model], Model]


def run_added(run_id: str) -> Edit:
    """The submission's latest run, and one of its runs (ArrayUnion: listed once)."""

    def edit(model: Model) -> Model:
        assert isinstance(model, Submission)
        run_ids = model.run_ids if run_id in model.run_ids else [*model.run_ids, run_id]
        return model.model_copy(update={"latest_run_id": run_id, "run_ids": run_ids})

    return edit


def submission_purged(at: datetime) -> Edit:
    """The content and its expiry cleared; the rest kept for audit."""
    return fields(content="", input_file=None, content_purged_at=at, expires_at=None)


def run_purged(at: datetime) -> Edit:
    return fields(output_purged_at=at, output_expires_at=None)

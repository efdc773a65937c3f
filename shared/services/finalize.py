"""Ending a run: the one place that sets a terminal status and what follows from it."""

from __future__ import annotations

from datetime import datetime

from shared.domain.enums import ErrorCategory, RunStatus
from shared.domain.models import ValidationRun
from shared.domain.retention import retain_until


def finish_run(
    run: ValidationRun,
    status: RunStatus,
    now: datetime,
    *,
    error_category: ErrorCategory | None = None,
    error: str | None = None,
) -> None:
    run.finish(status, now, error_category=error_category, error=error)
    run.output_expires_at = retain_until(run.output_retention, now)

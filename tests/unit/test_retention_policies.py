"""The retention policies: how long each keeps content, and which one keeps longer."""

from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.enums import RetentionPolicy, Role
from shared.domain.models import Retention
from shared.domain.retention import expires_at, retain_until
from shared.platform.errors import Forbidden
from shared.services.workflows import KEEPING, check_retention

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("policy", "kept"),
    [
        (RetentionPolicy.STORE_1_DAY, timedelta(days=1)),
        (RetentionPolicy.STORE_7_DAYS, timedelta(days=7)),
        (RetentionPolicy.STORE_30_DAYS, timedelta(days=30)),
        (RetentionPolicy.STORE_90_DAYS, timedelta(days=90)),
        (RetentionPolicy.STORE_1_YEAR, timedelta(days=365)),
    ],
)
def test_each_timed_policy_expires_its_length_after_the_start(
    policy: RetentionPolicy, kept: timedelta
) -> None:
    assert expires_at(policy, T0) == T0 + kept
    assert retain_until(policy, T0) == T0 + kept


def test_the_untimed_policies_have_no_date() -> None:
    assert expires_at(RetentionPolicy.DO_NOT_STORE, T0) is None
    assert retain_until(RetentionPolicy.DO_NOT_STORE, T0) == T0
    assert expires_at(RetentionPolicy.STORE_PERMANENTLY, T0) is None
    assert retain_until(RetentionPolicy.STORE_PERMANENTLY, T0) is None


def test_the_order_of_keeping_holds_every_policy_by_length() -> None:
    assert set(KEEPING) == set(RetentionPolicy) and len(KEEPING) == len(RetentionPolicy)
    timed = [expires_at(p, T0) for p in KEEPING[1:-1]]
    assert timed == sorted(timed) and None not in timed
    assert KEEPING.index(RetentionPolicy.STORE_30_DAYS) < KEEPING.index(
        RetentionPolicy.STORE_90_DAYS
    )
    assert KEEPING.index(RetentionPolicy.STORE_1_YEAR) < KEEPING.index(
        RetentionPolicy.STORE_PERMANENTLY
    )


def _keep(submission: RetentionPolicy, output: RetentionPolicy) -> Retention:
    return Retention(submission=submission, output=output)


@pytest.mark.parametrize("longer", [RetentionPolicy.STORE_90_DAYS, RetentionPolicy.STORE_1_YEAR])
def test_lengthening_past_30_days_needs_an_admin(longer: RetentionPolicy) -> None:
    month = _keep(RetentionPolicy.STORE_30_DAYS, RetentionPolicy.STORE_30_DAYS)
    for new in (
        _keep(longer, RetentionPolicy.STORE_30_DAYS),
        _keep(RetentionPolicy.STORE_1_DAY, longer),
    ):
        with pytest.raises(Forbidden, match=longer.value):
            check_retention(new, month, Role.AUTHOR)
        check_retention(new, month, Role.ADMIN)


def test_shortening_from_a_year_is_an_authors_change() -> None:
    year = _keep(RetentionPolicy.STORE_1_YEAR, RetentionPolicy.STORE_1_YEAR)
    check_retention(
        _keep(RetentionPolicy.STORE_90_DAYS, RetentionPolicy.STORE_1_YEAR), year, Role.AUTHOR
    )
    with pytest.raises(Forbidden, match="STORE_PERMANENTLY"):
        check_retention(
            _keep(RetentionPolicy.STORE_PERMANENTLY, RetentionPolicy.STORE_1_YEAR),
            year,
            Role.AUTHOR,
        )

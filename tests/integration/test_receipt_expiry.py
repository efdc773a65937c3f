"""A callback receipt is bookkeeping: it is written with the `expire_at` Firestore's TTL
policy reads (decision record 0028), ASSAY_CALLBACK_RECEIPT_DAYS after it was taken."""

from datetime import timedelta

import pytest

from shared.platform.config import get_settings
from tests.integration.test_flows import callback, claimed, new_run, write_output


@pytest.mark.parametrize("days", [None, "3"])
def test_a_receipt_expires_after_the_configured_days(flow, monkeypatch, days):
    if days is not None:
        monkeypatch.setenv("ASSAY_CALLBACK_RECEIPT_DAYS", days)
    get_settings.cache_clear()
    repos, org = flow
    run = new_run(repos, org)
    body = write_output(run, claimed(repos, run))
    assert callback(body).run is not None
    receipt = repos.receipts.find(body.callback_id)
    get_settings.cache_clear()
    assert receipt.expire_at == receipt.received_at + timedelta(days=int(days or 30))

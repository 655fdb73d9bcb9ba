"""Prepaid credit over HTTP through the local runtime: an owner buys a year of credit
(R-CREDIT-1), it runs down with time, and stopping the account early refunds half of what
is left, the other half being the cancellation fee (R-CREDIT-2)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.conftest import Owned, Runtime

pytestmark = pytest.mark.e2e

BOUGHT = datetime(2033, 3, 1, 10, 0, tzinfo=UTC)
TICKET = 1900
# The first month, paid by card when the trial ends at BOUGHT (R-PAY-1: a month from that
# instant): the credit starts to run down after it.
PAID_UNTIL = datetime(2033, 4, 1, 10, 0, tzinfo=UTC)


def _at(runtime: Runtime, instant: datetime) -> None:
    runtime.put("/_local/clock", json={"now": instant.strftime("%Y-%m-%dT%H:%M:%SZ")}).raise_for_status()


def _usd(cents: int) -> dict[str, object]:
    return {"amount": cents, "currency": "USD"}


@pytest.mark.usefixtures("real_time")
def test_r_credit_1_r_credit_2_credit_bought_then_the_account_stopped_refunds_half_of_what_is_left(
    runtime: Runtime, paying_account: Callable[..., Owned]
) -> None:
    account = paying_account("credit", at=BOUGHT)
    owner, base, tag = account.owner, account.path(), account.tag

    bought = runtime.post(
        f"{base}/credit",
        json={"amount": _usd(12 * TICKET)},
        token=owner,
        headers={"Idempotency-Key": f"{tag}-credit"},
    )
    assert bought.status_code == 201, bought.text
    body = bought.json()
    assert (body["balance"], body["seats"], body["seat_price"]) == (_usd(22_800), 1, _usd(TICKET))
    assert body["valid_until"] == "2034-04-01T10:00:00Z"  # a year's worth at one seat: 365 days from PAID_UNTIL
    assert body["invoice"]["lines"][0]["rule"] == "R-CREDIT-1"

    _at(runtime, PAID_UNTIL + timedelta(days=73))  # a fifth of the year used
    read = runtime.get(f"{base}/credit", token=owner)
    assert (read.status_code, read.json()["balance"]) == (200, _usd(18_240))

    stopped = runtime.post(f"{base}/cancel", token=owner)
    assert stopped.status_code == 200, stopped.text
    assert stopped.json() == {"status": "cancelled", "refund": _usd(9_120), "cancellation_fee": _usd(9_120)}
    after = runtime.get(f"{base}/credit", token=owner).json()
    assert (after["balance"], after["valid_until"]) == (_usd(0), None)

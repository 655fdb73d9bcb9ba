"""Billing periods over HTTP through the local runtime (R-PAY-1, API.md "Billing periods"): a card
given at 16:00 starts the paid month at that instant, not at that day's midnight, and the
billing-run renews it from 16:00 a month later, within the hour, not a second before."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.conftest import Owned, Runtime, set_clock

pytestmark = pytest.mark.e2e


def _iso(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


def _a_month_later(instant: datetime) -> datetime:
    """The same day and time next month (the days used here, 1 to 28, exist in every month)."""
    return instant.replace(year=instant.year + instant.month // 12, month=instant.month % 12 + 1)


def _run_billing(runtime: Runtime) -> None:
    """The billing-run at the runtime's clock, every page of it (the runtime is shared)."""
    body: dict[str, Any] = {}
    while True:
        summary = runtime.post("/_local/schedules/billing-run", json=body)
        assert summary.status_code == 200, summary.text
        if summary.json()["next"] is None:
            return
        body = {"next": summary.json()["next"]}


def _invoices(runtime: Runtime, account: Owned) -> list[dict[str, Any]]:
    listed = runtime.get(account.path("/invoices"), token=account.owner)
    assert listed.status_code == 200, listed.text
    return list(listed.json()["items"])


@pytest.mark.usefixtures("real_time")
def test_r_pay_1_a_card_given_at_16_00_pays_the_month_from_16_00_and_is_renewed_at_16_00(
    runtime: Runtime, paying_account: Callable[..., Owned]
) -> None:
    # Near real time (tomorrow or the first day after it that every month has), so the shared
    # runtime has little else due when the billing-run runs a month on.
    day = datetime.now(UTC) + timedelta(days=1)
    while day.day > 28:
        day += timedelta(days=1)
    paid = day.replace(hour=16, minute=0, second=0, microsecond=0)
    renewed, after = _a_month_later(paid), _a_month_later(_a_month_later(paid))

    account = paying_account("instant", at=paid)

    assert account.invoice is not None
    assert (account.invoice["period_start"], account.invoice["period_end"]) == (_iso(paid), _iso(renewed))
    (line,) = account.invoice["lines"]
    assert (line["rule"], line["period_start"], line["period_end"]) == ("R-PAY-4", _iso(paid), _iso(renewed))

    set_clock(runtime, renewed - timedelta(seconds=1))  # the paid month is not over: nothing is due
    _run_billing(runtime)
    assert len(_invoices(runtime, account)) == 1

    set_clock(runtime, renewed + timedelta(minutes=15))  # the next run after 16:00 (every 15 minutes)
    _run_billing(runtime)
    renewal, first = _invoices(runtime, account)
    assert first["id"] == account.invoice["id"]
    assert (renewal["period_start"], renewal["period_end"]) == (_iso(renewed), _iso(after))
    assert [line["rule"] for line in renewal["lines"]] == ["R-PAY-1"]
    issued = datetime.fromisoformat(renewal["issued_at"].replace("Z", "+00:00"))
    assert renewed <= issued <= renewed + timedelta(hours=1)

    stopped = runtime.post(account.path("/cancel"), token=account.owner)  # later runs have nothing of it to bill
    assert stopped.status_code == 200, stopped.text

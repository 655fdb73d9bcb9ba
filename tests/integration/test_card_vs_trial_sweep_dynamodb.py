"""A card added in the same instant the trial sweep runs, on DynamoDB Local (R-PAY-3, R-PAY-4).

Each account ends in exactly one outcome: active, with one invoice for its first period and
one charge at the provider, whether the sweep expired the trial a moment before the card
(the card then reactivates it, R-PAY-3) or came a moment after it (the sweep's condition on
the payment method makes it change nothing, R-PAY-4).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lifecycle.core import clock
from lifecycle.core.settings import Settings
from lifecycle.storage import Account, Invoice
from tests.conftest import Ledger, new_payment_key, payment_environment, point_service_at
from tests.support import Reply, billing_details_body, call, owner_of, run_schedule
from tests.unit.test_signup import TRIAL

pytestmark = [pytest.mark.integration]

SIGNED_UP = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
ACCOUNTS = 12


@pytest.fixture
def provider(local_tables: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ledger]:
    """This test's own account at the payment stand-in."""
    account = Ledger(new_payment_key())
    point_service_at(payment_environment(account.api_key), monkeypatch)
    yield account
    clock.set_now(None)


def _trials_with_details() -> list[dict[str, Any]]:
    clock.set_now(SIGNED_UP)
    created = []
    for index in range(ACCOUNTS):
        body = {**TRIAL, "email": f"race{index}@example.com", "company_name": f"Race {index}"}
        reply = call("POST", "/signups", body=body, source_ip=f"198.51.100.{index + 1}")
        assert reply.status == 201, reply.body
        account = dict(reply.body)
        details = call(
            "PUT", f"/accounts/{account['id']}/billing-details", body=billing_details_body(), claims=owner_of(account)
        )
        assert details.status == 200, details.body
        created.append(account)
    return created


def _add_card(account: dict[str, Any]) -> Reply:
    return call(
        "PUT",
        f"/accounts/{account['id']}/payment-method",
        body={"type": "card", "token": "tok_visa"},
        claims=owner_of(account),
    )


def test_r_pay_3_r_pay_4_a_card_racing_the_trial_sweep_yields_exactly_one_outcome(provider: Ledger) -> None:
    accounts = _trials_with_details()
    # The trials ended a moment ago: the sweep and the owners' cards arrive together.
    clock.set_now(SIGNED_UP + timedelta(days=14, seconds=30))
    with ThreadPoolExecutor(max_workers=8) as pool:
        sweep = pool.submit(run_schedule, "trial-sweep")
        replies = list(pool.map(_add_card, accounts))
        summary = sweep.result()

    assert [reply.status for reply in replies] == [200] * ACCOUNTS, [r.body for r in replies if r.status != 200]
    assert summary["errors"] == 0
    for account in accounts:
        stored = Account.get(account["id"], consistent_read=True)
        assert (stored.status, stored.access_blocked_reason, stored.trial_sweep) == ("active", None, None)
        assert len(list(Invoice.query(account["id"]))) == 1
    assert len(provider.charges()) == ACCOUNTS
    assert Counter(charge.amount.amount for charge in provider.charges()) == {1900: ACCOUNTS}
    # A second sweep finds nothing left to expire.
    assert run_schedule("trial-sweep")["changed"] == 0


def test_r_pay_4_the_same_card_twice_at_once_charges_once(provider: Ledger) -> None:
    (account, *_) = _trials_with_details()
    clock.set_now(SIGNED_UP + timedelta(days=3))
    with ThreadPoolExecutor(max_workers=4) as pool:
        replies = list(pool.map(lambda _: _add_card(account), range(4)))
    assert {reply.status for reply in replies} <= {200, 409}
    assert any(reply.status == 200 for reply in replies)
    assert len(list(Invoice.query(account["id"]))) == 1
    charged = [charge for charge in provider.charges()]
    refunded = {refund.charge_id for refund in provider.refunds()}
    assert len([charge for charge in charged if charge.id not in refunded]) == 1

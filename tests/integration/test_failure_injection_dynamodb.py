"""Failure injection against DynamoDB Local (hardening): the injected errors read as the real
engine's do, and a throttle or a cancelled transaction of a real request is a 503 with
Retry-After that writes nothing, after which the retry does the work once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from lifecycle.storage import Account, Claim, Invoice, transactions
from lifecycle.storage.transactions import Outcome
from tests import figures
from tests.conftest import ledger
from tests.faults import CANCELLED, Fault, FaultInjector
from tests.support import call, owner_of, pay
from tests.unit.test_signup import TRIAL

pytestmark = [pytest.mark.integration, pytest.mark.hardening, pytest.mark.usefixtures("world")]

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
KEY = {"idempotency-key": "fault-it-1"}
_FAULTS: list[str] = []


def _claim(key: str) -> Any:
    def build(tx: Any, outcome: Outcome) -> None:
        for label, claim in (("claim", key), ("other", key + "-2")):
            item = Claim(claim, account_id="acc_x", claimed_at=NOW)
            outcome.put(tx, label, item, Claim.claim.does_not_exist())

    return build


def test_an_injected_cancellation_reads_as_dynamodb_locals_own() -> None:
    """The injector's TransactionCanceledException is what pynamodb makes of the engine's:
    the same error code, one reason per item in order, read by lifecycle.storage.transactions."""
    Claim("taken", account_id="acc_x", claimed_at=NOW).save()
    with (
        pytest.raises(TransactWriteError) as real,
        TransactWrite(connection=transactions.connection()) as tx,
    ):
        _claim("taken")(tx, Outcome())
    fault = Fault(CANCELLED, operation="TransactWriteItems", reason="ConditionalCheckFailed")
    with (
        FaultInjector(fault),
        pytest.raises(TransactWriteError) as injected,
        TransactWrite(connection=transactions.connection()) as tx,
    ):
        _claim("free")(tx, Outcome())
    assert real.value.cause_response_code == injected.value.cause_response_code == CANCELLED
    assert transactions.reason_codes(real.value) == transactions.reason_codes(injected.value)
    assert transactions.reason_codes(real.value) == ["ConditionalCheckFailed", None]
    _FAULTS.append("cancellation")


def test_a_throttled_purchase_is_a_503_that_charges_nothing_twice_and_the_retry_buys_once() -> None:
    """R-CREDIT-1 on the real engine: every TransactWriteItems throttled (ProvisionedThroughput-
    Exceeded), then cancelled by a conflict past the retries: each a 503 with Retry-After and no
    invoice; the retry with the same Idempotency-Key replays the one charge and issues one invoice."""
    created = call("POST", "/signups", body=TRIAL)
    assert created.status == 201, created.body
    account = dict(created.body)
    assert pay(account).status == 200
    path, body = f"/accounts/{account['id']}/credit", {"amount": {"amount": 10_000, "currency": "USD"}}
    faults = [
        Fault("ProvisionedThroughputExceededException", operation="TransactWriteItems"),
        Fault(CANCELLED, operation="TransactWriteItems", reason="TransactionConflict"),
    ]
    for fault in faults:
        with FaultInjector(fault) as injector:
            busy = call("POST", path, body=body, claims=owner_of(account), headers=KEY)
        assert (busy.status, busy.code, busy.headers.get("retry-after")) == (503, "service_unavailable", "1")
        assert injector.injected
        _FAULTS.extend(c.operation for c in injector.injected)
        assert len(list(Invoice.query(account["id"], consistent_read=True))) == 1  # the first period's only
        assert Account.get(account["id"], consistent_read=True).credit_balance == 0
    done = call("POST", path, body=body, claims=owner_of(account), headers=KEY)
    assert done.status == 201, done.body
    provider = ledger()
    assert sorted(charge.amount.amount for charge in provider.charges()) == [1900, 10_000]
    assert provider.refunds() == []
    assert len(list(Invoice.query(account["id"], consistent_read=True))) == 2
    assert Account.get(account["id"], consistent_read=True).credit_balance == 10_000
    figures.record(
        f"failure injection (DynamoDB Local): {len(_FAULTS)} faults injected, injected cancellation "
        "read as the engine's own, throttled/conflicted purchase answered 503 and bought once on retry"
    )

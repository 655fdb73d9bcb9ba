"""Payment webhooks racing on DynamoDB Local (R-PAY-12): each event is applied exactly once.

moto runs one request at a time; here the deliveries, the billing run and the owner's retry
really overlap, and only DynamoDB's transactions keep one invoice, one number, one receipt
and one charge: the same event delivered 20 times at once, a renewal whose billing run and
its own payment's webhook issue it together (a processing payment settled at the provider,
and a payment whose event is delivered the moment it is made), and the owner's retry after
authenticating racing the webhook of that payment.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from lifecycle.billing import invoicing, webhooks
from lifecycle.core import clock
from lifecycle.core.settings import Settings
from lifecycle.storage import Account, Claim, Invoice, InvoiceSeries, Notification
from lifecycle.storage.claims import PAYMENT_EVENT
from local_runtime.payment_standin import LOCAL_WEBHOOK_SECRET, PROCESSING_TOKEN, SignedEvent, sign
from tests.conftest import ledger, payment_standin
from tests.integration.conftest import NOW
from tests.support import Reply, call, outbox_items, owner_of, pay, run_schedule
from tests.unit.test_signup import TRIAL

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("world")]

WEBHOOK = "/webhooks/payments"
AUTHENTICATION = "tok_threeDSecure2Required"  # API.md's public test token
MONTHLY_TICKET = 1900  # TRIAL's plan, monthly, one seat; no VAT (a VIES-confirmed company: reverse charge)


# ---------------------------------------------------------------- helpers


def _signup(n: int = 0) -> dict[str, Any]:
    body = {**TRIAL, "email": f"race{n}@example.com", "company_name": f"Race {n}"}
    reply = call("POST", "/signups", body=body, source_ip=f"198.51.100.{n + 1}")
    assert reply.status == 201, reply.body
    return dict(reply.body)


def deliver(event: SignedEvent) -> Reply:
    """The event as the provider sends it, signed now, into the webhook function."""
    header = sign(event.payload.encode(), LOCAL_WEBHOOK_SECRET, int(time.time()))
    return call("POST", WEBHOOK, raw_body=event.payload.encode(), headers={"stripe-signature": header})


def _warm_up() -> None:
    """The function loaded and the SDK imported (an unsigned event: 400, nothing changes), so
    the racing deliveries overlap instead of queueing behind a cold start."""
    assert call("POST", WEBHOOK, raw_body=b"{}").status == 400


def _events(kind: str, intent: str | None = None) -> list[SignedEvent]:
    kept = ledger().book().webhooks
    return [e for e in kept if e.type == kind and (intent is None or f'"id":"{intent}"' in e.payload)]


def _authenticated(account: dict[str, Any]) -> str:
    """The owner's card asks for authentication (402), and the card holder gives it at the link."""
    reply = pay(account, token=AUTHENTICATION)
    assert (reply.status, reply.code) == (402, "authentication_required"), reply.body
    url = reply.body["next_action_url"]
    assert requests.post(url, json={"outcome": "succeeded"}, timeout=10).status_code == 200
    return str(url.rsplit("/", 1)[-1])  # the payment intent's id


def _at_once[T](jobs: list[Callable[[], T]]) -> list[T]:
    """Each job on a thread of its own, all released together by one barrier."""
    start = threading.Barrier(len(jobs), timeout=30)

    def run(job: Callable[[], T]) -> T:
        start.wait()
        return job()

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return list(pool.map(run, jobs))


def _invoices(account_id: str) -> list[Invoice]:
    return list(Invoice.query(account_id, consistent_read=True))


def _receipts(account_id: str, outbox: Path) -> tuple[int, int]:
    """The account's receipts: stored (Notifications) and sent (the local outbox)."""
    stored = [n for n in Notification.query(account_id, consistent_read=True) if n.type == "receipt"]
    sent = [line for line in _outbox(outbox) if line["account_id"] == account_id and line["type"] == "receipt"]
    return len(stored), len(sent)


def _outbox(path: Path) -> list[dict[str, Any]]:
    return outbox_items(path)


def _series() -> int:
    try:
        return int(InvoiceSeries.get(invoicing.INVOICE_SERIES, consistent_read=True).last_number)
    except InvoiceSeries.DoesNotExist:
        return 0


def _event_claims(account_id: str) -> list[str]:
    return [
        c.claim
        for c in Claim.scan(consistent_read=True)
        if c.claim.startswith(PAYMENT_EVENT) and c.account_id == account_id
    ]


@pytest.fixture
def outbox(world: Settings) -> Path:
    assert world.local_outbox_path is not None
    return Path(world.local_outbox_path)


# ---------------------------------------------------------------- one event, 20 deliveries at once


@pytest.fixture
def every_delivery_reads_first(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    """``arm(n)``: the next ``n`` deliveries each look for the event's record, and only when all
    of them found none do they go on: none can see another's effect before it starts."""

    def arm(parties: int) -> None:
        looked = threading.Barrier(parties, timeout=30)
        waiting = threading.local()
        left = [parties]
        lock = threading.Lock()
        recorded = webhooks._recorded

        def recorded_then_wait(key: str) -> bool:
            found = recorded(key)
            with lock:
                first = not getattr(waiting, "done", False) and left[0] > 0
                if first:
                    waiting.done, left[0] = True, left[0] - 1
            if first:
                looked.wait()
            return found

        monkeypatch.setattr(webhooks, "_recorded", recorded_then_wait)

    return arm


def test_r_pay_12_the_same_event_delivered_20_times_at_once_changes_the_state_once(
    outbox: Path, every_delivery_reads_first: Callable[[int], None]
) -> None:
    account = _signup()
    intent = _authenticated(account)
    assert Account.get(account["id"], consistent_read=True).status == "trialing"
    (event,) = _events("payment_intent.succeeded")
    _warm_up()
    numbered = _series()
    every_delivery_reads_first(20)

    replies = _at_once([lambda: deliver(event)] * 20)

    assert {reply.status for reply in replies} == {200}, [r.body for r in replies if r.status != 200]
    # One delivery's transaction issued the invoice with the event's record; the others found it.
    assert Counter(reply.body["outcome"] for reply in replies) == {"applied": 1, "duplicate": 19}
    stored = Account.get(account["id"], consistent_read=True)
    assert (stored.status, stored.has_payment_method) == ("active", True)
    assert stored.access_blocked_reason is None
    (invoice,) = _invoices(account["id"])
    assert (invoice.status, invoice.charge_id, invoice.total) == ("paid", intent, MONTHLY_TICKET)
    assert _series() == numbered + 1  # one number used: no gap in the series
    assert invoice.number == f"{invoicing.INVOICE_SERIES}-{numbered + 1:06d}"
    assert stored.last_invoice_id == invoice.invoice_id
    assert _receipts(account["id"], outbox) == (1, 1)
    assert [charge.id for charge in ledger().charges()] == [intent]
    assert ledger().refunds() == []
    assert _event_claims(account["id"]) == [PAYMENT_EVENT + event.event_id]
    # Delivered once more, later, it is a duplicate.
    assert deliver(event).body["outcome"] == "duplicate"


# ---------------------------------------------------------------- a renewal racing its own webhook


def _active_subscription(renewals_with: str) -> dict[str, Any]:
    """A monthly subscription paid by card (its first period), whose renewal will be charged to
    the method ``renewals_with``; the clock is at the renewal's due time afterwards."""
    account = _signup()
    assert pay(account).status == 200
    if renewals_with != "tok_visa":
        replaced = call(
            "PUT",
            f"/accounts/{account['id']}/payment-method",
            body={"type": "card", "token": renewals_with},
            claims=owner_of(account),
        )
        assert replaced.status == 200, replaced.body
    clock.set_now(NOW + timedelta(days=30, hours=1))  # the first period (to 25 Dec 12:00) has ended
    return account


def _assert_renewed_once(account: dict[str, Any], first_end: Any, outbox: Path) -> None:
    stored = Account.get(account["id"], consistent_read=True)
    assert stored.status == "active"
    assert stored.period_start == first_end  # advanced exactly one period
    assert stored.period_end == first_end + timedelta(days=31)
    assert stored.bill_due_at == stored.period_end
    renewals = [i for i in _invoices(account["id"]) if i.purpose.startswith("renewal#")]
    (renewal,) = renewals
    (paid,) = [
        intent
        for intent in ledger().book().payment_intents.values()
        if intent["metadata"].get("purpose") == renewal.purpose
    ]
    assert (paid["status"], renewal.charge_id, renewal.total) == ("succeeded", paid["id"], MONTHLY_TICKET)
    assert stored.last_invoice_id == renewal.invoice_id
    assert len(_invoices(account["id"])) == 2  # the first period's and the renewal's
    assert _receipts(account["id"], outbox) == (2, 2)
    assert [charge.amount.amount for charge in ledger().charges()] == [MONTHLY_TICKET, MONTHLY_TICKET]
    assert ledger().refunds() == []


def test_r_pay_12_a_renewal_racing_its_own_webhook_charges_and_invoices_once(outbox: Path) -> None:
    """A renewal charge left processing (the run wrote nothing) is settled at the provider; the
    next billing run and the payment's webhook then both issue it with that same payment."""
    account = _active_subscription(renewals_with=PROCESSING_TOKEN)
    first_end = Account.get(account["id"], consistent_read=True).period_end
    first = run_schedule("billing-run")
    assert (first["changed"], first["errors"]) == (0, 0)  # processing: not paid yet, left due
    assert Account.get(account["id"], consistent_read=True).period_end == first_end
    (processing,) = [i for i in ledger().book().payment_intents.values() if i["status"] == "processing"]
    payment_standin().dashboard_settle(ledger().api_key, processing["id"], "succeeded")
    (event,) = _events("payment_intent.succeeded", processing["id"])
    _warm_up()

    ran: dict[str, Any] = {}
    _at_once(
        [lambda: ran.setdefault("run", run_schedule("billing-run")), lambda: ran.setdefault("webhook", deliver(event))]
    )
    run, delivered = ran["run"], ran["webhook"]

    assert run["errors"] == 0, run
    assert (delivered.status, delivered.body["outcome"]) == (200, "applied"), delivered.body
    _assert_renewed_once(account, first_end, outbox)
    assert _event_claims(account["id"]) == [PAYMENT_EVENT + event.event_id]
    assert run_schedule("billing-run")["examined"] == 0
    assert deliver(event).body["outcome"] == "duplicate"


class _Forwarder(BaseHTTPRequestHandler):
    """The service's webhook endpoint as the stand-in reaches it: each POST into the function."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        reply = call(
            "POST", WEBHOOK, raw_body=body, headers={"stripe-signature": self.headers.get("stripe-signature", "")}
        )
        self.send_response(reply.status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def delivered_at_once() -> Iterator[None]:
    """The stand-in delivers each new event of this test the moment it is made (its delivery
    thread), into the webhook function, while whoever made it carries on."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Forwarder)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    payment_standin().deliver_to(f"http://127.0.0.1:{server.server_address[1]}{WEBHOOK}")
    try:
        yield
    finally:
        payment_standin().wait_delivered(timeout=30)
        payment_standin().deliver_to(None)
        server.shutdown()
        server.server_close()
        thread.join()


def _meet_at_issuing(monkeypatch: pytest.MonkeyPatch, purpose: str, parties: int) -> None:
    """The first ``parties`` issuings of a purpose starting with ``purpose`` each wait for the
    others to be about to issue too: their transactions race, whoever got there first."""
    met = threading.Barrier(parties, timeout=30)
    left = [parties]
    lock = threading.Lock()
    issue = invoicing.issue

    def issue_together(invoice: Invoice, *args: Any, **kwargs: Any) -> Any:
        with lock:
            waits = invoice.purpose.startswith(purpose) and left[0] > 0
            left[0] -= waits
        if waits:
            met.wait()
        return issue(invoice, *args, **kwargs)

    monkeypatch.setattr(invoicing, "issue", issue_together)


def test_r_pay_12_a_renewal_whose_webhook_arrives_while_the_run_issues_it_charges_and_invoices_once(
    outbox: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stand-in delivers the renewal payment's event the moment the run's charge is made; the
    run, about to issue the renewal, waits until the webhook is about to issue it too."""
    account = _active_subscription(renewals_with="tok_visa")
    first_end = Account.get(account["id"], consistent_read=True).period_end
    _warm_up()
    request.getfixturevalue("delivered_at_once")
    _meet_at_issuing(monkeypatch, "renewal#", parties=2)

    run = run_schedule("billing-run")

    assert payment_standin().wait_delivered(timeout=30)
    assert run["errors"] == 0, run
    (renewal_paid,) = [e for e in _events("payment_intent.succeeded") if '"renewal#' in e.payload]
    assert renewal_paid.deliveries == [200], renewal_paid.deliveries  # applied (or recorded) at once
    _assert_renewed_once(account, first_end, outbox)
    assert PAYMENT_EVENT + renewal_paid.event_id in _event_claims(account["id"])
    assert deliver(renewal_paid).body["outcome"] == "duplicate"


# ---------------------------------------------------------------- the owner's retry racing the webhook


def _put_method(account: dict[str, Any], token: str) -> Reply:
    return call(
        "PUT",
        f"/accounts/{account['id']}/payment-method",
        body={"type": "card", "token": token},
        claims=owner_of(account),
    )


@pytest.mark.parametrize("n", range(5))
def test_r_pay_12_the_owners_retry_racing_the_webhook_pays_once(outbox: Path, n: int) -> None:
    account = _signup(n)
    intent = _authenticated(account)
    (event,) = _events("payment_intent.succeeded", intent)
    _warm_up()

    retried, delivered = _at_once([lambda: _put_method(account, AUTHENTICATION), lambda: deliver(event)])

    assert retried.status == 200, (retried.status, retried.body)
    assert retried.body["account"]["status"] == "active"
    assert (delivered.status, delivered.body["outcome"]) == (200, "applied"), delivered.body
    stored = Account.get(account["id"], consistent_read=True)
    assert (stored.status, stored.has_payment_method) == ("active", True)
    (invoice,) = _invoices(account["id"])
    assert (invoice.status, invoice.charge_id) == ("paid", intent)
    if retried.body["invoice"] is not None:
        assert retried.body["invoice"]["id"] == invoice.invoice_id
    assert _receipts(account["id"], outbox) == (1, 1)
    assert [charge.id for charge in ledger().charges()] == [intent]
    assert ledger().refunds() == []
    assert _event_claims(account["id"]) == [PAYMENT_EVENT + event.event_id]

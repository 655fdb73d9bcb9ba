"""R-PAY-12: the billing run charges off session (nobody is there to authenticate), the owner's
requests on session, settling a ``payment_required`` account included. A renewal (or extra seats)
on a card that needs its holder's authentication is therefore not paid: Stripe fails it at once,
and the run blocks the account at once (R-VOUCH-10) with one ``payment_action_required`` notice
linking the web client's billing page, where the owner's card given again is charged on session."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from lifecycle.billing import billing_run, bills
from lifecycle.core import clock
from lifecycle.core.settings import get_settings
from lifecycle.storage import AuditEvent
from tests.conftest import ledger, payment_standin
from tests.support import billing_details_body, call, owner_of, pay
from tests.unit.test_billing_run import (
    FIRST_END,
    SECOND_END,
    add_user,
    at,
    charges,
    invoices,
    lifetime,
    notices,
    replace_card,
    run,
    seen,
    stored,
    subscription,
)
from tests.unit.test_signup import NOW

pytestmark = pytest.mark.usefixtures("world", "provider_ledger", "outbox")


def billing_page(account: dict[str, Any]) -> str:
    """The web client's billing page at the local origin (the ``portal_base_url`` default)."""
    return f"http://localhost:5173/accounts/{account['id']}/billing"


def blocked_for_authentication(account: dict[str, Any]) -> list[AuditEvent]:
    return [
        event
        for event in AuditEvent.query(account["id"])
        if event.type == "payment_required" and event.details["reason"] == "authentication_required"
    ]


def test_r_pay_12_a_renewal_on_a_card_needing_authentication_blocks_at_once_with_one_payment_action_required_notice(
    outbox: Path,
) -> None:
    account = subscription()
    assert pay(account).status == 200
    # Replacing the method charges nothing, so nothing asks for authentication yet.
    assert replace_card(account, "tok_threeDSecure2Required").status == 200

    at(FIRST_END + timedelta(hours=1))
    assert run()["changed"] == 1

    # Not retried: nobody is there to authenticate a retry either. Blocked at once, the attempt counted.
    after = stored(account)
    assert (after.status, after.access_blocked_reason, after.charge_attempts) == (
        "payment_required",
        "payment_required",
        1,
    )
    assert (seen(account)["status"], seen(account)["access"]) == ("payment_required", "payment_required")
    assert (after.period_end, after.bill_due_at) == (FIRST_END, SECOND_END)  # nothing billed is lost; held
    assert len(invoices(account)) == 1  # only the first period's
    assert charges() == [1900]
    renewal = list(ledger().book().payment_intents.values())[-1]
    assert (renewal["status"], renewal["last_payment_error"]["code"]) == (
        "requires_payment_method",
        "authentication_required",
    )
    assert renewal["next_action"] is None  # off session: no page of the provider to send anyone to
    (asked,) = notices(outbox, account, "payment_action_required")
    assert billing_page(account) in asked["body"]
    assert "19.00 USD" in asked["subject"]
    assert "lost access" in asked["body"]
    assert notices(outbox, account, "payment_required") == notices(outbox, account, "payment_failed") == []
    (event,) = blocked_for_authentication(account)
    assert (event.actor, event.details["rule"]) == ("billing-run", "R-PAY-12")

    # The run again, now and a period later: nothing more is sent.
    assert run()["examined"] == 0
    at(SECOND_END + timedelta(hours=1))
    run()
    assert len(notices(outbox, account, "payment_action_required")) == 1
    assert len(blocked_for_authentication(account)) == 1
    assert stored(account).status == "payment_required"


def test_r_pay_12_two_runs_that_read_the_account_at_once_send_one_payment_action_required_notice(
    outbox: Path,
) -> None:
    account = subscription()
    assert pay(account).status == 200
    assert replace_card(account, "tok_threeDSecure2Required").status == 200
    at(FIRST_END + timedelta(hours=1))
    first_read, second_read = stored(account), stored(account)

    assert billing_run._collect(first_read, clock.now(), get_settings())
    assert not billing_run._collect(second_read, clock.now(), get_settings())

    assert (stored(account).status, stored(account).charge_attempts) == ("payment_required", 1)
    assert len(notices(outbox, account, "payment_action_required")) == 1
    assert len(blocked_for_authentication(account)) == 1
    assert charges() == [1900]


def test_r_pay_12_extra_seats_on_a_card_needing_authentication_block_a_voucher_account_at_once(outbox: Path) -> None:
    account = lifetime()
    add_user(account, 1)
    assert pay(account).status == 200
    add_user(account, 2)  # extra, from the redemption on: 39.00 USD for the month
    assert replace_card(account, "tok_threeDSecure2Required").status == 200

    at(FIRST_END + timedelta(hours=1))
    assert run()["changed"] == 1

    after = stored(account)
    assert (after.status, after.charge_attempts, after.billed_through) == ("payment_required", 1, NOW)
    assert invoices(account) == []
    assert charges() == []
    (asked,) = notices(outbox, account, "payment_action_required")
    assert "39.00 USD" in asked["subject"]
    assert billing_page(account) in asked["body"]


def test_r_pay_12_after_the_runs_notice_the_owners_card_again_is_402_with_next_action_url_then_paid_once(
    outbox: Path,
) -> None:
    account = subscription()
    assert pay(account).status == 200
    assert replace_card(account, "tok_threeDSecure2Required").status == 200
    at(FIRST_END + timedelta(hours=1))
    run()
    assert stored(account).status == "payment_required"

    # On the billing page the owner gives the card again: settled on session, a new attempt.
    needs = replace_card(account, "tok_threeDSecure2Required")

    assert (needs.status, needs.code) == (402, "authentication_required")
    url = needs.body["next_action_url"]
    assert url.startswith(payment_standin().url + "/authenticate/pi_")
    assert stored(account).status == "payment_required"
    assert len(invoices(account)) == 1
    on_session = list(ledger().book().payment_intents.values())[-1]
    assert (on_session["status"], on_session["next_action"]["redirect_to_url"]["url"]) == ("requires_action", url)
    run_notice, provider_notice = notices(outbox, account, "payment_action_required")
    assert billing_page(account) in run_notice["body"]
    assert url in provider_notice["body"]

    assert requests.post(url, json={"outcome": "succeeded"}, timeout=10).status_code == 200
    paid = replace_card(account, "tok_threeDSecure2Required")

    assert paid.status == 200, paid.body
    assert (paid.body["account"]["status"], paid.body["account"]["access"]) == ("active", "full")
    _, renewal = invoices(account)
    assert (renewal["period_start"], renewal["status"]) == ("2026-12-25T12:00:00Z", "paid")
    assert charges() == [1900, renewal["total"]["amount"]]
    assert (stored(account).charge_attempts, stored(account).bill_due_at) == (0, SECOND_END)


def test_r_pay_12_the_owners_first_card_is_charged_on_session() -> None:
    account = subscription()
    reply = pay(account, token="tok_threeDSecure2Required")

    assert (reply.status, reply.code) == (402, "authentication_required")
    (intent,) = ledger().book().payment_intents.values()
    assert intent["status"] == "requires_action"
    assert intent["next_action"]["redirect_to_url"]["url"] == reply.body["next_action_url"]


def test_r_pay_12_settling_a_payment_required_account_is_on_session_and_the_retry_after_authentication_pays_once(
    outbox: Path,
) -> None:
    account = lifetime()
    add_user(account, 1)
    add_user(account, 2)  # extra, from the redemption on
    at(FIRST_END + timedelta(hours=1))
    assert run()["changed"] == 1
    assert stored(account).status == "payment_required"
    owner = owner_of(account)
    given = call("PUT", f"/accounts/{account['id']}/billing-details", body=billing_details_body(), claims=owner)
    assert given.status == 200, given.body
    events = [event.event_key for event in AuditEvent.query(account["id"])]

    needs = replace_card(account, "tok_threeDSecure2Required")

    assert (needs.status, needs.code) == (402, "authentication_required")
    url = needs.body["next_action_url"]
    assert url.startswith(payment_standin().url + "/authenticate/pi_")
    # Not paid: nothing saved, still blocked, no invoice, no charge.
    after = stored(account)
    assert (after.status, after.has_payment_method, after.payment_method_ref) == ("payment_required", False, None)
    assert [event.event_key for event in AuditEvent.query(account["id"])] == events
    assert invoices(account) == []
    assert charges() == []
    (intent,) = ledger().book().payment_intents.values()
    assert intent["status"] == "requires_action"
    assert intent["next_action"]["redirect_to_url"]["url"] == url  # on session: the holder can act
    (asked,) = notices(outbox, account, "payment_action_required")
    assert url in asked["body"]

    assert requests.post(url, json={"outcome": "succeeded"}, timeout=10).status_code == 200
    paid = replace_card(account, "tok_threeDSecure2Required")

    assert paid.status == 200, paid.body
    assert (paid.body["account"]["status"], paid.body["account"]["access"]) == ("active", "full")
    (invoice,) = invoices(account)
    assert (invoice["id"], invoice["status"]) == (paid.body["invoice"]["id"], "paid")
    assert charges() == [invoice["total"]["amount"]]
    (intent,) = ledger().book().payment_intents.values()
    assert (intent["status"], intent["amount"]) == ("succeeded", invoice["total"]["amount"])
    assert (stored(account).status, stored(account).has_payment_method) == ("active", True)
    assert len(notices(outbox, account, "receipt")) == 1
    assert len(notices(outbox, account, "payment_action_required")) == 1


def test_r_pay_12_r_vouch_10_paypal_settles_a_payment_required_account_and_its_invoice_says_paypal() -> None:
    account = lifetime()
    add_user(account, 1)
    add_user(account, 2)  # extra, from the redemption on
    at(FIRST_END + timedelta(hours=1))
    assert run()["changed"] == 1
    owner = owner_of(account)
    given = call("PUT", f"/accounts/{account['id']}/billing-details", body=billing_details_body(), claims=owner)
    assert given.status == 200, given.body

    paid = call(
        "PUT",
        f"/accounts/{account['id']}/payment-method",
        body={"type": "paypal", "token": "tok_paypal_buyer"},
        claims=owner,
    )

    assert paid.status == 200, paid.body
    assert paid.body["account"]["status"] == "active"
    assert paid.body["account"]["payment_method"] == {"type": "paypal"}
    (invoice,) = invoices(account)
    assert invoice["paid_with"] == {"type": "paypal"}
    assert call("GET", f"/accounts/{account['id']}", claims=owner).body["payment_method"] == {"type": "paypal"}


def test_r_pay_12_r_vouch_10_a_settlement_arriving_after_another_issued_but_before_it_restored_access_finishes_it(
    outbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The owner's retry and the payment's webhook settle at once: one issues the invoice and has
    not restored access yet when the other arrives. The other finishes the restore (nothing is due
    any more): 200 and active, never 409, and still one charge and one invoice."""
    account = lifetime()
    add_user(account, 1)
    add_user(account, 2)
    at(FIRST_END + timedelta(hours=1))
    assert run()["changed"] == 1
    owner = owner_of(account)
    given = call("PUT", f"/accounts/{account['id']}/billing-details", body=billing_details_body(), claims=owner)
    assert given.status == 200, given.body
    needs = replace_card(account, "tok_threeDSecure2Required")
    assert requests.post(needs.body["next_action_url"], json={"outcome": "succeeded"}, timeout=10).status_code == 200
    # The second settlement has read the account when the first issues its invoice; the first has
    # not restored access yet when the second's own issuing finds the account moved.
    real_bill_due, real_restore = bills.bill_due, bills._restore
    first: list[Any] = []

    def first_in_between(*args: Any, **kwargs: Any) -> Any:
        if not first:
            monkeypatch.setattr(bills, "bill_due", real_bill_due)
            monkeypatch.setattr(bills, "_restore", lambda *_: True)
            first.append(replace_card(account, "tok_threeDSecure2Required"))
            monkeypatch.setattr(bills, "_restore", real_restore)
            assert stored(account).status == "payment_required"
        return real_bill_due(*args, **kwargs)

    monkeypatch.setattr(bills, "bill_due", first_in_between)
    second = replace_card(account, "tok_threeDSecure2Required")

    assert first[0].status == 200, first[0].body
    assert second.status == 200, second.body
    assert (second.body["account"]["status"], second.body["account"]["access"]) == ("active", "full")
    (invoice,) = invoices(account)
    assert second.body["invoice"]["id"] == invoice["id"]
    assert [item["id"] for item in invoices(account)] == [invoice["id"]]
    assert charges() == [invoice["total"]["amount"]]
    assert stored(account).status == "active"

"""R-PAY-12: the billing run charges off session (nobody is there to authenticate), the owner's
requests on session, settling a ``payment_required`` account included. A renewal on a card that
needs its holder's authentication is therefore not paid: Stripe fails it at once, and the run
counts a failed attempt, as a decline."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import requests

from lifecycle.storage import AuditEvent
from tests.conftest import ledger, payment_standin
from tests.support import billing_details_body, call, owner_of, pay
from tests.unit.test_billing_run import (
    FIRST_END,
    add_user,
    at,
    charges,
    invoices,
    lifetime,
    notices,
    replace_card,
    run,
    stored,
    subscription,
)

pytestmark = pytest.mark.usefixtures("world", "provider_ledger", "outbox")


def test_r_pay_12_a_renewal_on_a_card_needing_authentication_is_made_off_session_and_not_paid() -> None:
    account = subscription()
    assert pay(account).status == 200
    # Replacing the method charges nothing, so nothing asks for authentication yet.
    assert replace_card(account, "tok_threeDSecure2Required").status == 200

    at(FIRST_END + timedelta(hours=1))
    assert run()["changed"] == 1

    assert (stored(account).status, stored(account).charge_attempts) == ("active", 1)
    assert len(invoices(account)) == 1  # only the first period's
    assert charges() == [1900]
    renewal = list(ledger().book().payment_intents.values())[-1]
    assert (renewal["status"], renewal["last_payment_error"]["code"]) == (
        "requires_payment_method",
        "authentication_required",
    )
    assert renewal["next_action"] is None  # off session: no page to send anyone to


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

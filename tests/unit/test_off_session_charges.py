"""R-PAY-12: the billing run charges off session (nobody is there to authenticate), the owner's
requests on session. A renewal on a card that needs its holder's authentication is therefore
not paid: Stripe fails it at once, and the run counts a failed attempt, as a decline."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.conftest import ledger
from tests.support import pay
from tests.unit.test_billing_run import FIRST_END, at, charges, invoices, replace_card, run, stored, subscription

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

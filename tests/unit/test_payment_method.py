"""``PUT /accounts/{id}/payment-method`` over moto: only provider references are stored
(R-PAY-12), a card during the trial ends it and charges the first period at once with a
receipt (R-PAY-4, R-PAY-11), a card after the trial expired reactivates the account
(R-PAY-3), a declined card changes nothing, and invoices are numbered without gaps.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from lifecycle.billing import payments
from lifecycle.core import clock
from lifecycle.core.settings import Settings
from lifecycle.storage import Account, AuditEvent, Invoice, Notification
from local_runtime.payment_standin import Interruption
from tests.conftest import ledger, payment_standin
from tests.faults import provider_interrupted
from tests.support import billing_details_body, call, member, outbox_items, owner_of, pay, run_schedule
from tests.unit.test_email_addresses import snapshot
from tests.unit.test_signup import NOW, TRIAL

pytestmark = pytest.mark.usefixtures("world", "provider_ledger", "outbox")


@pytest.fixture
def account() -> dict[str, Any]:
    reply = call("POST", "/signups", body=TRIAL)  # the ticket plan, monthly
    assert reply.status == 201, reply.body
    return dict(reply.body)


def charges() -> list[payments.Charge]:
    provider = ledger()
    return provider.charges()


def test_r_pay_4_a_card_during_the_trial_ends_it_and_charges_the_first_period_at_once(
    account: dict[str, Any], outbox: Path
) -> None:
    reply = pay(account)
    assert reply.status == 200, reply.body
    assert reply.body["type"] == "card"
    assert reply.body["account"]["status"] == "active"
    assert reply.body["account"]["access"] == "full"
    invoice = reply.body["invoice"]
    assert (invoice["kind"], invoice["status"]) == ("invoice", "paid")
    (line,) = invoice["lines"]
    # The ticket plan's standing monthly price per seat, one seat, the whole first month.
    assert line["unit_price"] == {"amount": 1900, "currency": "USD"}
    assert (line["quantity"], line["amount"]["amount"], line["rule"]) == (1, 1900, "R-PAY-4")
    # R-PAY-1: the period starts at the instant paid (NOW, 12:00), not at that day's midnight.
    assert (invoice["period_start"], invoice["period_end"]) == ("2026-11-25T12:00:00Z", "2026-12-25T12:00:00Z")
    assert (line["period_start"], line["period_end"]) == ("2026-11-25T12:00:00Z", "2026-12-25T12:00:00Z")
    # Bulgaria is not the vendor's country and the customer gave a VAT ID: reverse charge.
    assert invoice["tax"]["amount"] == 0
    assert "Reverse charge" in invoice["tax_note"]
    assert invoice["total"] == {"amount": 1900, "currency": "USD"}
    assert [charge.amount.amount for charge in charges()] == [1900]
    stored = Account.get(account["id"])
    assert stored.trial_sweep is None
    assert stored.billing_anchor == stored.period_start == NOW
    assert stored.period_end == stored.bill_due_at == NOW + timedelta(days=30)  # renewed from its start
    # R-PAY-11: the receipt names the invoice.
    receipts = [notice for notice in outbox_items(outbox) if notice["type"] == "receipt"]
    assert len(receipts) == 1
    assert invoice["number"] in receipts[0]["body"]


def test_r_pay_12_only_the_providers_references_are_stored(account: dict[str, Any]) -> None:
    assert pay(account, token="tok_visa").status == 200
    stored = Account.get(account["id"]).attribute_values
    assert stored["payment_method_ref"].startswith("pm_")
    assert stored["payment_customer_id"]
    assert "tok_visa" not in str(stored)


def test_r_pay_12_replacing_the_method_later_charges_nothing(account: dict[str, Any]) -> None:
    assert pay(account).status == 200
    reply = call(
        "PUT",
        f"/accounts/{account['id']}/payment-method",
        body={"type": "paypal", "token": "tok_paypal_buyer"},
        claims=owner_of(account),
    )
    assert reply.status == 200, reply.body
    assert (reply.body["invoice"], reply.body["type"]) == (None, "paypal")
    assert len(charges()) == 1
    assert Account.get(account["id"]).payment_method_type == "paypal"
    assert "payment_method_replaced" in [event.type for event in AuditEvent.query(account["id"])]


def test_a_declined_card_saves_nothing_and_the_trial_goes_on(account: dict[str, Any]) -> None:
    reply = pay(account, token="tok_chargeDeclined")
    assert (reply.status, reply.code) == (402, "payment_declined")
    stored = Account.get(account["id"])
    assert (stored.status, stored.has_payment_method, stored.payment_method_ref) == ("trialing", False, None)
    assert list(Invoice.query(account["id"])) == []


def test_r_pay_12_a_card_needing_authentication_is_402_with_the_url_and_saves_nothing(account: dict[str, Any]) -> None:
    reply = pay(account, token="tok_threeDSecure2Required")

    assert (reply.status, reply.code) == (402, "authentication_required")
    assert reply.body["next_action_url"].startswith(payment_standin().url + "/authenticate/pi_")
    stored = Account.get(account["id"])
    assert (stored.status, stored.has_payment_method, stored.payment_method_ref) == ("trialing", False, None)
    assert list(Invoice.query(account["id"])) == []
    assert charges() == []


def test_r_pay_12_a_card_needing_authentication_sends_the_owner_one_payment_action_required_notice_with_the_url(
    account: dict[str, Any], outbox: Path
) -> None:
    first = pay(account, token="tok_threeDSecure2Required")
    # The same PUT again before the card holder authenticated: the provider replays the waiting payment.
    again = pay(account, token="tok_threeDSecure2Required")

    assert (first.status, first.code) == (again.status, again.code) == (402, "authentication_required")
    url = first.body["next_action_url"]
    assert again.body["next_action_url"] == url
    (notice,) = [n for n in outbox_items(outbox) if n["type"] == "payment_action_required"]
    assert notice["to"] == Account.get(account["id"]).owner_email
    assert url in notice["body"]
    assert "19.00 USD" in notice["body"]
    assert "tok_threeDSecure2Required" not in notice["subject"] + notice["body"]
    stored = [n for n in Notification.query(account["id"]) if n.type == "payment_action_required"]
    assert [(n.id, n.sent_at is not None) for n in stored] == [(notice["id"], True)]
    assert Account.get(account["id"]).status == "trialing"
    assert charges() == []


def test_r_pay_12_once_authenticated_the_retry_is_paid_without_another_payment_action_notice(
    account: dict[str, Any], outbox: Path
) -> None:
    url = pay(account, token="tok_threeDSecure2Required").body["next_action_url"]
    assert requests.post(url, json={"outcome": "succeeded"}, timeout=10).status_code == 200

    paid = pay(account, token="tok_threeDSecure2Required")

    assert paid.status == 200, paid.body
    types = [n["type"] for n in outbox_items(outbox)]
    assert (types.count("payment_action_required"), types.count("receipt")) == (1, 1)


def test_r_pay_12_the_charge_an_answer_was_lost_of_is_made_once_by_the_retry(account: dict[str, Any]) -> None:
    """The provider takes the charge, but its answer never arrives, past the SDK's retries: 503,
    nothing saved; the owner's retry (the same provider key) is answered with that charge."""
    lost = Interruption("POST", "/v1/payment_intents", times=payments.NETWORK_RETRIES + 1, carried_out=True)
    with provider_interrupted(lost):
        failed = pay(account)
    assert (failed.status, failed.code) == (503, "service_unavailable")
    assert "retry-after" in failed.headers
    assert Account.get(account["id"]).status == "trialing"
    assert list(Invoice.query(account["id"])) == []

    again = pay(account)

    assert again.status == 200, again.body
    assert [charge.amount.amount for charge in charges()] == [1900]
    assert again.body["invoice"]["total"]["amount"] == 1900


def test_r_vouch_8_the_billing_details_come_first(account: dict[str, Any]) -> None:
    reply = call(
        "PUT",
        f"/accounts/{account['id']}/payment-method",
        body={"type": "card", "token": "tok_visa"},
        claims=owner_of(account),
    )
    assert (reply.status, reply.code) == (409, "billing_details_required")
    assert charges() == []


def test_r_pay_3_a_card_after_the_trial_expired_reactivates_and_charges(account: dict[str, Any]) -> None:
    clock.set_now(NOW + timedelta(days=15))
    assert run_schedule("trial-sweep")["changed"] == 1
    assert Account.get(account["id"]).status == "trial_expired"
    reply = pay(account)
    assert reply.status == 200, reply.body
    assert reply.body["account"]["status"] == "active"
    assert reply.body["invoice"]["lines"][0]["rule"] == "R-PAY-3"
    assert len(charges()) == 1


def test_r_pay_1_r_pay_3_a_plan_bought_after_the_trial_expired_starts_at_the_instant_paid(
    account: dict[str, Any],
) -> None:
    clock.set_now(NOW + timedelta(days=15))
    assert run_schedule("trial-sweep")["changed"] == 1
    paid = NOW + timedelta(days=16, hours=4, seconds=37, microseconds=500_000)  # 11 December, 16:00:37.5
    clock.set_now(paid)
    reply = pay(account)
    assert reply.status == 200, reply.body
    invoice = reply.body["invoice"]
    # The whole second the card came in, and a month from it to the second.
    assert (invoice["period_start"], invoice["period_end"]) == ("2026-12-11T16:00:37Z", "2027-01-11T16:00:37Z")
    stored = Account.get(account["id"])
    assert (stored.billing_anchor, stored.period_start) == (paid.replace(microsecond=0),) * 2
    assert stored.bill_due_at == stored.period_end == paid.replace(microsecond=0) + timedelta(days=31)


def test_r_pay_3_the_sweep_after_the_card_changes_nothing(account: dict[str, Any]) -> None:
    assert pay(account).status == 200
    clock.set_now(NOW + timedelta(days=15))
    assert run_schedule("trial-sweep")["changed"] == 0
    assert Account.get(account["id"]).status == "active"


def test_r_pay_1_invoices_are_numbered_without_gaps_across_accounts() -> None:
    numbers = []
    for index in range(3):
        body = {**TRIAL, "email": f"owner{index}@example.com", "company_name": f"Company {index}"}
        created = call("POST", "/signups", body=body)
        assert created.status == 201, created.body
        reply = pay(dict(created.body))
        numbers.append(reply.body["invoice"]["number"])
    first = int(numbers[0].split("-")[1])
    assert numbers == [f"INV-{n:06d}" for n in range(first, first + 3)]


@pytest.mark.parametrize(
    ("details", "tax", "note"),
    [
        # The vendor's own country (Slovakia, 23 %) even with a VAT ID: 19.00 → 4.37.
        ({"country": "SK", "vat_id": "SK2022749619", "company_registration": "31322832"}, 437, None),
        # Another member state without a VAT ID: that state's rate (Germany, 19 %): 3.61.
        ({"country": "DE", "vat_id": None, "company_registration": None}, 361, None),
        # Outside the EU: no VAT, and the invoice says why.
        ({"country": "US", "region": "NY", "vat_id": None, "company_registration": None}, 0, "Outside the scope"),
    ],
)
def test_r_pay_14_vat_follows_the_details_valid_at_issue(
    account: dict[str, Any], details: dict[str, Any], tax: int, note: str | None
) -> None:
    reply = pay(account, **details)
    assert reply.status == 200, reply.body
    invoice = reply.body["invoice"]
    assert (invoice["tax"]["amount"], invoice["total"]["amount"]) == (tax, 1900 + tax)
    assert invoice["tax_note"] is None if note is None else note in invoice["tax_note"]
    assert invoice["billing_details"]["address"]["country"] == details["country"]
    assert charges()[0].amount.amount == 1900 + tax


def test_invoices_are_listed_newest_first_and_read_by_members_only(account: dict[str, Any]) -> None:
    invoice = pay(account).body["invoice"]
    listed = call("GET", f"/accounts/{account['id']}/invoices", claims=owner_of(account))
    assert listed.status == 200
    assert [item["id"] for item in listed.body["items"]] == [invoice["id"]]
    one = call("GET", f"/accounts/{account['id']}/invoices/{invoice['id']}", claims=owner_of(account))
    assert one.body == invoice
    stranger = call("GET", f"/accounts/{account['id']}/invoices", claims=member("acc_other"))
    assert (stranger.status, stranger.code) == (404, "not_found")
    missing = call("GET", f"/accounts/{account['id']}/invoices/inv_nope", claims=owner_of(account))
    assert missing.status == 404


def test_only_the_owner_gives_a_payment_method(account: dict[str, Any]) -> None:
    call("PUT", f"/accounts/{account['id']}/billing-details", body=billing_details_body(), claims=owner_of(account))
    reply = call(
        "PUT",
        f"/accounts/{account['id']}/payment-method",
        body={"type": "card", "token": "tok_visa"},
        claims=member(account["id"], "admin", sub="usr_admin"),
    )
    assert reply.status == 403


@pytest.mark.parametrize("token", ["4242424242424242", "tok", "tok visa", ""])
def test_r_pay_12_a_card_number_or_malformed_token_is_refused(account: dict[str, Any], token: str) -> None:
    reply = pay(account, token=token)
    assert (reply.status, reply.code) == (422, "validation_error")
    assert charges() == []


def test_r_pay_12_a_declined_card_then_another_card_charges_the_other_once(account: dict[str, Any]) -> None:
    assert pay(account, token="tok_chargeDeclined").status == 402
    replaced = pay(account, token="tok_mastercard")
    assert replaced.status == 200, replaced.body
    assert replaced.body["account"]["status"] == "active"
    assert [charge.amount.amount for charge in charges()] == [1900]


def test_r_pay_3_the_expired_trials_owner_is_told_once(account: dict[str, Any], outbox: Path) -> None:
    clock.set_now(NOW + timedelta(days=15))
    assert run_schedule("trial-sweep")["changed"] == 1
    assert run_schedule("trial-sweep")["changed"] == 0
    ended = [notice for notice in outbox_items(outbox) if notice["type"] == "trial_ended"]
    assert len(ended) == 1
    assert ended[0]["to"] == TRIAL["email"]
    assert call("GET", f"/accounts/{account['id']}", claims=owner_of(account)).body["access"] == "trial_expired"


def test_the_answers_account_is_as_stored_after_the_trial_ends_and_after_a_replacement(
    account: dict[str, Any],
) -> None:
    """The answer's account is the read the change was computed from with what it wrote (not
    read again): the same as reading the account afterwards."""

    def as_read() -> Any:
        return call("GET", f"/accounts/{account['id']}", claims=owner_of(account)).body

    ended = pay(account)
    assert ended.status == 200, ended.body
    assert ended.body["account"] == as_read()
    replaced = call(
        "PUT",
        f"/accounts/{account['id']}/payment-method",
        body={"type": "paypal", "token": "tok_paypal_other"},
        claims=owner_of(account),
    )
    assert replaced.status == 200, replaced.body
    assert replaced.body["account"] == as_read()


# ---------------------------------------------------------------- which method paid (R-PAY-12)


def give_billing_details(account: dict[str, Any]) -> None:
    body = billing_details_body()
    given = call("PUT", f"/accounts/{account['id']}/billing-details", body=body, claims=owner_of(account))
    assert given.status == 200, given.body


# Stripe's published test card behind ``tok_visa`` (docs.stripe.com/testing, "Cards by brand"):
# a Visa ending 4242; the stand-in gives it the expiry Stripe's page suggests for them, 12/34.
VISA_4242 = {"type": "card", "brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2034}


def test_r_pay_12_a_trial_ended_with_paypal_shows_paypal_on_the_invoice_and_the_account(
    account: dict[str, Any],
) -> None:
    reply = pay(account, token="tok_paypal_buyer", method="paypal")

    assert reply.status == 200, reply.body
    assert reply.body["invoice"]["paid_with"] == {"type": "paypal"}
    assert reply.body["account"]["payment_method"] == {"type": "paypal"}
    shown = call("GET", f"/accounts/{account['id']}", claims=owner_of(account)).body
    assert shown["payment_method"] == {"type": "paypal"}
    listed = call("GET", f"/accounts/{account['id']}/invoices", claims=owner_of(account)).body["items"]
    assert [item["paid_with"] for item in listed] == [{"type": "paypal"}]
    # The same PaymentIntent path as a card: one charge, one receipt-bearing invoice, paid.
    assert [charge.amount.amount for charge in charges()] == [1900]
    stored = Account.get(account["id"])
    assert (stored.payment_method_type, stored.payment_method_display) == ("paypal", {"type": "paypal"})
    assert "payer_email" not in str(stored.attribute_values)


def test_r_pay_12_a_card_shows_its_brand_last4_and_expiry_never_its_number(account: dict[str, Any]) -> None:
    reply = pay(account, token="tok_visa")

    assert reply.status == 200, reply.body
    assert reply.body["invoice"]["paid_with"] == VISA_4242
    assert reply.body["account"]["payment_method"] == VISA_4242
    assert call("GET", f"/accounts/{account['id']}", claims=owner_of(account)).body["payment_method"] == VISA_4242
    (invoice,) = Invoice.query(account["id"])
    assert invoice.paid_with == VISA_4242
    assert "4242424242424242" not in str(Account.get(account["id"]).attribute_values)


def test_r_pay_12_an_account_without_a_method_shows_none(account: dict[str, Any]) -> None:
    assert call("GET", f"/accounts/{account['id']}", claims=owner_of(account)).body["payment_method"] is None


@pytest.mark.parametrize(
    ("method", "token", "attached"),
    [("card", "tok_paypal_buyer", "paypal"), ("paypal", "tok_visa", "card")],
)
def test_r_pay_12_a_token_of_another_type_than_said_is_422_on_token_and_saves_nothing(
    account: dict[str, Any], tables: Settings, method: str, token: str, attached: str
) -> None:
    give_billing_details(account)
    before = snapshot(tables)

    reply = call(
        "PUT",
        f"/accounts/{account['id']}/payment-method",
        body={"type": method, "token": token},
        claims=owner_of(account),
    )

    assert (reply.status, reply.code) == (422, "validation_error"), reply.body
    (error,) = reply.body["errors"]
    assert error["field"] == "token"
    assert attached in error["message"]
    assert snapshot(tables) == before
    assert charges() == []
    # Told the type, the same token is taken (its attach at the provider is replayed).
    fixed = call(
        "PUT",
        f"/accounts/{account['id']}/payment-method",
        body={"type": attached, "token": token},
        claims=owner_of(account),
    )
    assert fixed.status == 200, fixed.body
    assert fixed.body["invoice"]["paid_with"]["type"] == attached


def test_r_pay_12_a_declined_paypal_is_402_payment_declined_and_saves_nothing(
    account: dict[str, Any], tables: Settings
) -> None:
    """``tok_paypalDeclined``: the stand-in's PayPal account that declines (API.md "Payment tokens")."""
    give_billing_details(account)
    before = snapshot(tables)

    reply = call(
        "PUT",
        f"/accounts/{account['id']}/payment-method",
        body={"type": "paypal", "token": "tok_paypalDeclined"},
        claims=owner_of(account),
    )

    assert (reply.status, reply.code) == (402, "payment_declined"), reply.body
    assert snapshot(tables) == before
    assert charges() == []


def test_r_pay_12_each_invoice_keeps_the_method_that_paid_it(account: dict[str, Any]) -> None:
    """A method replaced later pays the next invoices; the earlier one still names the card."""
    first = pay(account, token="tok_visa").body["invoice"]
    replaced = call(
        "PUT",
        f"/accounts/{account['id']}/payment-method",
        body={"type": "paypal", "token": "tok_paypal_buyer"},
        claims=owner_of(account),
    )
    assert replaced.status == 200, replaced.body
    assert replaced.body["account"]["payment_method"] == {"type": "paypal"}

    clock.set_now(NOW + timedelta(days=30))  # the first period's end: the renewal is due
    assert run_schedule("billing-run")["changed"] == 1

    listed = call("GET", f"/accounts/{account['id']}/invoices", claims=owner_of(account)).body["items"]
    assert [(item["id"], item["paid_with"]) for item in listed] == [
        (listed[0]["id"], {"type": "paypal"}),
        (first["id"], VISA_4242),
    ]

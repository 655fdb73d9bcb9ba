"""R-PAY-12: the payment provider port's Stripe adapter, through the official SDK, against the
payment stand-in over HTTP (local_runtime/payment_standin.py; its own tests in
test_payment_standin.py): API.md's tokens, idempotency, and the SDK's typed errors mapped to the
contract's (402 ``payment_declined`` or ``authentication_required``, 503)."""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from lifecycle.billing import payments
from lifecycle.billing.payments import STRIPE_API_VERSION, Charge, Refund, StripeProvider, provider_for
from lifecycle.core.errors import (
    AuthenticationRequired,
    InvalidField,
    PaymentDeclined,
    PaymentProcessing,
    ServiceUnavailable,
)
from lifecycle.core.money import Money
from lifecycle.core.settings import Settings
from lifecycle.entry.http import problem_for
from local_runtime.payment_standin import Interruption
from tests.conftest import Ledger, new_payment_key, payment_standin
from tests.faults import provider_interrupted
from tests.support import RecordingLogger

RETURN_URL = "https://app.example/payments/authenticated"


def usd(cents: int) -> Money:
    return Money(amount=cents, currency="USD")


@dataclass
class Provider:
    """The adapter on an account of its own at the stand-in, and that account's ledger."""

    adapter: StripeProvider
    ledger: Ledger
    customer: str = ""

    def method(self, token: str = "tok_visa", method_type: payments.MethodType = "card") -> str:  # noqa: S107
        return self.adapter.attach(self.customer, method_type, token, f"attach-{token}").id


@pytest.fixture
def provider() -> Provider:
    key = new_payment_key()
    found = Provider(StripeProvider(key, payment_standin().url, RETURN_URL), Ledger(key))
    found.customer = found.adapter.create_customer("acc_1", "owner@example.com", "customer-acc_1")
    return found


def problem(error: Exception) -> tuple[int, dict[str, Any]]:
    assert isinstance(error, (PaymentDeclined, ServiceUnavailable, InvalidField))
    answer = problem_for(error)
    return answer.status_code, json.loads(answer.body or "")


# ---------------------------------------------------------------- charges


def test_r_pay_12_a_tok_visa_card_is_charged_as_a_confirmed_payment_intent(provider: Provider) -> None:
    method = provider.method()
    assert re.fullmatch(r"pm_[0-9a-f]{24}", method)  # the provider's reference, never the token

    charge = provider.adapter.charge(provider.customer, method, usd(3900), "charge-1", "Help desk acme: Ticket")

    assert charge == Charge(charge.id, usd(3900))
    assert provider.ledger.charges() == [charge]
    intent = provider.ledger.book().payment_intents[charge.id]
    assert (intent["customer"], intent["payment_method"], intent["currency"]) == (provider.customer, method, "usd")
    assert intent["description"] == "Help desk acme: Ticket"


def test_r_pay_12_any_other_tok_token_and_paypal_are_charged(provider: Provider) -> None:
    paypal = provider.method("tok_paypal_account", "paypal")
    card = provider.method("tok_mastercard")

    assert provider.adapter.charge(provider.customer, paypal, usd(100), "charge-1", "x").amount == usd(100)
    assert provider.adapter.charge(provider.customer, card, usd(200), "charge-2", "x").amount == usd(200)
    assert provider.ledger.book().payment_methods[paypal]["type"] == "paypal"


def test_r_pay_12_attach_answers_the_type_the_token_made_and_what_may_be_shown_of_it(provider: Provider) -> None:
    card = provider.adapter.attach(provider.customer, "card", "tok_visa", "attach-card")
    paypal = provider.adapter.attach(provider.customer, "paypal", "tok_paypal_buyer", "attach-paypal")
    # Told "card", a PayPal token is still a PayPal method at the provider: the caller decides.
    mismatched = provider.adapter.attach(provider.customer, "card", "tok_paypal_other", "attach-other")

    # Stripe's test Visa ends 4242 (docs.stripe.com/testing); the stand-in's expiry is 12/2034.
    assert (card.type, card.card) == ("card", payments.CardShown("visa", "4242", 12, 2034))
    assert card.display() == {"type": "card", "brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2034}
    assert (paypal.type, paypal.card, paypal.display()) == ("paypal", None, {"type": "paypal"})
    assert mismatched.type == "paypal"
    assert provider.ledger.book().payment_methods[card.id]["type"] == "card"


def test_r_pay_12_tok_charge_declined_is_402_payment_declined_and_declines_again_on_retry(provider: Provider) -> None:
    method = provider.method("tok_chargeDeclined")

    with pytest.raises(PaymentDeclined) as declined:
        provider.adapter.charge(provider.customer, method, usd(3900), "charge-1", "x")
    with pytest.raises(PaymentDeclined):  # the same key replays the decline: no charge either time
        provider.adapter.charge(provider.customer, method, usd(3900), "charge-1", "x")

    assert type(declined.value) is PaymentDeclined
    assert problem(declined.value)[0] == 402
    assert problem(declined.value)[1]["code"] == "payment_declined"
    assert provider.ledger.charges() == []


def test_r_pay_12_the_same_key_charges_once(provider: Provider) -> None:
    method = provider.method()

    first = provider.adapter.charge(provider.customer, method, usd(3900), "charge-1", "x")
    again = provider.adapter.charge(provider.customer, method, usd(3900), "charge-1", "x")

    assert again == first
    assert provider.ledger.charges() == [first]


def test_r_pay_12_the_same_key_with_another_amount_is_a_bug(provider: Provider) -> None:
    method = provider.method()
    provider.adapter.charge(provider.customer, method, usd(3900), "charge-1", "x")

    with pytest.raises(ValueError, match="IdempotencyError"):
        provider.adapter.charge(provider.customer, method, usd(4000), "charge-1", "x")
    assert len(provider.ledger.charges()) == 1


def test_r_pay_12_the_same_key_gives_the_same_customer_and_method(provider: Provider) -> None:
    assert provider.adapter.create_customer("acc_1", "owner@example.com", "customer-acc_1") == provider.customer
    assert provider.method() == provider.method()
    with pytest.raises(ValueError, match="IdempotencyError"):
        provider.adapter.create_customer("acc_2", "other@example.com", "customer-acc_1")
    assert len(provider.ledger.book().customers) == 1


def test_r_pay_12_concurrent_charges_with_one_key_charge_once(provider: Provider) -> None:
    method = provider.method()
    results: list[Charge] = []
    start = threading.Barrier(8)

    def pay() -> None:
        start.wait()
        results.append(provider.adapter.charge(provider.customer, method, usd(3900), "charge-1", "x"))

    threads = [threading.Thread(target=pay) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 8
    assert len(set(results)) == 1
    assert provider.ledger.charges() == [results[0]]


def test_r_pay_12_a_charge_of_another_customers_method_is_a_bug(provider: Provider) -> None:
    method = provider.method()
    other = provider.adapter.create_customer("acc_2", "other@example.com", "customer-acc_2")
    with pytest.raises(ValueError, match="refused charge"):
        provider.adapter.charge(other, method, usd(100), "charge-1", "x")


def test_a_charge_or_refund_is_of_a_positive_amount_and_has_a_key(provider: Provider) -> None:
    method = provider.method()
    with pytest.raises(ValueError, match="positive"):
        provider.adapter.charge(provider.customer, method, usd(0), "charge-1", "x")
    with pytest.raises(ValueError, match="idempotency key"):
        provider.adapter.charge(provider.customer, method, usd(1), "", "x")
    assert provider.ledger.book().payment_intents == {}


# ---------------------------------------------------------------- on and off session, authentication


def test_r_pay_12_a_card_needing_authentication_on_session_is_402_authentication_required_with_its_url(
    provider: Provider,
) -> None:
    method = provider.method("tok_threeDSecure2Required")

    with pytest.raises(AuthenticationRequired) as required:
        provider.adapter.charge(provider.customer, method, usd(3900), "charge-1", "x", off_session=False)

    status, body = problem(required.value)
    assert (status, body["code"]) == (402, "authentication_required")
    (intent,) = provider.ledger.book().payment_intents.values()
    assert body["next_action_url"] == f"{payment_standin().url}/authenticate/{intent['id']}"
    assert intent["status"] == "requires_action"
    assert intent["next_action"]["redirect_to_url"]["return_url"] == RETURN_URL
    assert provider.ledger.charges() == []  # not paid


def test_r_pay_12_once_authenticated_the_retry_with_the_same_key_is_paid_once(provider: Provider) -> None:
    method = provider.method("tok_threeDSecure2Required")
    with pytest.raises(AuthenticationRequired) as required:
        provider.adapter.charge(provider.customer, method, usd(3900), "charge-1", "x", off_session=False)
    url = required.value.next_action_url
    assert url is not None

    done = requests.post(url, json={"outcome": "succeeded"}, timeout=10)
    assert (done.status_code, done.json()["status"]) == (200, "succeeded")

    charge = provider.adapter.charge(provider.customer, method, usd(3900), "charge-1", "x", off_session=False)
    assert provider.ledger.charges() == [charge]


def test_r_pay_12_a_failed_authentication_is_a_decline_on_retry(provider: Provider) -> None:
    method = provider.method("tok_threeDSecure2Required")
    with pytest.raises(AuthenticationRequired) as required:
        provider.adapter.charge(provider.customer, method, usd(3900), "charge-1", "x", off_session=False)
    assert requests.post(str(required.value.next_action_url), json={"outcome": "failed"}, timeout=10).ok

    with pytest.raises(PaymentDeclined) as declined:
        provider.adapter.charge(provider.customer, method, usd(3900), "charge-1", "x", off_session=False)
    assert type(declined.value) is PaymentDeclined
    assert provider.ledger.charges() == []


def test_r_pay_12_off_session_a_card_needing_authentication_fails_without_a_url(provider: Provider) -> None:
    """A schedule's charge (a renewal): nobody is there to authenticate, Stripe fails it at once."""
    method = provider.method("tok_threeDSecure2Required")

    with pytest.raises(AuthenticationRequired) as required:
        provider.adapter.charge(provider.customer, method, usd(3900), "renewal-1", "x", off_session=True)

    assert required.value.next_action_url is None
    assert problem(required.value)[1]["next_action_url"] is None
    (intent,) = provider.ledger.book().payment_intents.values()
    assert intent["status"] == "requires_payment_method"
    assert intent["last_payment_error"]["code"] == "authentication_required"


def test_r_pay_12_a_processing_payment_intent_is_not_paid() -> None:
    """Stripe answers ``processing`` for methods confirmed later (no card test token does): not paid, 503."""
    import stripe

    adapter = StripeProvider("sk_test_x", payment_standin().url)
    intent = stripe.PaymentIntent.construct_from({"id": "pi_1", "status": "processing"}, "sk_test_x")

    with pytest.raises(PaymentProcessing) as pending:
        adapter._paid(intent, "cus_1")

    status, body = problem(pending.value)
    assert (status, body["code"]) == (503, "payment_processing")
    assert problem_for(pending.value).headers["Retry-After"] == "1"


# ---------------------------------------------------------------- refunds and customers


def test_r_pay_12_refunds_up_to_the_charge(provider: Provider) -> None:
    charge = provider.adapter.charge(provider.customer, provider.method(), usd(3900), "charge-1", "x")

    part = provider.adapter.refund(charge.id, usd(1000), "refund-1")
    assert part == Refund(part.id, charge.id, usd(1000))
    assert provider.adapter.refund(charge.id, usd(1000), "refund-1") == part  # same key, same refund
    with pytest.raises(ValueError, match="refused refund"):
        provider.adapter.refund(charge.id, usd(2901), "refund-2")
    rest = provider.adapter.refund(charge.id, usd(2900), "refund-3")

    assert provider.ledger.refunds() == [part, rest]
    with pytest.raises(ValueError, match="refused refund"):
        provider.adapter.refund(charge.id, usd(1), "refund-4")


def test_a_refund_needs_a_successful_charge(provider: Provider) -> None:
    with pytest.raises(ValueError, match="refused refund: 404 resource_missing"):
        provider.adapter.refund("pi_unknown", usd(100), "refund-1")


def test_r_pay_12_a_customer_names_the_account_it_was_created_for(provider: Provider) -> None:
    """A webhook about a customer's card finds its account by the customer's ``account_id`` metadata."""
    assert provider.adapter.account_of_customer(provider.customer) == "acc_1"
    assert provider.adapter.account_of_customer("cus_unknown") is None
    provider.adapter.delete_customer(provider.customer)
    assert provider.adapter.account_of_customer(provider.customer) is None


def test_deleting_the_customer_twice_is_no_error_and_its_methods_cannot_be_charged_after(provider: Provider) -> None:
    method = provider.method()
    provider.adapter.delete_customer(provider.customer)
    provider.adapter.delete_customer(provider.customer)  # deleted before: done

    assert provider.ledger.book().customers[provider.customer] == {
        "id": provider.customer,
        "object": "customer",
        "deleted": True,
    }
    with pytest.raises(ValueError, match="resource_missing"):
        provider.adapter.charge(provider.customer, method, usd(100), "charge-1", "x")


# ---------------------------------------------------------------- tokens


@pytest.mark.parametrize("token", ["4242424242424242", "visa", "tok_", "tok_has space", "pm_card_visa"])
def test_r_pay_12_what_is_not_a_provider_token_is_422_at_attach(provider: Provider, token: str) -> None:
    """R-PAY-12: a card number (or anything else the provider does not know) is refused, not stored."""
    with pytest.raises(InvalidField) as refused:
        provider.adapter.attach(provider.customer, "card", token, "attach-1")

    status, body = problem(refused.value)
    assert (status, body["errors"][0]["field"]) == (422, "token")
    assert provider.ledger.book().payment_methods == {}


def test_r_pay_12_an_empty_token_is_refused_before_the_provider_is_asked(provider: Provider) -> None:
    with pytest.raises(InvalidField):
        provider.adapter.attach(provider.customer, "card", "", "attach-1")


# ---------------------------------------------------------------- the provider unavailable


@pytest.mark.parametrize("status", [500, 503, 429, 409])
def test_r_pay_12_5xx_throttles_and_conflicts_past_the_sdks_retries_are_503(provider: Provider, status: int) -> None:
    method = provider.method()
    retried = payments.NETWORK_RETRIES + 1 if status != 429 else 1  # the SDK retries 409 and 5xx only
    failing = Interruption("POST", "/v1/payment_intents", times=retried, status=status)
    with provider_interrupted(failing), pytest.raises(ServiceUnavailable) as unavailable:
        provider.adapter.charge(provider.customer, method, usd(3900), "charge-1", "x")

    assert type(unavailable.value) is ServiceUnavailable
    assert problem(unavailable.value)[1]["code"] == "service_unavailable"
    assert provider.ledger.charges() == []
    # The retry (the same key) charges once the provider answers.
    assert provider.adapter.charge(provider.customer, method, usd(3900), "charge-1", "x").amount == usd(3900)


def test_r_pay_12_a_5xx_the_sdk_retries_is_not_seen(provider: Provider) -> None:
    method = provider.method()
    with provider_interrupted(Interruption("POST", "/v1/payment_intents", times=1, status=500)):
        charge = provider.adapter.charge(provider.customer, method, usd(3900), "charge-1", "x")
    assert provider.ledger.charges() == [charge]


def test_r_pay_12_an_answer_lost_after_the_provider_took_the_charge_does_not_charge_twice(provider: Provider) -> None:
    """The network drops the answer of a charge the provider made (a timeout, to the SDK): its
    retry under the same idempotency key gets the first answer replayed."""
    method = provider.method()
    with provider_interrupted(Interruption("POST", "/v1/payment_intents", carried_out=True)):
        charge = provider.adapter.charge(provider.customer, method, usd(3900), "charge-1", "x")

    assert provider.ledger.charges() == [charge]
    assert len(provider.ledger.book().payment_intents) == 1


def test_r_pay_12_answers_lost_past_the_sdks_retries_are_503_and_the_callers_retry_charges_once(
    provider: Provider,
) -> None:
    method = provider.method()
    lost = Interruption("POST", "/v1/payment_intents", times=payments.NETWORK_RETRIES + 1, carried_out=True)
    with provider_interrupted(lost), pytest.raises(ServiceUnavailable):
        provider.adapter.charge(provider.customer, method, usd(3900), "charge-1", "x")
    # The provider took it; the caller does not know. Its retry with the same key is answered, once.
    assert len(provider.ledger.charges()) == 1

    charge = provider.adapter.charge(provider.customer, method, usd(3900), "charge-1", "x")
    assert provider.ledger.charges() == [charge]


def test_r_pay_12_an_unreachable_provider_is_503() -> None:
    adapter = StripeProvider(new_payment_key(), "http://127.0.0.1:9")
    with pytest.raises(ServiceUnavailable):
        adapter.create_customer("acc_1", "owner@example.com", "customer-1")


def test_r_pay_12_a_refused_key_is_503_and_logged_as_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    log = RecordingLogger()
    monkeypatch.setattr(payments, "logger", log)
    adapter = StripeProvider("sk_live_not_for_a_stand_in", payment_standin().url)
    with pytest.raises(ServiceUnavailable):
        adapter.create_customer("acc_1", "owner@example.com", "customer-1")
    assert [line.split(" ", 1)[0] for line in log.lines] == ["error"]


# ---------------------------------------------------------------- logs, settings, version


def test_r_pay_12_neither_the_service_nor_the_sdk_logs_the_token_or_secret(
    provider: Provider, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    log = RecordingLogger()
    monkeypatch.setattr(payments, "logger", log)
    caplog.set_level(logging.INFO)  # the level the local runtime logs at; Lambda's is WARNING
    secret = provider.adapter.secret_key

    with pytest.raises(InvalidField):
        provider.adapter.attach(provider.customer, "card", "tok secret token", "k1")
    declined = provider.adapter.attach(provider.customer, "card", "tok_chargeDeclined", "k2").id
    with pytest.raises(PaymentDeclined):
        provider.adapter.charge(provider.customer, declined, usd(1), "k3", "x")
    with pytest.raises(ValueError, match="refused refund"):
        provider.adapter.refund("pi_1", usd(1), "k4")
    with pytest.raises(ServiceUnavailable):
        StripeProvider(secret, "http://127.0.0.1:9").attach("cus_1", "card", "tok_secret_token", "k5")

    assert log.lines
    written = log.lines + [record.getMessage() for record in caplog.records]
    assert not [line for line in written if "tok_" in line or "tok%20" in line or secret in line]


def test_provider_for_needs_a_secret_and_hides_it() -> None:
    with pytest.raises(ValueError, match="payment_provider_secret"):
        provider_for(Settings())
    settings = Settings(
        payment_provider_secret="sk_test_very-secret-key",
        payment_api_base="http://127.0.0.1:12111",
        public_base_url="https://app.example/",
    )
    adapter = provider_for(settings)
    assert isinstance(adapter, StripeProvider)
    assert (adapter.api_base, adapter.return_url) == ("http://127.0.0.1:12111", RETURN_URL)
    assert "very-secret" not in repr(adapter)


def test_settings_from_env() -> None:
    settings = Settings.from_env({"PAYMENT_PROVIDER_SECRET": "sk_test_1", "PAYMENT_API_BASE": "http://127.0.0.1:1"})
    assert (settings.payment_provider_secret, settings.payment_api_base) == ("sk_test_1", "http://127.0.0.1:1")
    assert Settings().payment_api_base == "https://api.stripe.com"


def test_every_request_names_the_pinned_api_version_the_sdk_is_generated_for(provider: Provider) -> None:
    from stripe._api_version import _ApiVersion

    customer = provider.adapter.client.v1.customers.retrieve(provider.customer)
    assert customer.last_response is not None
    assert customer.last_response.headers["Stripe-Version"] == STRIPE_API_VERSION == _ApiVersion.CURRENT


@pytest.fixture(autouse=True)
def _no_interruption_left() -> Iterator[None]:
    yield
    payment_standin().clear_interruptions()

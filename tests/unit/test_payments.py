"""R-PAY-12: the payment provider port, its local provider and the Stripe adapter."""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from lifecycle.billing import payments
from lifecycle.billing.payments import Charge, LocalProvider, PaymentProvider, Refund, StripeProvider, provider_for
from lifecycle.core.errors import InvalidField, PaymentDeclined, ServiceUnavailable
from lifecycle.core.money import Money
from lifecycle.core.settings import Settings
from lifecycle.entry.http import problem_for

USD = "USD"
SECRET = "sk_test_very-secret-key"


def usd(cents: int) -> Money:
    return Money(amount=cents, currency=USD)


@pytest.fixture(params=["memory", "file"])
def local(request: pytest.FixtureRequest, tmp_path: Path) -> LocalProvider:
    """The local provider in both of its modes."""
    return LocalProvider(None if request.param == "memory" else tmp_path / "payments.jsonl")


def customer_with(provider: PaymentProvider, token: str = "tok_visa") -> tuple[str, str]:  # noqa: S107
    customer = provider.create_customer("acc_1", "owner@example.com", "cus-key-1")
    method = provider.attach(customer, "card", token, f"pm-key-{token}")
    return customer, method


# ---------------------------------------------------------------- local provider


def test_local_charges_a_tok_visa_card(local: LocalProvider) -> None:
    customer, method = customer_with(local)
    assert customer.startswith("cus_")
    assert re.fullmatch(r"pm_[0-9a-f]+", method)

    charge = local.charge(customer, method, usd(3900), "charge-1", "ticket plan, November")

    assert charge == Charge(charge.id, usd(3900))
    assert local.charges() == [charge]


def test_local_charges_any_other_tok_token_and_paypal(local: LocalProvider) -> None:
    customer = local.create_customer("acc_1", "owner@example.com", "cus-key")
    paypal = local.attach(customer, "paypal", "tok_paypal_account", "pm-key")

    assert local.charge(customer, paypal, usd(100), "charge-1", "x").amount == usd(100)


def test_local_declines_tok_charge_declined_and_records_the_attempt(local: LocalProvider) -> None:
    customer, method = customer_with(local, "tok_chargeDeclined")

    with pytest.raises(PaymentDeclined) as declined:
        local.charge(customer, method, usd(3900), "charge-1", "x")
    # The retry of a declined key declines again: the same outcome, no charge either time.
    with pytest.raises(PaymentDeclined):
        local.charge(customer, method, usd(3900), "charge-1", "x")

    assert local.charges() == []
    problem = problem_for(declined.value)
    assert problem.status_code == 402
    assert json.loads(problem.body or "")["code"] == "payment_declined"


def test_local_same_key_returns_the_same_charge_once(local: LocalProvider) -> None:
    customer, method = customer_with(local)

    first = local.charge(customer, method, usd(3900), "charge-1", "x")
    again = local.charge(customer, method, usd(3900), "charge-1", "x")

    assert again == first
    assert local.charges() == [first]


def test_local_same_key_with_another_amount_is_a_bug(local: LocalProvider) -> None:
    customer, method = customer_with(local)
    local.charge(customer, method, usd(3900), "charge-1", "x")

    with pytest.raises(ValueError, match="idempotency key"):
        local.charge(customer, method, usd(4000), "charge-1", "x")
    assert len(local.charges()) == 1


def test_local_same_key_for_customer_and_method_returns_the_same_ids(local: LocalProvider) -> None:
    customer = local.create_customer("acc_1", "owner@example.com", "cus-key")
    assert local.create_customer("acc_1", "owner@example.com", "cus-key") == customer
    method = local.attach(customer, "card", "tok_visa", "pm-key")
    assert local.attach(customer, "card", "tok_visa", "pm-key") == method
    with pytest.raises(ValueError, match="idempotency key"):
        local.create_customer("acc_2", "other@example.com", "cus-key")


def test_local_concurrent_charges_with_one_key_charge_once(local: LocalProvider) -> None:
    customer, method = customer_with(local)
    results: list[Charge] = []
    start = threading.Barrier(8)

    def pay() -> None:
        start.wait()
        results.append(local.charge(customer, method, usd(3900), "charge-1", "x"))

    threads = [threading.Thread(target=pay) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 8
    assert len(set(results)) == 1
    assert local.charges() == [results[0]]


def test_local_refunds_up_to_the_charge(local: LocalProvider) -> None:
    customer, method = customer_with(local)
    charge = local.charge(customer, method, usd(3900), "charge-1", "x")

    part = local.refund(charge.id, usd(1000), "refund-1")
    assert part == Refund(part.id, charge.id, usd(1000))
    assert local.refund(charge.id, usd(1000), "refund-1") == part  # same key, same refund
    with pytest.raises(ValueError, match="exceeds"):
        local.refund(charge.id, usd(2901), "refund-2")
    rest = local.refund(charge.id, usd(2900), "refund-2")

    assert local.refunds() == [part, rest]
    with pytest.raises(ValueError, match="exceeds"):
        local.refund(charge.id, usd(1), "refund-3")


def test_local_refund_needs_a_successful_charge_and_a_positive_amount(local: LocalProvider) -> None:
    customer, method = customer_with(local)
    charge = local.charge(customer, method, usd(3900), "charge-1", "x")
    with pytest.raises(ValueError, match="no such"):
        local.refund("ch_unknown", usd(100), "refund-1")
    with pytest.raises(ValueError, match="positive"):
        local.refund(charge.id, usd(0), "refund-2")
    with pytest.raises(ValueError, match="exceeds"):
        local.refund(charge.id, Money(amount=100, currency="EUR"), "refund-3")


@pytest.mark.parametrize("token", ["4242424242424242", "visa", "tok_", "tok_has space", "pm_card_visa", ""])
def test_local_refuses_what_is_not_a_token_at_attach(local: LocalProvider, token: str) -> None:
    """R-PAY-12: a card number (or anything else that is not a provider token) is refused, not stored."""
    customer = local.create_customer("acc_1", "owner@example.com", "cus-key")

    with pytest.raises(InvalidField) as refused:
        local.attach(customer, "card", token, "pm-key")

    assert refused.value.extra["errors"][0]["field"] == "token"
    assert problem_for(refused.value).status_code == 422


def test_local_charge_of_another_customers_method_is_a_bug(local: LocalProvider) -> None:
    _, method = customer_with(local)
    other = local.create_customer("acc_2", "other@example.com", "cus-key-2")
    with pytest.raises(ValueError, match="payment method"):
        local.charge(other, method, usd(100), "charge-1", "x")


def test_local_journal_is_shared_by_providers_on_one_file(tmp_path: Path) -> None:
    path = tmp_path / "payments.jsonl"
    one, two = LocalProvider(path), LocalProvider(str(path))
    customer, method = customer_with(one)

    charge = two.charge(customer, method, usd(3900), "charge-1", "x")

    assert one.charge(customer, method, usd(3900), "charge-1", "x") == charge
    assert one.charges() == two.charges() == [charge]
    refund = one.refund(charge.id, usd(3900), "refund-1")
    assert two.refunds() == [refund]
    with pytest.raises(ValueError, match="exceeds"):
        two.refund(charge.id, usd(1), "refund-2")
    assert all(json.loads(line)["event"] for line in path.read_text().splitlines())


def test_local_journal_two_files_are_separate(tmp_path: Path) -> None:
    one, two = LocalProvider(tmp_path / "a.jsonl"), LocalProvider(tmp_path / "b.jsonl")
    customer, method = customer_with(one)
    one.charge(customer, method, usd(100), "charge-1", "x")
    assert two.charges() == []


def test_local_journal_ignores_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "payments.jsonl"
    provider = LocalProvider(path)
    customer, method = customer_with(provider)
    with path.open("a") as journal:
        journal.write('{"event":"charge","key":')  # a crash mid-write

    charge = provider.charge(customer, method, usd(100), "charge-1", "x")

    assert LocalProvider(path).charges() == [charge]


def test_local_journal_keeps_only_the_token_r_pay_12(tmp_path: Path) -> None:
    """R-PAY-12: only the provider's token (and its pm_ reference) are stored, never a card number."""
    path = tmp_path / "payments.jsonl"
    provider = LocalProvider(path)
    customer, method = customer_with(provider)
    with pytest.raises(InvalidField):
        provider.attach(customer, "card", "4242 4242 4242 4242", "pm-key-pan")
    provider.charge(customer, method, usd(3900), "charge-1", "x")

    text = path.read_text()
    methods = [event for event in map(json.loads, text.splitlines()) if event["event"] == "method"]
    assert [event["request"]["token"] for event in methods] == ["tok_visa"]
    assert "4242" not in text
    # Nothing card-number-like in what was given; the ids are the provider's own, prefix_hex.
    events = [json.loads(line) for line in text.splitlines()]
    assert all(re.fullmatch(r"(cus|pm|ch)_[0-9a-f]{24}", event["id"]) for event in events)
    given = json.dumps([event["request"] for event in events])
    # The provider's own ids are random hex and may hold a run of digits by chance.
    without_ids = re.sub(r"\b(cus|pm|ch)_[0-9a-f]{24}\b", "", given)
    assert not re.search(r"\d[\d -]{11,}\d", without_ids)


def test_local_journal_is_shared_across_processes(tmp_path: Path) -> None:
    """Several processes (the local runtime's handlers) append to one journal safely."""
    import multiprocessing

    path = tmp_path / "payments.jsonl"
    customer, method = customer_with(LocalProvider(path))
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        ids = pool.starmap(_charge_in_process, [(str(path), customer, method, f"key-{n % 3}") for n in range(12)])

    charges = LocalProvider(path).charges()
    assert len(charges) == 3
    assert set(ids) == {charge.id for charge in charges}


def _charge_in_process(path: str, customer: str, method: str, key: str) -> str:
    return LocalProvider(path).charge(customer, method, usd(100), key, "x").id


# ---------------------------------------------------------------- choosing by settings


def test_provider_for_local_is_cached_per_path(tmp_path: Path) -> None:
    a = Settings(local_payments_path=str(tmp_path / "a.jsonl"))
    b = Settings(local_payments_path=str(tmp_path / "b.jsonl"))

    assert provider_for(a) is provider_for(a)
    assert provider_for(a) is not provider_for(b)
    assert isinstance(provider_for(Settings()), LocalProvider)
    assert provider_for(Settings()) is provider_for(Settings())


def test_provider_for_stripe_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="payment_provider_secret"):
        provider_for(Settings(payment_provider="stripe"))
    stripe = provider_for(Settings(payment_provider="stripe", payment_provider_secret=SECRET))
    assert isinstance(stripe, StripeProvider)
    assert SECRET not in repr(stripe)


def test_settings_from_env() -> None:
    settings = Settings.from_env(
        {"PAYMENT_PROVIDER": "stripe", "PAYMENT_PROVIDER_SECRET": SECRET, "LOCAL_PAYMENTS_PATH": "payments.jsonl"}
    )
    assert (settings.payment_provider, settings.local_payments_path) == ("stripe", "payments.jsonl")


# ---------------------------------------------------------------- Stripe adapter against a fake server


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]


@dataclass
class FakeStripe:
    """A tiny Stripe: records every request; ``answers`` maps a path to (status, JSON body)."""

    base: str = ""
    seen: list[Seen] = field(default_factory=list)
    answers: dict[str, tuple[int, Any]] = field(default_factory=dict)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        # The path as sent: werkzeug's ``request.path`` would decode %2F.
        raw_path = str(environ.get("RAW_URI") or environ["PATH_INFO"]).split("?", 1)[0]
        self.seen.append(
            Seen(
                request.method,
                raw_path,
                dict(request.headers),
                dict(urllib.parse.parse_qsl(request.get_data(as_text=True))),
            )
        )
        status, body = self.answers.get(raw_path, (404, {"error": {"type": "invalid_request_error"}}))
        text = body if isinstance(body, str) else json.dumps(body)
        return Response(text, status=status, content_type="application/json")(environ, start_response)


@pytest.fixture
def stripe() -> Iterator[FakeStripe]:
    fake = FakeStripe()
    server = make_server("127.0.0.1", 0, fake, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.base = f"http://127.0.0.1:{server.port}/v1"
    yield fake
    server.shutdown()
    thread.join()


def adapter(fake: FakeStripe) -> StripeProvider:
    return StripeProvider(SECRET, api_base=fake.base, timeout=5)


def assert_post(seen: Seen, path: str, key: str) -> None:
    assert (seen.method, seen.path) == ("POST", path)
    assert seen.headers["Authorization"] == f"Bearer {SECRET}"
    assert seen.headers["Idempotency-Key"] == key
    assert seen.headers["Content-Type"] == "application/x-www-form-urlencoded"


def test_stripe_creates_a_customer(stripe: FakeStripe) -> None:
    stripe.answers["/v1/customers"] = (200, {"id": "cus_123", "object": "customer"})

    assert adapter(stripe).create_customer("acc_1", "owner@example.com", "cus-key") == "cus_123"

    assert_post(stripe.seen[0], "/v1/customers", "cus-key")
    assert stripe.seen[0].form == {"email": "owner@example.com", "metadata[account_id]": "acc_1"}


@pytest.mark.parametrize("method_type", ["card", "paypal"])
def test_stripe_attaches_a_token_r_pay_12(stripe: FakeStripe, method_type: payments.MethodType) -> None:
    """R-PAY-12: the token goes to the provider; its payment method id is what comes back to store."""
    stripe.answers["/v1/payment_methods/pm_tok%2Fx/attach"] = (200, {"id": "pm_999", "customer": "cus_123"})

    assert adapter(stripe).attach("cus_123", method_type, "pm_tok/x", "pm-key") == "pm_999"

    assert_post(stripe.seen[0], "/v1/payment_methods/pm_tok%2Fx/attach", "pm-key")
    assert stripe.seen[0].form == {"customer": "cus_123"}


def test_stripe_attach_of_an_unknown_token_is_an_invalid_field(stripe: FakeStripe) -> None:
    error = {"type": "invalid_request_error", "code": "resource_missing", "param": "payment_method"}
    stripe.answers["/v1/payment_methods/pm_nope/attach"] = (400, {"error": error})
    with pytest.raises(InvalidField) as refused:
        adapter(stripe).attach("cus_123", "card", "pm_nope", "pm-key")
    assert refused.value.extra["errors"][0]["field"] == "token"


def test_stripe_charges_a_payment_intent(stripe: FakeStripe) -> None:
    stripe.answers["/v1/payment_intents"] = (200, {"id": "pi_1", "status": "succeeded", "amount": 3900})

    charge = adapter(stripe).charge("cus_123", "pm_999", Money(amount=3900, currency="EUR"), "charge-1", "Ticket")

    assert charge == Charge("pi_1", Money(amount=3900, currency="EUR"))
    assert_post(stripe.seen[0], "/v1/payment_intents", "charge-1")
    assert stripe.seen[0].form == {
        "amount": "3900",
        "currency": "eur",
        "customer": "cus_123",
        "payment_method": "pm_999",
        "confirm": "true",
        "off_session": "true",
        "description": "Ticket",
    }


def test_stripe_card_error_is_a_decline(stripe: FakeStripe) -> None:
    error = {"type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds", "message": "No."}
    stripe.answers["/v1/payment_intents"] = (402, {"error": error})

    with pytest.raises(PaymentDeclined) as declined:
        adapter(stripe).charge("cus_123", "pm_999", usd(3900), "charge-1", "x")

    assert declined.value.status == 402
    assert declined.value.code == "payment_declined"


def test_stripe_requires_payment_method_is_a_decline(stripe: FakeStripe) -> None:
    stripe.answers["/v1/payment_intents"] = (200, {"id": "pi_1", "status": "requires_payment_method"})
    with pytest.raises(PaymentDeclined):
        adapter(stripe).charge("cus_123", "pm_999", usd(3900), "charge-1", "x")


def test_stripe_refunds(stripe: FakeStripe) -> None:
    stripe.answers["/v1/refunds"] = (200, {"id": "re_1", "status": "succeeded"})

    refund = adapter(stripe).refund("pi_1", usd(1000), "refund-1")

    assert refund == Refund("re_1", "pi_1", usd(1000))
    assert_post(stripe.seen[0], "/v1/refunds", "refund-1")
    assert stripe.seen[0].form == {"payment_intent": "pi_1", "amount": "1000"}


def test_stripe_invalid_request_is_a_bug_without_stripes_message(stripe: FakeStripe) -> None:
    error = {"type": "invalid_request_error", "code": "amount_too_large", "message": "pm_secret_token quoted"}
    stripe.answers["/v1/refunds"] = (400, {"error": error})
    with pytest.raises(ValueError, match="amount_too_large") as refused:
        adapter(stripe).refund("pi_1", usd(999_999), "refund-1")
    assert "pm_secret_token" not in str(refused.value)


@pytest.mark.parametrize(("status", "body"), [(500, {"error": {"type": "api_error"}}), (503, "oops"), (429, {})])
def test_stripe_5xx_and_throttles_are_unavailable(stripe: FakeStripe, status: int, body: Any) -> None:
    stripe.answers["/v1/payment_intents"] = (status, body)
    with pytest.raises(ServiceUnavailable):
        adapter(stripe).charge("cus_123", "pm_999", usd(3900), "charge-1", "x")


def test_stripe_unreachable_is_unavailable() -> None:
    provider = StripeProvider(SECRET, api_base="http://127.0.0.1:9/v1", timeout=2)
    with pytest.raises(ServiceUnavailable):
        provider.create_customer("acc_1", "owner@example.com", "cus-key")


def test_stripe_bad_json_is_unavailable(stripe: FakeStripe) -> None:
    stripe.answers["/v1/customers"] = (200, "not json")
    with pytest.raises(ServiceUnavailable):
        adapter(stripe).create_customer("acc_1", "owner@example.com", "cus-key")


@dataclass
class RecordingLogger:
    lines: list[str] = field(default_factory=list)

    def __getattr__(self, level: str) -> Any:
        def log(*args: Any, **kwargs: Any) -> None:
            self.lines.append(f"{level} {args!r} {kwargs!r}")

        return log


def test_stripe_never_logs_the_token_or_secret(stripe: FakeStripe, monkeypatch: pytest.MonkeyPatch) -> None:
    log = RecordingLogger()
    monkeypatch.setattr(payments, "logger", log)
    stripe.answers["/v1/payment_methods/tok_secret_token/attach"] = (402, {"error": {"type": "card_error"}})
    stripe.answers["/v1/payment_intents"] = (402, {"error": {"type": "card_error", "code": "card_declined"}})
    stripe.answers["/v1/refunds"] = (400, {"error": {"type": "invalid_request_error"}})
    provider = adapter(stripe)

    with pytest.raises(PaymentDeclined):
        provider.attach("cus_1", "card", "tok_secret_token", "k1")
    with pytest.raises(PaymentDeclined):
        provider.charge("cus_1", "pm_1", usd(1), "k2", "x")
    with pytest.raises(ValueError, match="refunds"):
        provider.refund("pi_1", usd(1), "k3")
    with pytest.raises(ServiceUnavailable):
        StripeProvider(SECRET, api_base="http://127.0.0.1:9/v1").attach("cus_1", "card", "tok_secret_token", "k4")

    assert log.lines
    assert not any("tok_secret_token" in line or SECRET in line for line in log.lines)

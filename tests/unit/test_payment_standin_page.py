"""The payment stand-in's authentication page as a browser sees it (R-PAY-12): HTML with the
payment and two buttons, each a form the card holder submits, as the bank's 3-D Secure page
is in Stripe's place. The JSON answers for scripts are unchanged
(tests/unit/test_payment_standin.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from local_runtime.payment_standin import AUTHENTICATION_TOKEN, PaymentStandIn
from tests.unit.test_payment_standin import Client

HTML = {"Accept": "text/html,application/xhtml+xml"}


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[PaymentStandIn]:
    started = PaymentStandIn(tmp_path / "payments.json", now=lambda: 1_764_072_000.0)
    started.start()
    yield started
    started.stop()


def _waiting(standin: PaymentStandIn) -> tuple[Client, str, str]:
    client = Client(standin)
    customer, _ = client.paying()
    method = client.post(f"/v1/payment_methods/{AUTHENTICATION_TOKEN}/attach", {"customer": customer}).json()
    intent = client.charge(customer, method["id"]).json()
    return client, intent["id"], intent["next_action"]["redirect_to_url"]["url"]


@pytest.mark.parametrize(
    ("outcome", "status", "said"),
    [("succeeded", "succeeded", "completed"), ("failed", "requires_payment_method", "failed")],
)
def test_r_pay_12_a_card_holder_authenticates_on_the_page_with_its_form(
    standin: PaymentStandIn, outcome: str, status: str, said: str
) -> None:
    client, intent_id, url = _waiting(standin)

    page = requests.get(url, headers=HTML, timeout=10)
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "39.00 USD" in page.text
    assert f"value='{outcome}'" in page.text

    done = requests.post(url, data={"outcome": outcome}, headers=HTML, timeout=10)

    assert done.status_code == 200
    assert f"Authentication {said}" in done.text
    assert client.get(f"/v1/payment_intents/{intent_id}").json()["status"] == status


def test_the_page_says_why_it_refuses(standin: PaymentStandIn) -> None:
    _, _, url = _waiting(standin)

    refused = requests.post(url, data={"outcome": "maybe"}, headers=HTML, timeout=10)

    assert refused.status_code == 400
    assert "Send {&quot;outcome&quot;" in refused.text

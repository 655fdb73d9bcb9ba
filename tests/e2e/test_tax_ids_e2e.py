"""VAT IDs, company numbers and the VAT territory over HTTP through the local runtime (R-PAY-14,
R-VOUCH-8): a published wrong check digit of every member state is 422 ``invalid_vat_id`` and a
wrong company number 422 ``validation_error``, nothing stored or audited; a published valid one is
stored with its prefix; every place outside the EU VAT area is invoiced without VAT, with the note;
Monaco as France and the Isle of Man as the UK.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests

from tests.e2e.conftest import Owned, Runtime
from tests.route_examples import billing_details, registrant
from tests.support import VAT_PLACES, Sample, address_for_prefix, vat_samples

pytestmark = pytest.mark.e2e

OUTSIDE_NOTE = "Outside the scope of EU VAT: the service is supplied outside the EU VAT area."
REGISTRATIONS = {"BG": "175074752", "CZ": "00177041", "SK": "31322832"}


def one_per_state(expected: str) -> list[Sample]:
    first: dict[str, Sample] = {}
    for sample in vat_samples():
        if sample.expected == expected:
            first.setdefault(sample.state, sample)
    return list(first.values())


@pytest.fixture(scope="module")
def trial(runtime: Runtime) -> Owned:
    """One trial account whose owner gives billing details."""
    tag = f"taxids-{uuid.uuid4().hex[:10]}"
    answer = runtime.post("/signups", json=registrant(tag, plan="ticket", billing_period="monthly"))
    assert answer.status_code == 201, answer.text
    body = answer.json()
    return Owned(body["id"], runtime.token(body["owner_id"], body["id"], "owner"), tag, body)


def put_details(runtime: Runtime, account: Owned, **changes: Any) -> requests.Response:
    return runtime.put(
        account.path("/billing-details"), json=billing_details(account.tag, **changes), token=account.owner
    )


def stored_state(runtime: Runtime, account: Owned) -> tuple[int, list[str]]:
    """What a refused request must not change: the details (404 before any) and the audit log."""
    details = runtime.get(account.path("/billing-details"), token=account.owner)
    audit = runtime.get(account.path("/audit"), token=account.owner).json()["items"]
    return details.status_code, [event["type"] for event in audit]


def test_r_pay_14_a_wrong_check_digit_of_every_member_state_is_refused_over_http(
    runtime: Runtime, trial: Owned
) -> None:
    before = stored_state(runtime, trial)
    assert before[0] == 404
    refused: dict[str, tuple[int, str, list[dict[str, str]]]] = {}
    for sample in one_per_state("checksum"):
        place = address_for_prefix(sample.state)
        reply = put_details(
            runtime,
            trial,
            **place,
            vat_id=sample.number,
            company_registration=REGISTRATIONS.get(place["country"]),
        )
        assert reply.headers["content-type"].startswith("application/problem+json"), reply.text
        refused[sample.state] = (reply.status_code, reply.json()["code"], reply.json()["errors"])
    expected = (422, "invalid_vat_id", [{"field": "vat_id", "message": "check digit does not match"}])
    assert {state: answer for state, answer in refused.items() if answer != expected} == {}
    assert len(refused) >= 28  # the 27 member states and the UK
    assert stored_state(runtime, trial) == before


@pytest.mark.parametrize(
    ("country", "number", "message"),
    [
        ("BG", "175074751", "check digit does not match"),
        ("BG", "1213961230341", "check digit does not match"),
        ("CZ", "00177042", "check digit does not match"),
        ("SK", "31322833", "check digit does not match"),
        ("SK", "3132283", "must be an IČO of 8 digits (an older one with its leading zeros)"),
    ],
)
def test_r_vouch_8_a_wrong_company_number_is_refused_over_http(
    runtime: Runtime, trial: Owned, country: str, number: str, message: str
) -> None:
    before = stored_state(runtime, trial)
    reply = put_details(runtime, trial, country=country, vat_id=None, company_registration=number)
    assert (reply.status_code, reply.json()["code"]) == (422, "validation_error")
    assert reply.json()["errors"] == [{"field": "company_registration", "message": message}]
    assert stored_state(runtime, trial) == before


def test_r_pay_14_a_published_valid_vat_id_of_every_state_is_stored_with_its_prefix_over_http(
    runtime: Runtime, trial: Owned
) -> None:
    stored: dict[str, str] = {}
    for sample in one_per_state("valid"):
        place = address_for_prefix(sample.state)
        reply = put_details(
            runtime,
            trial,
            **place,
            vat_id=sample.number,
            company_registration=REGISTRATIONS.get(place["country"]),
        )
        assert reply.status_code == 200, (sample, reply.text)
        stored[sample.state] = reply.json()["vat_id"]
    assert {state: vat_id for state, vat_id in stored.items() if not vat_id.startswith(state)} == {}
    assert runtime.get(trial.path("/billing-details"), token=trial.owner).json()["vat_id"] == stored[sample.state]


@pytest.mark.parametrize(("place", "country", "postal_code"), VAT_PLACES, ids=[p[0] for p in VAT_PLACES])
def test_r_pay_14_a_place_outside_the_eu_vat_area_is_invoiced_without_vat_over_http(
    runtime: Runtime, paying_account: Callable[..., Owned], place: str, country: str, postal_code: str
) -> None:
    tag = f"place-{country.lower()}"
    details = billing_details(tag, country=country, postal_code=postal_code, vat_id=None, company_registration=None)
    invoice = paying_account(tag, details=details).invoice
    assert invoice is not None
    assert (invoice["tax"]["amount"], invoice["total"]["amount"]) == (0, invoice["subtotal"]["amount"]), place
    assert invoice["tax_note"] == OUTSIDE_NOTE
    assert invoice["billing_details"]["address"]["postal_code"] == postal_code


@pytest.mark.parametrize(
    ("country", "postal_code", "vat_id", "rate", "note"),
    [
        ("MC", "98000", None, 2000, None),  # a consumer in Monaco pays France's 20 %
        ("MC", "98000", "FR 61 954 506 077", 0, "Reverse charge"),  # a business there: reverse charge
        ("IM", "IM1 1AA", None, 0, OUTSIDE_NOTE),  # the Isle of Man is the UK's: outside the EU
        ("IM", "IM1 1AA", "GB 980 7806 84", 0, OUTSIDE_NOTE),
    ],
)
def test_r_pay_14_monaco_is_invoiced_as_france_and_the_isle_of_man_as_the_uk_over_http(
    paying_account: Callable[..., Owned],
    country: str,
    postal_code: str,
    vat_id: str | None,
    rate: int,
    note: str | None,
) -> None:
    tag = f"treated-{country.lower()}"
    details = billing_details(tag, country=country, postal_code=postal_code, vat_id=vat_id, company_registration=None)
    invoice = paying_account(tag, details=details).invoice
    assert invoice is not None
    subtotal = invoice["subtotal"]["amount"]
    assert invoice["tax"]["amount"] == (subtotal * rate + 5_000) // 10_000  # half-up
    assert invoice["tax_note"] is None if note is None else invoice["tax_note"].startswith(note)

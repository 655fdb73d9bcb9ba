"""The EU VAT area by address (R-PAY-14): every place Council Directive 2006/112/EC Article 6
puts outside it is invoiced without VAT, with the note; Monaco is invoiced as France and the
Isle of Man as the UK (Article 7). The postal codes are real addresses' of each place (a town
hall, a post office); the same country elsewhere keeps its rate.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from lifecycle.billing import tax, vat_territory, vies
from lifecycle.billing.billing_details import COUNTRIES, Address, BillingDetailsView
from lifecycle.billing.tax import OUTSIDE_EU, REVERSE_CHARGE, Treatment
from lifecycle.core.settings import DEFAULT_VAT_RATES, Settings
from tests.support import VAT_PLACES as PLACES
from tests.support import call, pay
from tests.unit.test_signup import TRIAL

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

OUTSIDE_NOTE = "Outside the scope of EU VAT: the service is supplied outside the EU VAT area."

# The same countries elsewhere, with their standard rates (basis points).
ELSEWHERE = [
    ("Madrid", "ES", "28001", 2100),
    ("Helsinki", "FI", "00100", 2550),
    ("Athens", "GR", "10557", 2400),
    ("Paris", "FR", "75001", 2000),
    ("Monaco written as France", "FR", "98000", 2000),
    ("Berlin", "DE", "10115", 1900),
    ("Peißenberg (its code begins with Büsingen's Swiss 8238)", "DE", "82380", 1900),
    ("Milan", "IT", "20121", 2200),
]


def view(country: str, postal_code: str, vat_id: str | None = None) -> BillingDetailsView:
    return BillingDetailsView.model_construct(
        first_name="Maria",
        last_name="Ivanova",
        email="billing@example.com",
        company="Example Ltd",
        address=Address(street="1 Main Street", city="Town", postal_code=postal_code, country=country),
        vat_id=vat_id,
        company_registration=None,
        applies_from="2026-11-25T12:00:00Z",
        updated_at="2026-11-25T12:00:00Z",
    )


@pytest.mark.parametrize(("place", "country", "postal_code"), PLACES, ids=[p[0] for p in PLACES])
def test_r_pay_14_a_place_outside_the_eu_vat_area_is_invoiced_without_vat(
    place: str, country: str, postal_code: str
) -> None:
    for vat_id in (None, "ESX5253868R"):
        assert tax.treatment(view(country, postal_code, vat_id), Settings()) == Treatment(0, OUTSIDE_EU), place
    assert OUTSIDE_EU == OUTSIDE_NOTE


@pytest.mark.parametrize(("place", "country", "postal_code", "rate"), ELSEWHERE, ids=[p[0] for p in ELSEWHERE])
def test_r_pay_14_the_same_country_elsewhere_keeps_its_rate(
    place: str, country: str, postal_code: str, rate: int
) -> None:
    assert tax.treatment(view(country, postal_code), Settings()) == Treatment(rate, None), place


def test_r_pay_14_monaco_is_invoiced_as_france() -> None:
    assert tax.treatment(view("MC", "98000"), Settings()) == Treatment(DEFAULT_VAT_RATES["FR"], None)
    business = view("MC", "98000", vat_id="FR61954506077")
    confirmed = vies.Confirmation("FR61954506077", NOW, "ref")
    assert tax.treatment(business, Settings(), confirmed, NOW) == Treatment(0, REVERSE_CHARGE)


def test_r_pay_14_the_isle_of_man_is_invoiced_as_the_uk_outside_the_eu() -> None:
    for vat_id in (None, "GB980780684"):
        assert tax.treatment(view("IM", "IM1 1AA", vat_id), Settings()) == Treatment(0, OUTSIDE_EU)
    assert tax.treatment(view("GB", "SW1A 2AA"), Settings()) == Treatment(0, OUTSIDE_EU)


def test_r_pay_14_the_territory_table_names_member_states_and_iso_codes() -> None:
    for place in vat_territory.OUTSIDE_EU_VAT_AREA:
        assert place.country in DEFAULT_VAT_RATES, place.name
        assert place.own_codes <= COUNTRIES, place.name
        assert not place.own_codes & set(DEFAULT_VAT_RATES), place.name
    assert set(vat_territory.TREATED_AS) <= COUNTRIES


# ---------------------------------------------------------------- through the handlers


@pytest.fixture
def account(world: Settings, provider_ledger: Any, outbox: Any) -> dict[str, Any]:
    reply = call("POST", "/signups", body=TRIAL)
    assert reply.status == 201, reply.body
    return dict(reply.body)


@pytest.mark.parametrize(
    ("country", "postal_code", "vat_id", "tax_cents", "note"),
    [
        ("ES", "35001", "ESX5253868R", 0, OUTSIDE_NOTE),  # Canary Islands, a Spanish VAT ID
        ("IT", "23041", None, 0, OUTSIDE_NOTE),  # Livigno
        ("MC", "98000", None, 380, None),  # Monaco: France's 20 % on 19.00
        ("MC", "98000", "FR61954506077", 0, "Reverse charge"),  # Monaco, a French VAT ID
        ("IM", "IM1 1AA", "GB980780684", 0, OUTSIDE_NOTE),  # Isle of Man
    ],
)
def test_r_pay_14_the_first_invoice_follows_the_address_vat_state(
    account: dict[str, Any], country: str, postal_code: str, vat_id: str | None, tax_cents: int, note: str | None
) -> None:
    reply = pay(account, country=country, postal_code=postal_code, vat_id=vat_id, company_registration=None)
    assert reply.status == 200, reply.body
    invoice = reply.body["invoice"]
    assert (invoice["tax"]["amount"], invoice["total"]["amount"]) == (tax_cents, 1900 + tax_cents)
    assert invoice["tax_note"] is None if note is None else invoice["tax_note"].startswith(note)
    assert invoice["billing_details"]["address"]["postal_code"] == postal_code

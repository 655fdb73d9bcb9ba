"""Billing details over moto (``/accounts/{id}/billing-details``): the required fields
(R-VOUCH-8), EU VAT ID formats and versions applying from now (R-PAY-14), and that a voucher
account without extra users is not asked for them (R-VOUCH-9). Each test goes through the
function the template routes to.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from lifecycle.billing import billing_details
from lifecycle.core import clock
from lifecycle.core.settings import DEFAULT_VAT_RATES
from lifecycle.storage import AuditEvent, BillingDetailsVersion
from tests.support import STAFF, Reply, billing_details_body, call, member, owner_of
from tests.unit.test_signup import NOW, TRIAL, add_voucher, person

pytestmark = pytest.mark.usefixtures("world")


@pytest.fixture
def account() -> dict[str, Any]:
    reply = call("POST", "/signups", body=TRIAL)
    assert reply.status == 201, reply.body
    return dict(reply.body)


def details(**changes: Any) -> dict[str, Any]:
    return billing_details_body(**changes)


def put(account: dict[str, Any], body: dict[str, Any], claims: dict[str, Any] | None = None) -> Reply:
    return call("PUT", f"/accounts/{account['id']}/billing-details", body=body, claims=claims or owner_of(account))


def get(account: dict[str, Any], claims: dict[str, Any] | None = None) -> Reply:
    return call("GET", f"/accounts/{account['id']}/billing-details", claims=claims or owner_of(account))


def fields(reply: Reply) -> list[str]:
    return [error["field"] for error in reply.body.get("errors", [])]


def test_r_vouch_8_valid_full_details_are_stored_and_read_back(account: dict[str, Any]) -> None:
    reply = put(account, details(vat_id="bg 175.074-752"))
    assert reply.status == 200, reply.body
    assert reply.body["vat_id"] == "BG175074752"
    assert reply.body["applies_from"] == "2026-11-25T12:00:00Z"
    assert reply.body["address"]["country"] == "BG"
    assert get(account).body == reply.body
    (stored,) = BillingDetailsVersion.query(account["id"])
    assert (stored.first_name, stored.company_registration, stored.valid_from) == ("Maria", "175074752", NOW)
    events = [event.type for event in AuditEvent.query(account["id"])]
    assert "billing_details_updated" in events


@pytest.mark.parametrize(
    "field",
    ["first_name", "last_name", "email", "company", "street", "city", "postal_code", "country"],
)
def test_r_vouch_8_every_required_field_is_required(account: dict[str, Any], field: str) -> None:
    body = details()
    if field in body:
        del body[field]
        expected = field
    else:
        del body["address"][field]
        expected = f"address.{field}"
    reply = put(account, body)
    assert (reply.status, reply.code) == (422, "validation_error")
    assert expected in fields(reply)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("first_name", "M4ria"),
        ("last_name", "www.example.com"),
        ("first_name", "   "),
        ("email", "not-an-address"),
        ("company", "  "),
        ("street", " "),
        ("country", "XX"),
        ("country", "Bulgaria"),
    ],
)
def test_r_vouch_8_names_email_company_and_address_must_be_real(
    account: dict[str, Any], field: str, value: str
) -> None:
    reply = put(account, details(**{field: value}))
    assert (reply.status, reply.code) == (422, "validation_error"), reply.body


def test_r_vouch_8_names_of_any_script_with_spaces_and_apostrophes_are_real(account: dict[str, Any]) -> None:
    reply = put(account, details(first_name="Мария-Елена", last_name="O'Neill de la Cruz"))
    assert reply.status == 200, reply.body


@pytest.mark.parametrize("country", sorted(billing_details.REGION_REQUIRED))
def test_r_vouch_8_region_is_required_where_addresses_need_it(account: dict[str, Any], country: str) -> None:
    reply = put(account, details(country=country, region=None, vat_id=None, company_registration=None))
    assert (reply.status, reply.code) == (422, "validation_error")
    assert fields(reply) == ["address.region"]
    given = put(account, details(country=country, region="Region", vat_id=None, company_registration=None))
    assert given.status == 200, given.body


def test_r_vouch_8_region_is_optional_elsewhere(account: dict[str, Any]) -> None:
    reply = put(account, details(country="DE", vat_id=None, company_registration=None))
    assert (reply.status, reply.body["address"]["region"], reply.body["company_registration"]) == (200, None, None)


@pytest.mark.parametrize(
    "number", [None, "", "17507475", "1750747520", "12139612303420", "ABCDEFGHI", "175074751", "1213961230341"]
)
def test_r_vouch_8_bulgaria_requires_a_uic_of_9_or_13_digits(account: dict[str, Any], number: str | None) -> None:
    reply = put(account, details(company_registration=number))
    assert (reply.status, reply.code) == (422, "validation_error")
    assert fields(reply) == ["company_registration"]


@pytest.mark.parametrize(("number", "stored"), [("175074752", "175074752"), ("1213 9612 30342", "1213961230342")])
def test_r_vouch_8_a_bulgarian_uic_of_9_or_13_digits_is_accepted(
    account: dict[str, Any], number: str, stored: str
) -> None:
    reply = put(account, details(company_registration=number))
    assert (reply.status, reply.body["company_registration"]) == (200, stored)


@pytest.mark.parametrize(
    ("country", "vat_id", "normalised"),
    [
        # Samples of python-stdnum 2.2 (tests/data/stdnum_vat_samples.tsv).
        ("BG", "BG7523169263", "BG7523169263"),
        ("DE", "de 136 695 976", "DE136695976"),
        ("FR", "FR-K7-399859412", "FRK7399859412"),
        ("GR", "EL094259216", "EL094259216"),
        ("GR", "094259216", "EL094259216"),
        ("AT", "ATU13585627", "ATU13585627"),
        ("NL", "NL004495445B01", "NL004495445B01"),
        ("IE", "IE8D79739I", "IE8D79739I"),
        ("ES", "ESX5253868R", "ESX5253868R"),
        ("SE", "SE: 123456789701", "SE123456789701"),
        ("BE", "BE697449992", "BE0697449992"),
    ],
)
def test_r_pay_14_vat_ids_of_member_states_are_accepted_and_normalised(
    account: dict[str, Any], country: str, vat_id: str, normalised: str
) -> None:
    registration = "175074752" if country == "BG" else None
    reply = put(account, details(country=country, vat_id=vat_id, company_registration=registration))
    assert (reply.status, reply.body["vat_id"]) == (200, normalised), reply.body


@pytest.mark.parametrize(
    ("country", "vat_id"),
    [
        ("DE", "DE13669597"),  # one digit short
        ("BG", "BG17507475201"),  # two digits long
        ("FR", "FR12345678"),
        ("AT", "AT13585627"),  # the U is part of the format
        ("NL", "NL004495445C01"),
        ("GR", "GR094259216"),  # Greece's VAT prefix is EL
        ("DE", "BG175074752"),  # a Bulgarian VAT ID for a German address
        ("US", "DE136695976"),  # an EU VAT ID for an address outside the EU
        ("BG", "175074751"),  # wrong check digit, without the prefix
    ],
)
def test_r_pay_14_a_vat_id_of_the_wrong_format_or_country_is_invalid_vat_id(
    account: dict[str, Any], country: str, vat_id: str
) -> None:
    region = "California" if country == "US" else None
    registration = "175074752" if country == "BG" else None
    reply = put(account, details(country=country, region=region, vat_id=vat_id, company_registration=registration))
    assert (reply.status, reply.code) == (422, "invalid_vat_id"), reply.body
    assert fields(reply) == ["vat_id"]
    assert list(BillingDetailsVersion.query(account["id"])) == []


def test_r_pay_14_the_eu_vat_prefixes_are_the_27_member_states_with_vat_rates() -> None:
    prefixes = billing_details.eu_vat_prefixes()
    assert len(prefixes) == 27
    assert {billing_details.VAT_PREFIX.get(country, country) for country in DEFAULT_VAT_RATES} == prefixes
    assert set(DEFAULT_VAT_RATES) <= billing_details.COUNTRIES
    assert len(billing_details.COUNTRIES) == 249


def test_r_pay_14_new_details_apply_from_now_and_the_earlier_version_is_kept(account: dict[str, Any]) -> None:
    first = put(account, details(vat_id=None))
    assert first.status == 200, first.body
    later = NOW + timedelta(days=3)
    clock.set_now(later)
    second = put(account, details(vat_id="BG103873594", company="Example Holding"))
    assert (second.status, second.body["applies_from"]) == (200, "2026-11-28T12:00:00Z")

    # An invoice issued before the change keeps the details it was issued with, never the VAT ID.
    before = billing_details.valid_at(account["id"], later - timedelta(seconds=1))
    assert before is not None
    assert (before.vat_id, before.company, before.applies_from) == (None, "Example Ltd", "2026-11-25T12:00:00Z")
    now = billing_details.valid_at(account["id"], later)
    assert now is not None
    assert (now.vat_id, now.company) == ("BG103873594", "Example Holding")
    assert billing_details.valid_at(account["id"], NOW - timedelta(seconds=1)) is None
    assert get(account).body == second.body
    assert len(list(BillingDetailsVersion.query(account["id"]))) == 2


def test_only_the_owner_gives_billing_details_and_other_accounts_are_404(account: dict[str, Any]) -> None:
    for role in ("admin", "agent"):
        reply = put(account, details(), claims=member(account["id"], role, sub="user-2"))
        assert (reply.status, reply.code) == (403, "forbidden")
        assert get(account, claims=member(account["id"], role, sub="user-2")).status == 403
    other = member("acc_other", "owner", sub="user-9")
    assert put(account, details(), claims=other).status == 404
    assert get(account, claims=other).status == 404
    assert put(account, details(), claims=STAFF).status == 403


def test_r_use_4_staff_reads_of_billing_details_are_audited(account: dict[str, Any]) -> None:
    assert put(account, details()).status == 200
    assert get(account, claims=STAFF).status == 200
    accesses = [event.details.as_dict() for event in AuditEvent.query(account["id"]) if event.type == "staff_access"]  # type: ignore[no-untyped-call]
    assert accesses == [{"resource": "billing_details"}]


def test_r_vouch_9_a_voucher_account_without_extra_users_is_not_asked_for_billing_details() -> None:
    add_voucher("BILL-DEAL-0001")
    reply = call("POST", "/redemptions", body=person(code="BILL-DEAL-0001", email="owner@example.com"))
    assert reply.status == 201, reply.body
    voucher_account = dict(reply.body)
    assert voucher_account["seats"]["extra"] == 0
    # No details given, and nothing asks for them: the account is active with full access.
    assert get(voucher_account).code == "not_found"
    seen = call("GET", f"/accounts/{voucher_account['id']}", claims=owner_of(voucher_account)).body
    assert (seen["status"], seen["access"]) == ("active", "full")

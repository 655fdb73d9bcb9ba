"""VAT IDs and company registration numbers by their check digits (R-PAY-14, R-VOUCH-8), against
the numbers their references publish (tests/data/*.tsv, each with its source), not against the
library the service calls: every published valid number is accepted in its compact form with its
prefix, every published wrong one refused with its reason; through the function the template
routes ``PUT /accounts/{id}/billing-details`` to, a refused number is problem+json and writes nothing.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifecycle.billing import billing_details
from lifecycle.billing.billing_details import Address
from lifecycle.core.errors import InvalidField, InvalidVatId
from lifecycle.core.settings import Settings
from lifecycle.storage import AuditEvent, BillingDetailsVersion
from tests.support import (
    Sample,
    address_for_prefix,
    billing_details_body,
    call,
    company_samples,
    owner_of,
    vat_samples,
)
from tests.unit.test_signup import TRIAL

REASONS = {
    "checksum": "check digit does not match",
    "length": "the wrong length for a VAT ID starting with",
    "format": "not the format of a VAT ID starting with",
    "component": "a part of it is not valid in a VAT ID starting with",
}


def address(prefix: str) -> Address:
    return Address(**address_for_prefix(prefix))


def refusal(sample: Sample) -> str | None:
    """Why ``sample`` was refused (None: accepted)."""
    try:
        billing_details.check_vat_id(sample.number, address(sample.state))
    except InvalidVatId as refused:
        return str(refused.extra["errors"][0]["message"])
    return None


def test_r_pay_14_the_published_samples_cover_every_member_state_and_the_uk() -> None:
    covered: dict[str, set[str]] = defaultdict(set)
    for sample in vat_samples():
        covered[sample.expected].add(sample.state)
    states = billing_details.eu_vat_prefixes() | {"GB"}
    assert states <= covered["valid"]
    assert states <= covered["checksum"]
    assert "XI" in covered["valid"]


def test_r_pay_14_every_published_valid_vat_id_is_accepted_compact_with_its_prefix() -> None:
    wrong: list[tuple[str, str, str | None]] = []
    for sample in vat_samples():
        if sample.expected != "valid":
            continue
        try:
            stored: str | None = billing_details.check_vat_id(sample.number, address(sample.state))
        except InvalidVatId as refused:
            wrong.append((sample.state, sample.number, str(refused.extra)))
            continue
        # The compact form the source prints, with the prefix (Romania's prints it already).
        published = sample.compact if sample.compact.startswith(sample.state) else sample.state + sample.compact
        if not stored or not stored.startswith(sample.state) or (sample.compact != "-" and stored != published):
            wrong.append((sample.state, sample.number, stored))
    assert wrong == []


@pytest.mark.parametrize("expected", ["checksum", "length", "format", "component", "duplicated-prefix"])
def test_r_pay_14_every_published_wrong_vat_id_is_refused_with_its_reason(expected: str) -> None:
    samples = [sample for sample in vat_samples() if sample.expected == expected]
    assert samples
    reasons = {sample.number: refusal(sample) for sample in samples}
    assert [number for number, reason in reasons.items() if reason is None] == []
    if expected in REASONS:
        assert {number: r for number, r in reasons.items() if not str(r).startswith(REASONS[expected])} == {}


@pytest.mark.parametrize(
    ("country", "postal_code", "vat_id", "stored"),
    [
        ("MC", "98000", "FR 61 954 506 077", "FR61954506077"),  # Monaco takes French VAT IDs
        ("IM", "IM1 1AA", "GB 980 7806 84", "GB980780684"),  # the Isle of Man British ones
        ("AX", "22100", "FI 20774740", "FI20774740"),  # Åland Finnish ones
        ("RE", "97400", "FR 61 954 506 077", "FR61954506077"),  # Réunion French ones
        ("ES", "35001", "ESX5253868R", "ESX5253868R"),  # the Canary Islands Spanish ones
        ("GB", "BT1 5GS", "XI 980 7806 84", "XI980780684"),  # Northern Ireland GB or XI
        ("GB", "BT1 5GS", "980780684", "GB980780684"),
        ("GR", "10557", "094259216", "EL094259216"),  # no prefix: the address's state's
        ("US", "10001", "12-3456789", "123456789"),  # other countries' tax ids as given
    ],
)
def test_r_pay_14_the_vat_id_prefix_is_the_address_vat_states(
    country: str, postal_code: str, vat_id: str, stored: str
) -> None:
    place = Address(street="1 Main Street", city="Capital", postal_code=postal_code, country=country, region="NY")
    assert billing_details.check_vat_id(vat_id, place) == stored


@pytest.mark.parametrize(
    ("country", "postal_code", "vat_id", "reason"),
    [
        ("MC", "98000", "IT00743110157", "a VAT ID for an address in MC starts with FR"),
        ("IM", "IM1 1AA", "DE136695976", "a VAT ID for an address in IM starts with GB"),
        ("GB", "SW1A 2AA", "XI980780684", "a VAT ID for an address in GB starts with GB"),  # XI: Northern Ireland
        ("GR", "10557", "GR094259216", "a VAT ID for an address in GR starts with EL"),
        ("US", "10001", "DE136695976", "DE VAT IDs are for addresses in the EU or the UK, not US"),
    ],
)
def test_r_pay_14_a_vat_id_of_another_state_is_refused(
    country: str, postal_code: str, vat_id: str, reason: str
) -> None:
    place = Address(street="1 Main Street", city="Capital", postal_code=postal_code, country=country, region="NY")
    with pytest.raises(InvalidVatId) as refused:
        billing_details.check_vat_id(vat_id, place)
    assert refused.value.extra["errors"] == [{"field": "vat_id", "message": reason}]


# States whose check detects every change of a single digit, so a changed digit can never give
# another valid number: weights prime to the modulus and no two remainders sharing a check digit.
# Others are left out because theirs can (Greece and Czechia map remainders 10 and 0 to one digit,
# the UK accepts three remainders, the Netherlands two checks).
CHANGE_DETECTING = {
    "AT": "Luhn over the digits after U",
    "BE": "97 minus the first 8 digits mod 97, a prime above 10",
    "DE": "ISO 7064 MOD 11,10",
    "DK": "weights 2, 7, 6, 5, 4, 3, 2, 1: the sum divisible by 11",
    "EE": "weights 3, 7, 1 mod 10",
    "FI": "weights 7, 9, 10, 5, 8, 4, 2 mod 11; remainder 1 is never valid",
    "HR": "ISO 7064 MOD 11,10",
    "HU": "weights 9, 7, 3, 1 mod 10",
    "IT": "Luhn",
    "LU": "the first 6 digits mod 89, a prime above 10",
    "PL": "weights 6, 5, 7, 2, 3, 4, 5, 6, 7 mod 11; remainder 10 is never valid",
    "SE": "Luhn over 10 digits, then 01",
    "SK": "the number divisible by 11",
}
DETECTABLE = [s for s in vat_samples() if s.expected == "valid" and s.state in CHANGE_DETECTING]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_r_pay_14_a_valid_vat_id_with_one_digit_changed_is_refused(data: st.DataObject) -> None:
    sample = data.draw(st.sampled_from(DETECTABLE))
    positions = [i for i, char in enumerate(sample.number) if char.isdigit()]
    at = data.draw(st.sampled_from(positions))
    digit = data.draw(st.sampled_from([d for d in "0123456789" if d != sample.number[at]]))
    changed = sample.number[:at] + digit + sample.number[at + 1 :]
    assert refusal(Sample(sample.state, "changed", changed, "-", sample.source)) is not None, changed


ADDRESS_PREFIXES = sorted(billing_details.eu_vat_prefixes() | {"GB", "XI"})
TYPED = st.text(st.sampled_from("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ +*-./:()\u00b2\u0663"), max_size=16)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=st.sampled_from(ADDRESS_PREFIXES), text=st.one_of(st.text(max_size=40), TYPED))
def test_r_pay_14_any_text_as_a_vat_id_is_taken_or_refused_as_invalid_vat_id(prefix: str, text: str) -> None:
    # Bad input is never an error of another kind (a 500): whatever the text, prefixed or not.
    for typed in (text, prefix + text):
        try:
            stored = billing_details.check_vat_id(typed, address(prefix))
        except InvalidVatId:
            continue
        assert stored.startswith(prefix)


@settings(max_examples=200, deadline=None)
@given(country=st.sampled_from(["BG", "CZ", "SK"]), text=st.one_of(st.text(max_size=20), TYPED))
def test_r_vouch_8_any_text_as_a_company_number_is_taken_or_refused_on_the_field(country: str, text: str) -> None:
    fields: list[str] = []
    stored = None
    try:
        stored = billing_details.check_company_registration(text, country)
    except InvalidField as refused:
        fields = [error["field"] for error in refused.extra["errors"]]
    assert fields == ["company_registration"] or re.fullmatch(r"[0-9]{8}|[0-9]{9}|[0-9]{13}", str(stored))


def test_r_vouch_8_every_published_company_number_is_judged_as_its_source_says() -> None:
    wrong: list[tuple[str, str, str | None]] = []
    for sample in company_samples():
        try:
            stored = billing_details.check_company_registration(sample.number, sample.state)
        except InvalidField as refused:
            reason = str(refused.extra["errors"][0]["message"])
            expected = "check digit does not match" if sample.expected == "checksum" else "must be "
            if sample.expected == "valid" or not reason.startswith(expected):
                wrong.append((sample.state, sample.number, reason))
            continue
        if sample.expected != "valid" or stored != "".join(sample.number.split()):
            wrong.append((sample.state, sample.number, stored))
    assert wrong == []
    assert {s.state for s in company_samples() if s.expected == "checksum"} == {"BG", "CZ", "SK"}
    assert {len(s.number) for s in company_samples() if s.state == "BG" and s.expected == "valid"} == {9, 13}


def test_r_vouch_8_the_13th_bulstat_digit_falls_back_to_the_second_weights_and_then_0() -> None:
    # Worked by hand: 1100 → 2·1 + 7·1 = 9; 5000 → 2·5 = 10, so 4·5 = 20 → 9; and digits whose
    # sums leave 10 with both sets of weights give 0.
    assert billing_details.bulstat_branch_digit("1100") == "9"
    assert billing_details.bulstat_branch_digit("5000") == "9"
    both = next(
        f"{n:04d}"
        for n in range(10_000)
        if sum(w * int(d) for w, d in zip((2, 7, 3, 5), f"{n:04d}", strict=True)) % 11 == 10
        and sum(w * int(d) for w, d in zip((4, 9, 5, 7), f"{n:04d}", strict=True)) % 11 == 10
    )
    assert billing_details.bulstat_branch_digit(both) == "0"


# ---------------------------------------------------------------- through the handler


# The company numbers the address's country needs (R-VOUCH-8), from the published samples.
REGISTRATIONS = {"BG": "175074752", "CZ": "00177041", "SK": "31322832"}


@pytest.fixture
def account(world: Settings) -> dict[str, Any]:
    reply = call("POST", "/signups", body=TRIAL)
    assert reply.status == 201, reply.body
    return dict(reply.body)


def snapshot(account_id: str) -> list[str]:
    """The account's billing details versions and audit events, as stored."""
    items = [*BillingDetailsVersion.query(account_id), *AuditEvent.query(account_id)]
    return sorted(json.dumps(item.attribute_values, default=str, sort_keys=True) for item in items)


def put(account: dict[str, Any], **changes: Any) -> Any:
    body = billing_details_body(**changes)
    return call("PUT", f"/accounts/{account['id']}/billing-details", body=body, claims=owner_of(account))


def one_per_state(expected: str) -> list[Sample]:
    first: dict[str, Sample] = {}
    for sample in vat_samples():
        if sample.expected == expected:
            first.setdefault(sample.state, sample)
    return list(first.values())


@pytest.mark.parametrize("sample", one_per_state("checksum"), ids=lambda s: s.state)
def test_r_pay_14_a_wrong_check_digit_is_422_invalid_vat_id_and_nothing_is_written(
    account: dict[str, Any], sample: Sample
) -> None:
    before = snapshot(account["id"])
    place = address_for_prefix(sample.state)
    registration = REGISTRATIONS.get(place["country"])
    reply = put(account, **place, vat_id=sample.number, company_registration=registration)
    assert (reply.status, reply.code) == (422, "invalid_vat_id"), reply.body
    assert reply.headers["content-type"].startswith("application/problem+json")
    assert reply.body["errors"] == [{"field": "vat_id", "message": "check digit does not match"}]
    assert snapshot(account["id"]) == before


@pytest.mark.parametrize("sample", one_per_state("valid"), ids=lambda s: s.state)
def test_r_pay_14_a_published_valid_vat_id_is_stored_with_its_prefix(account: dict[str, Any], sample: Sample) -> None:
    place = address_for_prefix(sample.state)
    registration = REGISTRATIONS.get(place["country"])
    reply = put(account, **place, vat_id=sample.number, company_registration=registration)
    assert reply.status == 200, reply.body
    assert reply.body["vat_id"].startswith(sample.state)
    (stored,) = BillingDetailsVersion.query(account["id"])
    assert stored.vat_id == reply.body["vat_id"]


@pytest.mark.parametrize(
    "vat_id",
    [
        "BG\u0661\u0667\u0665\u0660\u0667\u0664\u0667\u0665\u0662",  # Arabic-Indic digits
        "BG",
        "...",
        "BG 175 074 752 BG",
        "BG17507475\u0000",
        "BG175074752" * 3,
        "ÄÖ12",
    ],
)
def test_r_pay_14_a_vat_id_of_no_state_s_shape_is_422_invalid_vat_id_and_nothing_is_written(
    account: dict[str, Any], vat_id: str
) -> None:
    before = snapshot(account["id"])
    reply = put(account, vat_id=vat_id)
    assert (reply.status, reply.code) == (422, "invalid_vat_id"), reply.body
    assert [error["field"] for error in reply.body["errors"]] == ["vat_id"]
    assert snapshot(account["id"]) == before


@pytest.mark.parametrize(
    ("country", "number", "message"),
    [
        ("BG", "175074751", "check digit does not match"),
        ("BG", "1213961230341", "check digit does not match"),
        ("BG", "17507475", "must be a UIC (ЕИК/BULSTAT) of 9 or 13 digits"),
        ("CZ", "00177042", "check digit does not match"),
        ("CZ", "177041", "must be an IČO of 8 digits (an older one with its leading zeros)"),
        ("SK", "31322833", "check digit does not match"),
        ("SK", "3132283A", "must be an IČO of 8 digits (an older one with its leading zeros)"),
        ("SK", "31322\u066832", "must be an IČO of 8 digits (an older one with its leading zeros)"),
    ],
)
def test_r_vouch_8_a_wrong_company_number_is_422_on_company_registration_and_nothing_is_written(
    account: dict[str, Any], country: str, number: str, message: str
) -> None:
    before = snapshot(account["id"])
    reply = put(account, country=country, vat_id=None, company_registration=number)
    assert (reply.status, reply.code) == (422, "validation_error"), reply.body
    assert reply.headers["content-type"].startswith("application/problem+json")
    assert reply.body["errors"] == [{"field": "company_registration", "message": message}]
    assert snapshot(account["id"]) == before


@pytest.mark.parametrize(
    ("country", "number", "stored"),
    [("BG", "1213 9612 30342", "1213961230342"), ("CZ", "001 77 041", "00177041"), ("SK", "31-322-832", "31322832")],
)
def test_r_vouch_8_a_company_number_with_matching_check_digits_is_stored_compact(
    account: dict[str, Any], country: str, number: str, stored: str
) -> None:
    reply = put(account, country=country, vat_id=None, company_registration=number)
    assert (reply.status, reply.body["company_registration"]) == (200, stored), reply.body

"""R-PAY-14: the reverse charge only for a VAT ID the EU's VIES service confirmed. The treatment with
and without a fresh or stale confirmation; the local stand-in; and, over moto, when VIES is asked
(saving the billing details, an invoice whose kept confirmation is too old) and what the invoices
keep. The REST checker: test_vies_rest.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from lifecycle.billing import tax, vies
from lifecycle.billing.billing_details import BillingDetailsView
from lifecycle.billing.vies import Confirmation, LocalChecker, Unavailable, ViesChecker
from lifecycle.core import clock
from lifecycle.core.settings import Settings
from lifecycle.storage import AuditEvent, BillingDetailsVersion, Invoice
from tests.support import billing_details_body, call, owner_of, pay, run_schedule
from tests.unit.test_signup import NOW, TRIAL

SETTINGS = Settings()
REQUESTER = "SK2020123456"


def details(country: str = "DE", vat_id: str | None = "DE136695976", region: str | None = None) -> BillingDetailsView:
    body = billing_details_body(country=country, vat_id=vat_id, company_registration=None, region=region)
    return BillingDetailsView.model_validate({**body, "applies_from": "2026-11-01T00:00:00Z", "updated_at": "x"})


def confirmed(vat_id: str = "DE136695976", age: timedelta = timedelta(days=1)) -> Confirmation:
    return Confirmation(vat_id, NOW - age, "WAPIAAAAZ3kQxQ0c")


# ---------------------------------------------------------------- the treatment


def test_r_pay_14_a_fresh_vies_confirmation_reverse_charges_an_eu_business_abroad() -> None:
    treatment = tax.treatment(details(), SETTINGS, confirmed(), NOW)
    assert (treatment.rate_basis_points, treatment.note) == (0, tax.REVERSE_CHARGE)
    assert treatment.tax_on(1900) == 0


def test_r_pay_14_without_a_confirmation_an_eu_business_abroad_pays_its_countrys_vat() -> None:
    for treatment in (tax.treatment(details(), SETTINGS), tax.treatment(details(), SETTINGS, None, NOW)):
        # Germany's 19 % on 19.00: invoiced as a consumer, no reverse-charge note.
        assert (treatment.rate_basis_points, treatment.note, treatment.tax_on(1900)) == (1900, None, 361)


def test_r_pay_14_a_confirmation_older_than_the_max_age_no_longer_reverse_charges() -> None:
    limit = timedelta(days=SETTINGS.vies_confirmation_max_age_days)
    assert limit == timedelta(days=30)
    assert tax.treatment(details(), SETTINGS, confirmed(age=limit), NOW).note == tax.REVERSE_CHARGE
    stale = tax.treatment(details(), SETTINGS, confirmed(age=limit + timedelta(seconds=1)), NOW)
    assert (stale.rate_basis_points, stale.note) == (1900, None)
    shorter = SETTINGS.model_copy(update={"vies_confirmation_max_age_days": 7})
    assert tax.treatment(details(), shorter, confirmed(age=timedelta(days=8)), NOW).note is None


def test_r_pay_14_a_confirmation_of_another_vat_id_or_dated_later_does_not_count() -> None:
    other = tax.treatment(details(), SETTINGS, confirmed(vat_id="DE811907980"), NOW)
    assert (other.rate_basis_points, other.note) == (1900, None)
    later = tax.treatment(details(), SETTINGS, confirmed(age=-timedelta(seconds=1)), NOW)
    assert later.note is None


def test_r_pay_14_at_home_and_outside_the_eu_a_confirmation_changes_nothing() -> None:
    home = tax.treatment(details("SK", "SK2020123456"), SETTINGS, confirmed("SK2020123456"), NOW)
    assert (home.rate_basis_points, home.note) == (2300, None)
    abroad = tax.treatment(details("US", "US123456789", region="NY"), SETTINGS, confirmed("US123456789"), NOW)
    assert (abroad.rate_basis_points, abroad.note) == (0, tax.OUTSIDE_EU)


def test_r_pay_14_vies_is_worth_asking_only_where_a_confirmation_would_reverse_charge() -> None:
    assert tax.reverse_charged_once_confirmed(details(), SETTINGS)
    assert not tax.reverse_charged_once_confirmed(details(vat_id=None), SETTINGS)
    assert not tax.reverse_charged_once_confirmed(details("SK", "SK2020123456"), SETTINGS)
    assert not tax.reverse_charged_once_confirmed(details("US", "US123456789", region="NY"), SETTINGS)
    assert not tax.reverse_charged_once_confirmed(None, SETTINGS)


# ---------------------------------------------------------------- choosing, and the local stand-in


def test_r_pay_14_the_checker_is_the_settings_choice() -> None:
    assert isinstance(vies.checker_for(SETTINGS), LocalChecker)
    settings = Settings.from_env(
        {
            "VAT_CHECKER": "vies",
            "VIES_REQUESTER_VAT_ID": REQUESTER,
            "VIES_TIMEOUT_SECONDS": "2.5",
            "VIES_CONFIRMATION_MAX_AGE_DAYS": "14",
        }
    )
    chosen = vies.checker_for(settings)
    assert chosen == ViesChecker(REQUESTER, timeout=2.5)
    assert settings.vies_confirmation_max_age_days == 14
    with pytest.raises(ValueError, match="vies_requester_vat_id"):
        vies.checker_for(Settings(vat_checker="vies"))
    with pytest.raises(ValidationError):
        Settings.from_env({"VIES_REQUESTER_VAT_ID": "sk 2020123456"})


@pytest.fixture
def vies_down() -> Iterator[None]:
    """The local stand-in does not answer, as VIES when a member state's register is down."""
    vies.set_local_available(False)
    yield
    vies.set_local_available(True)


def test_r_pay_14_the_local_stand_in_confirms_with_a_deterministic_reference() -> None:
    first = LocalChecker().check("BG175074752", NOW)
    assert first == LocalChecker().check("BG175074752", NOW)
    assert first is not None
    assert str(first.reference).startswith("LOCAL")
    assert (first.vat_id, first.checked_at) == ("BG175074752", NOW)
    later = LocalChecker().check("BG175074752", NOW + timedelta(days=1))
    assert later == Confirmation("BG175074752", NOW + timedelta(days=1), first.reference)
    other = LocalChecker().check("DE136695976", NOW)
    assert other is not None
    assert other.reference != first.reference


@pytest.mark.usefixtures("vies_down")
def test_r_pay_14_the_local_stand_in_switched_off_is_unavailable() -> None:
    with pytest.raises(Unavailable):
        LocalChecker().check("BG175074752", NOW)
    assert vies.ask("BG175074752", NOW, SETTINGS, "acc_1") is None


# ---------------------------------------------------------------- when VIES is asked, what is kept (moto)


@dataclass
class Counting:
    """The local stand-in, counting the VAT IDs it is asked about."""

    asked: list[str] = field(default_factory=list)

    def check(self, vat_id: str, now: datetime) -> Confirmation | None:
        self.asked.append(vat_id)
        return LocalChecker().check(vat_id, now)


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> Counting:
    found = Counting()
    monkeypatch.setattr(vies, "checker_for", lambda settings: found)
    return found


def signed_up() -> dict[str, Any]:
    reply = call("POST", "/signups", body=TRIAL)  # the ticket plan, monthly, 19.00
    assert reply.status == 201, reply.body
    return dict(reply.body)


def version_of(account: dict[str, Any]) -> BillingDetailsVersion:
    (version,) = BillingDetailsVersion.query(account["id"], consistent_read=True)
    return version


def saved_event(account: dict[str, Any]) -> dict[str, Any]:
    (event,) = [e for e in AuditEvent.query(account["id"]) if e.type == "billing_details_updated"]
    return dict(event.details.as_dict())  # type: ignore[no-untyped-call]


@pytest.mark.usefixtures("world", "provider_ledger", "outbox")
def test_r_pay_14_a_vat_id_vies_confirmed_on_saving_reverse_charges_the_first_invoice_with_its_vat_check(
    counting: Counting,
) -> None:
    account = signed_up()
    paid = pay(account)  # Bulgarian details with a VAT ID, then a card

    assert paid.status == 200, paid.body
    assert counting.asked == ["BG175074752"]  # once, on saving; the invoice used the kept confirmation
    version = version_of(account)
    expected = LocalChecker().check("BG175074752", NOW)
    assert expected is not None
    assert (version.vat_checked_at, version.vat_check_reference) == (NOW, expected.reference)
    invoice = paid.body["invoice"]
    assert (invoice["tax"]["amount"], invoice["tax_note"]) == (0, tax.REVERSE_CHARGE)
    assert invoice["vat_check"] == {
        "vat_id": "BG175074752",
        "checked_at": "2026-11-25T12:00:00Z",
        "reference": version.vat_check_reference,
    }
    read = call("GET", f"/accounts/{account['id']}/invoices/{invoice['id']}", claims=owner_of(account))
    assert read.body["vat_check"] == invoice["vat_check"]
    assert saved_event(account) == {"vat_id_given": True, "vat_id_confirmed": True}


@pytest.mark.usefixtures("world", "provider_ledger", "outbox", "vies_down")
def test_r_pay_14_vies_down_never_blocks_saving_and_the_invoice_charges_the_customers_countrys_vat() -> None:
    account = signed_up()
    paid = pay(account)  # asserts the details were saved (200)

    assert paid.status == 200, paid.body
    version = version_of(account)
    assert (version.vat_id, version.vat_checked_at, version.vat_check_reference) == ("BG175074752", None, None)
    assert saved_event(account) == {"vat_id_given": True, "vat_id_confirmed": False}
    invoice = paid.body["invoice"]
    # Invoiced as a Bulgarian consumer: 20 % on 19.00, no reverse-charge note, no vat_check.
    assert (invoice["tax"]["amount"], invoice["total"]["amount"], invoice["tax_note"]) == (380, 2280, None)
    assert invoice["vat_check"] is None
    assert Invoice.get(account["id"], invoice["id"]).vat_check is None


@pytest.mark.usefixtures("world", "provider_ledger", "outbox")
@pytest.mark.parametrize(
    "given",
    [
        {"country": "SK", "vat_id": "SK1078449064", "company_registration": "31322832"},
        {"country": "DE", "vat_id": None, "company_registration": None},
        {"country": "US", "region": "NY", "vat_id": "US123456789", "company_registration": None},
    ],
    ids=["at-home", "no-vat-id", "outside-the-eu"],
)
def test_r_pay_14_vies_is_not_asked_where_no_reverse_charge_could_follow(
    counting: Counting, given: dict[str, Any]
) -> None:
    paid = pay(signed_up(), **given)
    assert paid.status == 200, paid.body
    assert counting.asked == []
    assert paid.body["invoice"]["vat_check"] is None


@pytest.mark.usefixtures("world", "provider_ledger", "outbox")
def test_r_pay_14_a_confirmation_too_old_is_asked_for_again_at_the_renewal_and_unconfirmed_is_a_consumer(
    counting: Counting,
) -> None:
    account = signed_up()
    assert pay(account).status == 200  # checked on saving, 25 November 12:00

    # 25 December 12:00, the renewal's start: the confirmation is 30 days old, still fresh; not asked again.
    renewal = _renewal_at(account, datetime(2026, 12, 25, 12, tzinfo=UTC))
    assert renewal["vat_check"]["checked_at"] == "2026-11-25T12:00:00Z"
    assert counting.asked == ["BG175074752"]

    # 25 January: 61 days old; VIES is asked once more and its confirmation kept.
    renewal = _renewal_at(account, datetime(2027, 1, 25, 12, tzinfo=UTC))
    assert (renewal["tax"]["amount"], renewal["tax_note"]) == (0, tax.REVERSE_CHARGE)
    assert renewal["vat_check"]["checked_at"] == "2027-01-25T12:00:00Z"
    assert version_of(account).vat_checked_at == datetime(2027, 1, 25, 12, tzinfo=UTC)
    assert counting.asked == ["BG175074752"] * 2

    # 25 February: 31 days old and VIES is down: a Bulgarian consumer's 20 %, the invoice still issues.
    vies.set_local_available(False)
    try:
        renewal = _renewal_at(account, datetime(2027, 2, 25, 12, tzinfo=UTC))
    finally:
        vies.set_local_available(True)
    assert (renewal["tax"]["amount"], renewal["tax_note"], renewal["vat_check"]) == (380, None, None)
    assert renewal["period_start"] == "2027-02-25T12:00:00Z"
    assert counting.asked == ["BG175074752"] * 3


def _renewal_at(account: dict[str, Any], instant: datetime) -> dict[str, Any]:
    clock.set_now(instant)
    assert run_schedule("billing-run")["changed"] == 1
    reply = call("GET", f"/accounts/{account['id']}/invoices", claims=owner_of(account))
    newest = reply.body["items"][0]
    assert newest["issued_at"] == clock.to_iso(instant)
    return dict(newest)


@pytest.mark.usefixtures("world", "provider_ledger", "outbox")
def test_r_pay_13_r_pay_14_a_credit_note_and_its_reissue_keep_the_vat_check_with_the_tax() -> None:
    account = signed_up()
    original = pay(account).body["invoice"]
    assert original["vat_check"] is not None

    corrected = call(
        "POST",
        f"/accounts/{account['id']}/invoices/{original['id']}/corrections",
        body={"billing_details": billing_details_body(company="Example Holding Ltd")},
        claims=owner_of(account),
    )

    assert corrected.status == 201, corrected.body
    note, reissued = corrected.body["credit_note"], corrected.body["invoice"]
    assert note["vat_check"] == reissued["vat_check"] == original["vat_check"]
    assert (note["tax_note"], reissued["tax_note"]) == (tax.REVERSE_CHARGE, tax.REVERSE_CHARGE)

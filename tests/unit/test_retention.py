"""The retention sweep over moto (R-GDPR-2): kept personal data erased when its time comes,
idempotent, resumable, with a dry run and a registry of erasers by kind."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lifecycle.core import clock
from lifecycle.core.settings import Settings
from lifecycle.entry.sweeps import SweepRequest
from lifecycle.privacy import retention
from lifecycle.privacy.retention import (
    ERASERS,
    Erasing,
    Erasure,
    add_years,
    certificate_id,
    ended_customer,
    ended_customer_erase_at,
    erase_due,
    masked,
    schedule_non_customer,
)
from lifecycle.storage import DeletionCertificate, Invoice, RetentionItem
from lifecycle.storage.base import shard_of
from tests.support import call, owner_of, pay, run_schedule
from tests.unit.test_signup import NOW, TRIAL

DETAILS = {
    "first_name": "Maria",
    "last_name": "Ivanova",
    "email": "billing@example.com",
    "company": "Example Ltd",
    "address": {"street": "1 Vitosha Blvd", "city": "Sofia", "postal_code": "1000", "region": None, "country": "BG"},
    "vat_id": "BG175074752",
    "company_registration": "175074752",
    "applies_from": "2026-11-25T12:00:00Z",
    "updated_at": "2026-11-25T12:00:00Z",
}
PERSONAL = ("Maria", "Ivanova", "billing@example.com", "Example Ltd", "Vitosha", "Sofia", "1000", "BG175074752")


pytestmark = pytest.mark.usefixtures("world")


def _forever() -> int:
    return 10**9


def invoices_of(account_id: str) -> list[Invoice]:
    return list(Invoice.query(account_id, consistent_read=True))


def kept_invoices(account_id: str, count: int, settings: Settings, details: dict[str, Any] | None = DETAILS) -> None:
    """A purged account's kept invoices and its retention item, as the purge leaves them."""
    for index in range(count):
        Invoice(
            account_id,
            f"inv_2026112512000{index}_0000000{index}",
            number=f"INV-{index:06d}",
            kind="invoice",
            status="paid",
            issued_at=NOW,
            currency="USD",
            lines=[],
            subtotal=3900,
            tax=780,
            total=4680,
            billing_details=details,
            purpose=f"renewal#{index}",
        ).save()
    ended_customer(account_id, NOW, NOW, certificate_id(account_id), settings).save()


def due_at(account_id: str) -> datetime:
    return RetentionItem.get("account#" + account_id).erase_at


# ---------------------------------------------------------------- when


def test_r_gdpr_2_kept_invoices_are_erased_after_the_later_of_5_years_and_the_accounting_period(
    tables: Settings,
) -> None:
    ended = NOW
    assert ended_customer_erase_at(ended, None, tables) == add_years(ended, 5)
    assert ended_customer_erase_at(ended, ended - timedelta(days=730), tables) == add_years(ended, 8)
    short_law = tables.model_copy(update={"invoice_retention_years": 3})
    assert ended_customer_erase_at(ended, ended, short_law) == add_years(ended, 5)


def test_a_year_later_of_29_february_is_28_february() -> None:
    leap = datetime(2028, 2, 29, 12, 0, tzinfo=NOW.tzinfo)
    assert add_years(leap, 5) == datetime(2033, 2, 28, 12, 0, tzinfo=NOW.tzinfo)


def test_r_gdpr_2_masking_keeps_only_the_country(tables: Settings) -> None:
    erased = masked(DETAILS, NOW)
    assert erased["address"] == {
        "street": "erased",
        "city": "erased",
        "postal_code": "erased",
        "region": None,
        "country": "BG",
    }
    for name in ("first_name", "last_name", "email", "company", "vat_id", "company_registration"):
        assert erased[name] == "erased"
    assert erased["erased_at"] == "2026-11-25T12:00:00Z"
    assert masked({**DETAILS, "vat_id": None}, NOW)["vat_id"] is None


# ---------------------------------------------------------------- the sweep


def test_r_gdpr_2_the_sweep_masks_the_billing_details_on_an_ended_customers_kept_invoices(tables: Settings) -> None:
    kept_invoices("acc_ended", 2, tables)
    erase_at = due_at("acc_ended")
    assert erase_due(SweepRequest(), erase_at - timedelta(seconds=1), _forever, tables).examined == 0

    summary = erase_due(SweepRequest(), erase_at, _forever, tables)

    assert (summary.examined, summary.changed, summary.errors, summary.items) == (1, 1, 0, {"invoices": 2})
    for invoice in invoices_of("acc_ended"):
        assert invoice.billing_details == masked(DETAILS, erase_at)
        assert (invoice.total, invoice.number[:4]) == (4680, "INV-")  # the accounting record stays
    item = RetentionItem.get("account#acc_ended")
    assert (item.erased_at, item.retention_shard) == (erase_at, None)
    cert = DeletionCertificate.get(item.certificate_id)
    assert (cert.reason, cert.account_id, cert.deleted) == ("retention", "acc_ended", {"invoices": 2})
    assert cert.completed_at == erase_at
    assert cert.unrecoverable_after == erase_at + timedelta(days=35)
    assert cert.kept[0]["personal_data"] is False
    document = json.dumps(cert.to_simple_dict(), ensure_ascii=False)
    assert not [word for word in PERSONAL if word in document]


def test_r_gdpr_2_r_pay_14_the_sweep_masks_the_vat_id_of_a_kept_invoices_vies_confirmation(tables: Settings) -> None:
    kept_invoices("acc_ended", 1, tables)
    (invoice,) = invoices_of("acc_ended")
    check = {"vat_id": "BG123456789", "checked_at": "2026-11-25T12:00:00Z", "reference": "WAPIAAAAZ3kQxQ0c"}
    invoice.update(actions=[Invoice.vat_check.set(check)])

    erase_due(SweepRequest(), due_at("acc_ended"), _forever, tables)

    (invoice,) = invoices_of("acc_ended")
    # The check's date and consultation reference stay with the accounting record; the VAT ID goes.
    assert invoice.vat_check == {**check, "vat_id": "erased"}


def test_r_gdpr_2_r_pay_12_the_sweep_erases_the_last_digits_and_expiry_of_the_card_that_paid(
    tables: Settings,
) -> None:
    kept_invoices("acc_ended", 2, tables)
    card = {"type": "card", "brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2034}
    by_card, by_paypal = invoices_of("acc_ended")
    by_card.update(actions=[Invoice.paid_with.set(card)])
    by_paypal.update(actions=[Invoice.paid_with.set({"type": "paypal"})])

    erase_due(SweepRequest(), due_at("acc_ended"), _forever, tables)

    by_card, by_paypal = invoices_of("acc_ended")
    # That a Visa card paid stays with the accounting record; which card it was goes.
    assert by_card.paid_with == {"type": "card", "brand": "visa", "last4": None, "exp_month": None, "exp_year": None}
    assert by_paypal.paid_with == {"type": "paypal"}


def test_r_gdpr_2_running_the_sweep_again_changes_nothing(tables: Settings) -> None:
    kept_invoices("acc_ended", 1, tables)
    later = due_at("acc_ended") + timedelta(days=1)
    erase_due(SweepRequest(), later, _forever, tables)
    before = [invoice.billing_details for invoice in invoices_of("acc_ended")]

    again = erase_due(SweepRequest(), later + timedelta(days=1), _forever, tables)

    assert (again.examined, again.changed) == (0, 0)
    assert [invoice.billing_details for invoice in invoices_of("acc_ended")] == before


def test_r_gdpr_2_a_sweep_out_of_time_is_finished_by_the_next_run_with_exact_counts(tables: Settings) -> None:
    kept_invoices("acc_ended", 3, tables)
    later = due_at("acc_ended")
    checks = iter(range(10**6))

    first = erase_due(SweepRequest(), later, lambda: 10**9 if next(checks) < 3 else 0, tables)

    assert (first.changed, first.unfinished) == (0, 1)
    masked_now = [invoice for invoice in invoices_of("acc_ended") if "erased_at" in invoice.billing_details]
    assert 0 < len(masked_now) < 3
    rest = erase_due(SweepRequest(), later, _forever, tables)
    assert (rest.changed, rest.items) == (1, {"invoices": 3})
    assert DeletionCertificate.get(RetentionItem.get("account#acc_ended").certificate_id).deleted == {"invoices": 3}
    assert all(invoice.billing_details["first_name"] == "erased" for invoice in invoices_of("acc_ended"))


def test_a_dry_run_counts_what_the_sweep_would_erase_and_changes_nothing(tables: Settings) -> None:
    kept_invoices("acc_ended", 2, tables)
    preview = erase_due(SweepRequest(dry_run=True), due_at("acc_ended"), _forever, tables)
    assert (preview.examined, preview.changed, preview.items) == (1, 0, {"invoices": 2})
    assert all(invoice.billing_details == DETAILS for invoice in invoices_of("acc_ended"))
    assert RetentionItem.get("account#acc_ended").retention_shard is not None
    assert list(DeletionCertificate.scan()) == []


# ---------------------------------------------------------------- kinds


def test_r_gdpr_2_each_kind_is_erased_by_the_eraser_registered_for_it(
    tables: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, bool]] = []

    def erase_fake(item: RetentionItem, erasing: Erasing) -> Erasure:
        calls.append((item.subject_key, erasing.dry_run))
        return Erasure(erased={"consents": 2}, kept=[])

    monkeypatch.setitem(ERASERS, "fake", erase_fake)
    RetentionItem(
        "person#abc",
        kind="fake",
        basis="test",
        ended_at=NOW - timedelta(days=1),
        erase_at=NOW,
        retention_shard=shard_of("person#abc", tables.sweep_shards),
    ).save()

    assert erase_due(SweepRequest(dry_run=True), NOW, _forever, tables).items == {"consents": 2}
    summary = erase_due(SweepRequest(), NOW, _forever, tables)

    assert calls == [("person#abc", True), ("person#abc", False)]
    assert (summary.changed, summary.items) == (1, {"consents": 2})
    item = RetentionItem.get("person#abc")
    cert = DeletionCertificate.get(item.certificate_id)
    assert (cert.account_id, cert.reason, cert.deleted) == (None, "retention", {"consents": 2})


def test_an_item_of_a_kind_without_an_eraser_is_an_error_and_stays_due(tables: Settings) -> None:
    RetentionItem(
        "person#abc",
        kind="unknown",
        basis="test",
        ended_at=NOW,
        erase_at=NOW,
        retention_shard=shard_of("person#abc", tables.sweep_shards),
    ).save()
    summary = erase_due(SweepRequest(), NOW, _forever, tables)
    assert (summary.changed, summary.errors) == (0, 1)
    assert RetentionItem.get("person#abc").retention_shard is not None


def test_r_gdpr_2_a_non_customers_consent_lasts_5_years_and_a_later_one_moves_it_on(tables: Settings) -> None:
    given = NOW - timedelta(days=10)
    item = schedule_non_customer("h1", given, NOW)
    assert (item.subject_key, item.kind, item.erase_at) == ("person#h1", "non_customer", add_years(given, 5))
    assert item.retention_shard == shard_of("person#h1", tables.sweep_shards)

    renewed = schedule_non_customer("h1", NOW, NOW)
    assert RetentionItem.get("person#h1").erase_at == add_years(NOW, 5) == renewed.erase_at
    older = schedule_non_customer("h1", given, NOW)
    assert older.erase_at == add_years(NOW, 5)  # never moved back
    with pytest.raises(ValueError, match="future"):
        schedule_non_customer("h2", NOW + timedelta(seconds=1), NOW)
    # lifecycle.privacy.retention registers the consent records' eraser and postponer (tests/unit/test_consents.py).
    assert retention.NON_CUSTOMER in ERASERS
    assert retention.NON_CUSTOMER in retention.POSTPONERS


# ---------------------------------------------------------------- the whole way, through the API


def test_r_gdpr_2_r_term_3_cancel_purge_then_10_years_later_the_kept_invoices_are_masked(outbox: Path) -> None:
    account = call("POST", "/signups", body=TRIAL).body
    assert pay(account).status == 200
    assert call("POST", f"/accounts/{account['id']}/cancel", claims=owner_of(account)).status == 200
    assert run_schedule("purge-sweep")["changed"] == 1
    (invoice,) = invoices_of(account["id"])
    assert invoice.billing_details["last_name"] == "Ivanova"  # kept by accounting law

    clock.set_now(add_years(NOW, 10) - timedelta(seconds=1))
    assert run_schedule("retention-sweep")["examined"] == 0
    clock.set_now(add_years(NOW, 10) + timedelta(seconds=1))
    summary = run_schedule("retention-sweep")

    assert (summary["changed"], summary["items"]) == (1, {"invoices": 1})
    (invoice,) = invoices_of(account["id"])
    assert (invoice.billing_details["last_name"], invoice.billing_details["address"]["country"]) == ("erased", "BG")
    purge_cert = DeletionCertificate.get(certificate_id(account["id"]))
    (kept,) = [entry for entry in purge_cert.kept if entry["table"] == "invoices"]
    assert kept["personal_data"] is False

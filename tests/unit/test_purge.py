"""The purge procedure over moto (R-TERM-3, R-VOUCH-11's removal): an account with items in
every table, made through the API, cancelled, then the ``purge-sweep`` schedule."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from pynamodb.connection import Connection
from pynamodb.models import Model

from lifecycle import storage
from lifecycle.billing import payments
from lifecycle.core import clock
from lifecycle.core.settings import Settings, get_settings
from lifecycle.ending import purge
from lifecycle.ending.purge import PURGE_MAP, purge_due
from lifecycle.entry.sweeps import SweepRequest
from lifecycle.privacy.retention import add_years, certificate_id
from lifecycle.storage import (
    MODELS,
    Account,
    Campaign,
    Claim,
    Consent,
    DeletionCertificate,
    IdentityChange,
    Invoice,
    InvoiceSeries,
    PriceChange,
    PrivacyRequest,
    RateCounter,
    RetentionItem,
    Session,
    TermsVersion,
    Voucher,
    table_of,
)
from lifecycle.storage.base import shard_of
from lifecycle.storage.claims import price_notice_claim
from local_runtime.payment_standin import Interruption
from tests.conftest import Ledger
from tests.faults import provider_interrupted
from tests.support import STAFF, call, member, ok, outbox_items, owner_of, pay, run_schedule
from tests.unit.test_signup import NOW, TRIAL, add_voucher, person

AGENT = {"full_name": "Petar Georgiev", "email": "agent1@example.com", "role": "agent"}
CODE = "LIFE-0000-AAAA"
# Everything of the account that is personal: none of it may be on the certificate.
PERSONAL = ("maria@example.com", "Maria Ivanova", "Ясен ООД", "Petar Georgiev", "agent1@example.com", "Ivanova")
# Kept past the purge (or its proof and schedule), and tables that hold no account's data.
NOT_DELETED = {Invoice, Voucher, DeletionCertificate, RetentionItem}
# Consents and data subject requests are kept per person (lifecycle.privacy.consents), not per account.
NOT_ACCOUNT_DATA = {
    Campaign,
    InvoiceSeries,
    PriceChange,
    TermsVersion,
    RateCounter,
    Consent,
    PrivacyRequest,
    IdentityChange,
}


pytestmark = pytest.mark.usefixtures("world")


def at(minutes: int) -> datetime:
    instant = NOW + timedelta(minutes=minutes)
    clock.set_now(instant)
    return instant


def rich_account() -> dict[str, Any]:
    """An account with items in every table an account has items in, all made through the API."""
    account = ok(call("POST", "/signups", body=TRIAL), 201)
    owner, path = owner_of(account), f"/accounts/{account['id']}"
    # Users, a user-email claim, an extra seat's interval (R-VOUCH-6), its warning notice.
    ok(call("POST", f"{path}/users", body=AGENT, claims=owner), 201)
    # Sessions; three devices on one login within minutes: a shared-login detection day (R-USE-1).
    for minutes, device, ip in ((1, "laptop", "203.0.113.10"), (3, "phone", "192.0.2.44"), (5, "pc", "198.51.100.7")):
        at(minutes)
        ok(call("POST", f"{path}/sessions", body={"device_id": device}, claims=owner, source_ip=ip), 201)
    at(10)
    # Billing details, the first period's invoice, its purpose claim and the receipt (R-PAY-4).
    ok(pay(account), 200)
    ok(call("POST", f"/admin/accounts/{account['id']}/usage", body={"tickets": 12}, claims=STAFF), 200)
    ok(call("POST", f"{path}/custom-requests", body={"title": "ERP export", "description": "CSV"}, claims=owner), 201)
    ok(call("POST", f"{path}/cancellation-requests", claims=owner), 202)
    # A price change's notice to the owner, with its claim (R-PAY-9).
    price = {
        "plan": account["plan"],
        "price": {"amount": 2500, "currency": "USD"},
        "effective_at": "2027-01-01T00:00:00Z",
    }
    ok(call("POST", "/admin/prices", body=price, claims=STAFF), 201)
    run_schedule("price-fanout")
    (change,) = PriceChange.query(f"{account['plan']}#{account['billing_period']}")
    assert Claim.get(price_notice_claim(change.id, account["id"])).account_id == account["id"]
    add_voucher(CODE)
    ok(call("POST", f"{path}/redemptions", body={"code": CODE}, claims=owner), 200)
    ok(call("GET", path, claims=STAFF), 200)  # a staff read in the audit log (R-USE-4)
    return account


def cancel(account: dict[str, Any]) -> None:
    at(20)
    ok(call("POST", f"/accounts/{account['id']}/cancel", claims=owner_of(account)), 200)


def of_account(model: type[Model], account_id: str) -> list[Model]:
    """The account's items in one table (a test-only Scan, to see every item)."""
    found = []
    for item in model.scan(consistent_read=True):
        values = item.attribute_values
        if account_id in (values.get("account_id"), values.get("id")) or values.get("subject_key") == (
            "account#" + account_id
        ):
            found.append(item)
    return found


def inventory(account_id: str) -> dict[str, int]:
    """What the purge must delete, counted directly: every table the purge map deletes from."""
    deleted = set(MODELS) - NOT_DELETED - NOT_ACCOUNT_DATA - {Account}
    return {table_of(model): len(of_account(model, account_id)) for model in deleted}


def certificate(account_id: str) -> DeletionCertificate:
    return DeletionCertificate.get(certificate_id(account_id), consistent_read=True)


def customer_of(account: dict[str, Any]) -> str:
    """The account's customer at the payment provider (read before the purge deletes the Account)."""
    customer = Account.get(account["id"], consistent_read=True).payment_customer_id
    assert customer is not None
    return str(customer)


def at_provider(ledger: Ledger, customer: str) -> dict[str, Any]:
    """The customer as the provider answers a retrieve (Stripe keeps a deleted one as a stub)."""
    return dict(ledger.book().customers[customer])


STRIPE_CUSTOMER_DELETED = {"processor": "payment provider (Stripe)", "record": "customer", "outcome": "deleted"}
# Every attempt of one request the SDK makes (it retries a 5xx): the provider is down.
DOWN = Interruption("DELETE", "/v1/customers", times=payments.NETWORK_RETRIES + 1, status=503)


def _no_scan(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("the purge reads through Queries and keys, never a Scan")


def _forever() -> int:
    return 10**9


# ---------------------------------------------------------------- the map


def test_r_term_3_every_model_of_the_storage_is_declared_in_the_purge_map() -> None:
    assert purge.undeclared() == set(), "declare in lifecycle.ending.purge.PURGE_MAP what the purge does with these"
    assert set(PURGE_MAP) == set(MODELS)


def test_r_term_3_a_new_model_without_a_declaration_is_reported() -> None:
    class Tickets(Model):
        class Meta:
            table_name = "tickets"

    assert purge.undeclared({**MODELS, Tickets: "tickets_table"}) == {Tickets}


# ---------------------------------------------------------------- the whole purge


def test_r_term_3_the_purge_deletes_every_item_of_the_account_in_every_table_but_its_invoices(
    outbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = rich_account()
    account_id = account["id"]
    cancel(account)
    before = inventory(account_id)
    assert all(before.values()), f"the scenario must put items in every table: {before}"
    invoices = len(of_account(Invoice, account_id))
    assert invoices >= 1

    with monkeypatch.context() as patched:
        patched.setattr(Connection, "scan", _no_scan)
        summary = run_schedule("purge-sweep")

    assert (summary["examined"], summary["changed"], summary["errors"], summary["next"]) == (1, 1, 0, None)
    for model in MODELS:
        if model not in NOT_DELETED:
            assert of_account(model, account_id) == [], f"{table_of(model)} still holds items of the account"
    assert len(of_account(Invoice, account_id)) == invoices  # kept by law
    assert summary["items"] == {**before, "accounts": 1}

    cert = certificate(account_id)
    assert cert.deleted == {**before, "accounts": 1}  # what existed, table by table
    assert cert.reason == "cancelled"
    assert (cert.started_at, cert.completed_at) == (NOW + timedelta(minutes=20), NOW + timedelta(minutes=20))
    assert cert.unrecoverable_after == cert.completed_at + timedelta(days=35)  # PITR ages out
    kept = {entry["table"]: entry for entry in cert.kept}
    assert kept["invoices"]["items"] == invoices
    assert kept["invoices"]["personal_data"] is True
    assert "accounting law" in kept["invoices"]["legal_basis"]
    assert kept["vouchers"]["personal_data"] is False
    assert kept["idempotency"]["legal_basis"] == "expires within 24 h"


def test_r_term_3_the_account_is_gone_for_the_api_and_its_names_are_free_again(outbox: Path) -> None:
    account = rich_account()
    cancel(account)
    run_schedule("purge-sweep")

    reply = call("GET", f"/accounts/{account['id']}", claims=owner_of(account))
    assert (reply.status, reply.code) == (404, "not_found")
    assert call("GET", f"/accounts/{account['id']}", claims=STAFF).status == 404
    again = ok(call("POST", "/signups", body=TRIAL), 201)  # same company, same email
    assert again["subdomain"] == account["subdomain"]
    assert again["id"] != account["id"]


def test_r_term_3_the_owner_is_told_and_the_notice_is_not_kept_under_the_deleted_account(outbox: Path) -> None:
    account = rich_account()
    cancel(account)
    run_schedule("purge-sweep")

    (deleted,) = [item for item in outbox_items(outbox) if item["type"] == "account_deleted"]
    assert deleted["to"] == "maria@example.com"
    assert account["subdomain"] in deleted["body"]
    assert certificate(account["id"]).notified_at == NOW + timedelta(minutes=20)
    assert [i for i in of_account(storage.Notification, account["id"])] == []


def test_r_term_3_the_certificate_holds_no_personal_data(outbox: Path) -> None:
    account = rich_account()
    cancel(account)
    run_schedule("purge-sweep")

    document = json.dumps(certificate(account["id"]).to_simple_dict(), ensure_ascii=False)
    for personal in (*PERSONAL, account["subdomain"]):
        assert personal not in document


def test_r_vouch_2_the_redeemed_code_stays_redeemed_without_its_link_to_the_account(outbox: Path) -> None:
    account = rich_account()
    cancel(account)
    run_schedule("purge-sweep")

    (voucher,) = Voucher.scan()
    assert voucher.redeemed_at is not None
    assert voucher.account_id is None
    reply = call("POST", "/redemptions", body=person(code=CODE, email="someone@example.com", subdomain="other"))
    assert (reply.status, reply.code) == (409, "voucher_already_redeemed")
    assert of_account(storage.AuditEvent, account["id"]) == []  # the reuse attempt wrote nothing under it


def test_r_gdpr_2_the_kept_invoices_are_scheduled_for_masking_after_the_later_legal_period(outbox: Path) -> None:
    account = rich_account()
    cancel(account)
    latest = max(invoice.issued_at for invoice in of_account(Invoice, account["id"]))
    run_schedule("purge-sweep")

    item = RetentionItem.get("account#" + account["id"])
    assert (item.kind, item.ended_at) == ("ended_customer", NOW + timedelta(minutes=20))
    assert item.erase_at == add_years(latest, 10)  # accounting law's 10 years outlast R-GDPR-2's 5
    assert item.retention_shard is not None
    assert {entry["table"]: entry for entry in certificate(account["id"]).kept}["invoices"]["erase_at"] == (
        clock.to_iso(item.erase_at)
    )


# ---------------------------------------------------------------- the payment provider's customer


def test_r_term_3_the_payment_providers_customer_is_deleted_and_listed_on_the_certificate(
    outbox: Path, provider_ledger: Ledger
) -> None:
    account = rich_account()
    customer = customer_of(account)
    assert at_provider(provider_ledger, customer)["email"] == "maria@example.com"
    cancel(account)

    summary = run_schedule("purge-sweep")

    assert (summary["changed"], summary["errors"]) == (1, 0)
    assert at_provider(provider_ledger, customer) == {"id": customer, "object": "customer", "deleted": True}
    assert all(method["customer"] is None for method in provider_ledger.book().payment_methods.values())
    assert certificate(account["id"]).processors == [STRIPE_CUSTOMER_DELETED]


def test_r_term_3_an_account_that_never_paid_has_no_customer_and_its_certificate_says_so(
    outbox: Path, provider_ledger: Ledger
) -> None:
    account = ok(call("POST", "/signups", body=TRIAL), 201)
    cancel(account)

    summary = run_schedule("purge-sweep")

    assert (summary["changed"], summary["errors"]) == (1, 0)
    assert provider_ledger.book().customers == {}
    assert certificate(account["id"]).processors == [{**STRIPE_CUSTOMER_DELETED, "outcome": "none held"}]


@pytest.mark.parametrize("how", ["deleted_before", "answer_lost"])
def test_r_term_3_a_customer_the_provider_deleted_already_counts_as_deleted(
    outbox: Path, provider_ledger: Ledger, how: str
) -> None:
    """Deleted by an earlier run whose record of it was lost, or the provider deleted it and its
    answer never arrived: the provider answers 404 ``resource_missing``, which is done."""
    account = rich_account()
    customer = customer_of(account)
    cancel(account)
    if how == "deleted_before":
        payments.provider_for(get_settings()).delete_customer(customer)
    lost = Interruption("DELETE", "/v1/customers", carried_out=True)

    with provider_interrupted(*([lost] if how == "answer_lost" else [])):
        summary = run_schedule("purge-sweep")

    assert (summary["changed"], summary["errors"]) == (1, 0)
    assert at_provider(provider_ledger, customer)["deleted"] is True
    assert certificate(account["id"]).processors == [STRIPE_CUSTOMER_DELETED]


def test_r_term_3_a_provider_outage_leaves_the_purge_pending_and_the_next_run_finishes_it(
    outbox: Path, provider_ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = rich_account()
    customer = customer_of(account)
    cancel(account)
    before = inventory(account["id"])

    with provider_interrupted(DOWN):
        down = run_schedule("purge-sweep")

    assert (down["changed"], down["errors"]) == (0, 1)
    assert at_provider(provider_ledger, customer)["email"] == "maria@example.com"  # not skipped
    pending = certificate(account["id"])
    assert pending.completed_at is None
    assert pending.processors == []
    assert pending.deleted == before  # the tables' step is done, with its counts
    assert Account.get(account["id"]).purge_shard is not None  # still due
    assert [n for n in outbox_items(outbox) if n["type"] == "account_deleted"] == []  # told once it is done

    deletes: list[str] = []
    real = purge._delete_keys

    def counted(model: type[Model], items: list[Model]) -> None:
        deletes.append(table_of(model))
        real(model, items)

    monkeypatch.setattr(purge, "_delete_keys", counted)
    at(80)
    rerun = run_schedule("purge-sweep")

    assert (rerun["changed"], rerun["errors"]) == (1, 0)
    assert deletes == []  # the tables' step is not done again
    assert at_provider(provider_ledger, customer) == {"id": customer, "object": "customer", "deleted": True}
    done = certificate(account["id"])
    assert done.processors == [STRIPE_CUSTOMER_DELETED]
    assert done.deleted == {**before, "accounts": 1}
    assert done.completed_at == NOW + timedelta(minutes=80)
    assert len([n for n in outbox_items(outbox) if n["type"] == "account_deleted"]) == 1


# ---------------------------------------------------------------- idempotent, resumable, dry run


def test_r_term_3_running_the_purge_again_changes_nothing(outbox: Path) -> None:
    account = rich_account()
    cancel(account)
    run_schedule("purge-sweep")
    first = certificate(account["id"]).to_simple_dict()

    again = run_schedule("purge-sweep")

    assert (again["examined"], again["changed"], again["errors"], again["items"]) == (0, 0, 0, {})
    assert certificate(account["id"]).to_simple_dict() == first
    assert len([i for i in outbox_items(outbox) if i["type"] == "account_deleted"]) == 1


@pytest.mark.parametrize("survives", [0, 6])
def test_r_term_3_a_purge_killed_half_way_is_finished_by_the_next_run_with_exact_counts(
    outbox: Path, monkeypatch: pytest.MonkeyPatch, survives: int
) -> None:
    """The process dies after ``survives`` batches of deletes; the rerun finishes the job."""
    account = rich_account()
    cancel(account)
    before = inventory(account["id"])
    real = purge._delete_keys
    batches = iter(range(survives + 1))

    def dying(model: type[Model], items: list[Model]) -> None:
        if next(batches, survives) == survives:
            raise RuntimeError("killed")
        real(model, items)

    monkeypatch.setattr(purge, "_delete_keys", dying)
    killed = run_schedule("purge-sweep")
    assert (killed["changed"], killed["errors"]) == (0, 1)
    assert call("GET", f"/accounts/{account['id']}", claims=owner_of(account)).status == 200  # still there
    assert certificate(account["id"]).completed_at is None

    monkeypatch.setattr(purge, "_delete_keys", real)
    finished = run_schedule("purge-sweep")

    assert (finished["changed"], finished["errors"]) == (1, 0)
    assert certificate(account["id"]).deleted == {**before, "accounts": 1}
    assert call("GET", f"/accounts/{account['id']}", claims=owner_of(account)).status == 404


def test_r_term_3_items_written_after_their_tables_turn_are_deleted_and_counted_too(
    outbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A staff read of the ended account while it is being purged writes an audit event (R-USE-4)."""
    account = rich_account()
    cancel(account)
    before = inventory(account["id"])
    real = purge._delete_keys

    def then_a_staff_read(model: type[Model], items: list[Model]) -> None:
        real(model, items)
        if storage.table_of(model) == "audit":
            ok(call("GET", f"/accounts/{account['id']}", claims=STAFF), 200)

    monkeypatch.setattr(purge, "_delete_keys", then_a_staff_read)
    summary = run_schedule("purge-sweep")

    assert (summary["changed"], summary["items"]["audit"]) == (1, before["audit"] + 1)
    assert of_account(storage.AuditEvent, account["id"]) == []
    assert certificate(account["id"]).deleted == {**before, "audit": before["audit"] + 1, "accounts": 1}


def test_r_term_3_a_large_account_continues_on_the_next_run_when_time_runs_short(
    outbox: Path, tables: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = rich_account()
    cancel(account)
    for index in range(120):
        Session(
            account["id"],
            f"{account['owner_id']}#bulk#{index:04d}",
            user_id=account["owner_id"],
            device_id="d",
            ip="192.0.2.1",
            user_agent="test",
            at=NOW,
            expires_at=NOW + timedelta(days=90),
        ).save()
    before = inventory(account["id"])
    deleted = 0
    real = purge._delete_keys

    def counted(model: type[Model], items: list[Model]) -> None:
        nonlocal deleted
        real(model, items)
        deleted += len(items)

    monkeypatch.setattr(purge, "_delete_keys", counted)
    first = purge_due(SweepRequest(), clock.now(), lambda: 0 if deleted >= 50 else 10**9, tables)

    assert (first.changed, first.unfinished) == (0, 1)
    assert 0 < sum(first.items.values()) < sum(before.values())
    assert Account.get(account["id"]).purge_shard is not None  # still in the purge-due index

    rest = purge_due(SweepRequest(), clock.now(), _forever, tables)
    assert (rest.changed, rest.unfinished) == (1, 0)
    assert certificate(account["id"]).deleted == {**before, "accounts": 1}
    assert of_account(Session, account["id"]) == []


def test_a_dry_run_lists_what_the_purge_would_delete_and_changes_nothing(outbox: Path) -> None:
    account = rich_account()
    cancel(account)
    before = inventory(account["id"])

    preview = run_schedule("purge-sweep", {"dry_run": True})

    assert (preview["examined"], preview["changed"]) == (1, 0)
    assert preview["items"] == {**before, "accounts": 1}
    assert inventory(account["id"]) == before
    assert list(DeletionCertificate.scan()) == []


def test_r_term_3_only_accounts_whose_purge_time_has_come_are_purged(outbox: Path, tables: Settings) -> None:
    account = ok(call("POST", "/signups", body=TRIAL), 201)
    later = Account.get(account["id"])
    later.update(
        actions=[
            Account.purge_after.set(NOW + timedelta(days=1)),
            Account.purge_shard.set(shard_of(later.id, tables.sweep_shards)),
        ]
    )
    summary = run_schedule("purge-sweep")
    assert (summary["examined"], summary["changed"]) == (0, 0)
    assert call("GET", f"/accounts/{account['id']}", claims=owner_of(account)).status == 200


def test_r_term_3_a_cancelled_account_enters_the_purge_due_index(outbox: Path, tables: Settings) -> None:
    account = ok(call("POST", "/signups", body=TRIAL), 201)
    cancel(account)
    stored = Account.get(account["id"])
    assert stored.purge_shard == shard_of(account["id"], tables.sweep_shards)
    assert stored.purge_after == NOW + timedelta(minutes=20)


# ---------------------------------------------------------------- R-VOUCH-11


def test_r_vouch_11_the_owners_other_voucher_accounts_are_purged_with_reason_voucher_revoked(outbox: Path) -> None:
    add_voucher("LIFE-0000-AAAA")
    add_voucher("LIFE-0000-BBBB")
    abused = ok(call("POST", "/redemptions", body=person(code="LIFE-0000-AAAA", email="maria+1@example.com")), 201)
    other = ok(
        call(
            "POST", "/redemptions", body=person(code="LIFE-0000-BBBB", email="maria+2@example.com", subdomain="again")
        ),
        201,
    )
    revoke = {"reason": "abuse", "evidence": "reuse x12"}
    ok(call("POST", "/admin/vouchers/LIFE-0000-AAAA/revoke", body=revoke, claims=STAFF), 200)

    summary = run_schedule("purge-sweep")

    assert summary["changed"] == 1
    assert call("GET", f"/accounts/{other['id']}", claims=member(other["id"])).status == 404
    assert certificate(other["id"]).reason == "voucher_revoked"
    # The revoked account itself is suspended, not removed.
    assert call("GET", f"/accounts/{abused['id']}", claims=STAFF).status == 200
    assert Claim.count("subdomain#again") == 0


def test_the_reason_comes_from_the_accounts_status() -> None:
    def reason(**values: Any) -> str:
        return purge.reason_of(Account("a", plan="free", billing_period="monthly", created_at=NOW, **values))

    assert reason(status="cancelled", access_blocked_reason="cancelled") == "cancelled"
    assert reason(status="terminated", status_reason="fraud") == "terminated"
    assert reason(status="terminated", access_blocked_reason="voucher_revoked") == "voucher_revoked"
    assert reason(status="terminated", status_reason="inactivity") == "inactivity"


def test_r_pay_12_r_term_3_the_purge_deletes_the_claim_of_a_payment_action_notice(outbox: Path) -> None:
    account = ok(call("POST", "/signups", body=TRIAL), 201)
    asked = pay(account, token="tok_threeDSecure2Required")
    assert (asked.status, asked.code) == (402, "authentication_required")
    assert requests.post(asked.body["next_action_url"], json={"outcome": "succeeded"}, timeout=10).status_code == 200
    ok(pay(account, token="tok_threeDSecure2Required"), 200)
    assert [claim.claim for claim in of_account(Claim, account["id"]) if claim.claim.startswith("payment-action#")]
    cancel(account)

    run_schedule("purge-sweep")

    assert of_account(Claim, account["id"]) == []

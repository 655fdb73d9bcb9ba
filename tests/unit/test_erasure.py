"""The right to erasure over moto (R-GDPR-5): ``erasure.complete`` for a data subject request.

The world, made through the API where there is one: Maria is an agent of Olga's account A
(whose billing details name her, with an invoice that does), with sessions and a shared-login
detection day there and a notice addressed to her; she owns account B (billing details, an
invoice, notices, sessions, a custom request), cancelled. As a person she has consent records,
a notice, a retention schedule, an earlier access request and the erasure request itself.
The proof is a Scan of every table of ``lifecycle.storage.MODELS`` (in the test only).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from pynamodb.connection import Connection
from pynamodb.models import Model

from lifecycle import notifications
from lifecycle.billing import payments
from lifecycle.core import clock, errors
from lifecycle.core.money import Money
from lifecycle.core.settings import get_settings
from lifecycle.privacy import privacy, retention
from lifecycle.privacy.privacy import Completing
from lifecycle.privacy.retention import certificate_id
from lifecycle.requests import erasure
from lifecycle.storage import (
    MODELS,
    Account,
    AuditEvent,
    BillingDetailsVersion,
    Consent,
    DeletionCertificate,
    Notification,
    PrivacyRequest,
    RetentionItem,
    SeatInterval,
    Session,
    SharedLoginDetection,
    User,
    table_of,
)
from lifecycle.storage.shared_logins import DETECTION
from local_runtime.payment_standin import Interruption
from tests.conftest import ledger
from tests.faults import provider_interrupted
from tests.support import call, deliver_notices, member, ok, outbox_items, owner_of, pay, session
from tests.unit.test_signup import NOW, TRIAL, person

MARIA = "maria@example.com"
# Everything that names Maria: her address (any case), her full name, the billing details' names.
NEEDLES = (MARIA, "maria ivanova", "maria", "ivanova")
OLGA = person(full_name="Olga Petrova", email="olga@example.com", company_name="Alfa Ltd")
IVAN = {"full_name": "Ivan Dimitrov", "email": "ivan@example.com", "role": "agent"}
MARIA_AGENT = {"full_name": "Maria Ivanova", "email": "Maria@Example.com", "role": "agent"}
STAFF_ID = "staff-1"
STRIPE_CUSTOMER_DELETED = {"processor": "payment provider (Stripe)", "record": "customer", "outcome": "deleted"}


@dataclass(frozen=True)
class World:
    a: dict[str, Any]  # Olga's account: Maria is an agent there
    b: dict[str, Any]  # Maria's own account
    maria_in_a: str
    ivan: str
    request_id: str  # the erasure request
    earlier_id: str  # an earlier access request
    a_customer: str  # account A's customer at the payment provider (Olga's address)
    b_customer: str  # account B's (Maria's address)


pytestmark = pytest.mark.usefixtures("world", "outbox")


def at(minutes: int) -> datetime:
    instant = NOW + timedelta(minutes=minutes)
    clock.set_now(instant)
    return instant


def privacy_request(type_: str, email: str, status: str, details: str, **values: Any) -> PrivacyRequest:
    """A request as privacy_requests saves it."""
    now = clock.now()
    request = PrivacyRequest(
        f"dsr_{type_}_{now.strftime('%H%M%S')}",
        type=type_,
        status=status,
        email=email,
        person_key=privacy.person_key(email, get_settings()),
        details=details,
        received_at=now - timedelta(days=1),
        due_at=now + timedelta(days=29),
        verified_at=now - timedelta(hours=20),
        verified_by="email_link",
        history=[{"at": clock.to_iso(now), "step": "received", "actor": "subject", "note": None}],
        **values,
    )
    request.save()
    return request


def consent(purpose: str, account_id: str) -> None:
    Consent(
        privacy.person_key(MARIA, get_settings()),
        purpose,
        email="Maria@Example.com",
        account_id=account_id,
        given_at=NOW,
        given_source="signup",
        text_version="2019-09-01",
        history=[{"at": clock.to_iso(NOW), "action": "given", "source": "signup"}],
    ).save()


def person_notice() -> None:
    key = privacy.person_key(MARIA, get_settings())
    now = clock.now()
    Notification(
        privacy.PERSON_NOTICES + key,
        f"{now.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}#ntf_person",
        id="ntf_person",
        type="privacy_request_verification",
        to=MARIA,
        subject="Confirm your request",
        body="Maria Ivanova, confirm your request by following the link.",
        created_at=now,
        sent_at=now,
    ).save()


def fee(account_id: str, user_id: str) -> None:
    """R-USE-2: a period's fee naming her by id (as shared_logins marks it)."""
    SharedLoginDetection(
        account_id,
        "2026-11-25T12:00:00Z#fee",
        kind="fee",
        period_start=NOW,
        period_end=NOW + timedelta(days=30),
        status="pending",
        amount=1500,
        currency="USD",
        users={user_id},
        detection_days=3,
        marked_at=NOW,
    ).save()


def maria_world(*, cancel_b: bool = True) -> World:
    """Everything the module docstring describes."""
    a = ok(call("POST", "/signups", body={**TRIAL, **OLGA}), 201)
    olga = owner_of(a)
    ivan = ok(call("POST", f"/accounts/{a['id']}/users", body=IVAN, claims=olga), 201)["user_id"]
    maria_in_a = ok(call("POST", f"/accounts/{a['id']}/users", body=MARIA_AGENT, claims=olga), 201)["user_id"]
    maria = member(a["id"], "agent", sub=maria_in_a)
    for minutes, device, ip in ((1, "laptop", "203.0.113.10"), (3, "phone", "192.0.2.44"), (5, "pc", "198.51.100.7")):
        at(minutes)
        session(a["id"], maria, device, ip)  # three devices: a detection day (R-USE-1)
    session(a["id"], member(a["id"], "agent", sub=ivan), "ivan-pc", "198.51.100.9")
    at(6)
    ok(pay(a, first_name="Maria", last_name="Ivanova", email=MARIA), 200)  # Olga's billing names Maria
    deliver_notices()  # what the requests so far committed is sent
    notice_to_maria(a).save()
    with mock.patch.object(notifications, "sender_for", return_value=_Refusing()):
        deliver_notices()  # the provider refused it: unsent, a retry sweep would send it
    fee(a["id"], maria_in_a)

    at(8)
    b = ok(call("POST", "/signups", body=TRIAL), 201)  # Maria Ivanova, maria@example.com
    session(b["id"], owner_of(b), "laptop", "203.0.113.10")
    ok(pay(b, first_name="Maria", last_name="Ivanova", email=MARIA), 200)
    custom = {"title": "Export for Maria Ivanova", "description": "CSV to maria@example.com"}
    ok(call("POST", f"/accounts/{b['id']}/custom-requests", body=custom, claims=owner_of(b)), 201)
    if cancel_b:
        at(9)
        ok(call("POST", f"/accounts/{b['id']}/cancel", claims=owner_of(b)), 200)

    at(10)
    consent("marketing", b["id"])
    consent("customer_service", b["id"])
    person_notice()
    retention.schedule_non_customer(privacy.person_key(MARIA, get_settings()), NOW, clock.now(), get_settings())
    earlier = privacy_request(
        "access", "Maria@Example.COM", "completed", "Everything you hold on Maria Ivanova", result={"summary": "sent"}
    )
    at(11)
    request = privacy_request("erasure", MARIA, "in_progress", "Erase me. Maria Ivanova", started_at=clock.now())
    return World(a, b, maria_in_a, ivan, request.id, earlier.id, customer_of(a["id"]), customer_of(b["id"]))


def customer_of(account_id: str) -> str:
    customer = Account.get(account_id, consistent_read=True).payment_customer_id
    assert customer is not None
    return str(customer)


def at_provider(customer: str) -> dict[str, Any]:
    """The customer as the payment provider holds it (Stripe keeps a deleted one as a stub)."""
    return dict(ledger().book().customers[customer])


class _Refusing:
    """An email provider that refuses every message."""

    def send(self, notice: notifications.NotificationView, now: datetime) -> str:
        raise ConnectionError("the provider is down")


def notice_to_maria(a: dict[str, Any]) -> Notification:
    """A notice addressed to her in account A, not sent yet."""
    return notifications.compose(
        a["id"],
        "extra_seat_warning",
        "MARIA@example.com",
        clock.now(),
        subdomain=a["subdomain"],
        seats_used=3,
        included_seats=1,
        seat_price=Money(amount=1000),
    )


def completing(world: World, remaining_ms: Callable[[], int] = lambda: 10**9) -> Completing:
    request = PrivacyRequest.get(world.request_id, consistent_read=True)
    return Completing(request, clock.now(), get_settings(), STAFF_ID, remaining_ms=remaining_ms)


# ---------------------------------------------------------------- what the proof reads


def _text(item: Model) -> str:
    return json.dumps(item.attribute_values, default=str, ensure_ascii=False).lower()


def naming_maria() -> dict[str, list[Model]]:
    """Every item, in every table, that still names Maria (a test-only Scan of each), once the
    notifier has sent what was committed (an ephemeral notice is deleted when sent)."""
    deliver_notices()
    found: dict[str, list[Model]] = {}
    for model in MODELS:
        for item in model.scan(consistent_read=True):
            if any(needle in _text(item) for needle in NEEDLES):
                found.setdefault(table_of(model), []).append(item)
    return found


def snapshot() -> dict[str, list[str]]:
    return {
        table_of(model): sorted(
            json.dumps(i.attribute_values, default=str, sort_keys=True) for i in model.scan(consistent_read=True)
        )
        for model in MODELS
    }


def expected_counts(world: World) -> dict[str, int]:
    """What the erasure must erase or mask outside the purge, counted directly (Scan)."""
    a, key = world.a["id"], privacy.PERSON_NOTICES + privacy.person_key(MARIA, get_settings())

    def names(value: object) -> bool:
        return isinstance(value, str) and value.lower() == MARIA

    notices = [n for n in Notification.scan() if (n.account_id == a and names(n.to)) or n.account_id == key]
    return {
        "sessions": sum(1 for s in Session.scan() if s.user_id == world.maria_in_a),
        "shared_login_detections": sum(
            1 for d in SharedLoginDetection.scan() if d.kind == DETECTION and d.user_id == world.maria_in_a
        ),
        "notifications": len(notices),
        "billing_details": sum(1 for v in BillingDetailsVersion.scan() if v.account_id == a and names(v.email)),
        "consents": sum(1 for _ in Consent.scan()),
        "privacy_requests": 2,
        "users": 1,
        "claims": 1,
    }


def _no_scan(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("the erasure reads through Queries and keys, never a Scan")


def erased(world: World, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    with monkeypatch.context() as patched:
        patched.setattr(Connection, "scan", _no_scan)
        return erasure.complete(completing(world))


def check_end_state(world: World, result: dict[str, Any], expected: dict[str, int]) -> None:
    """R-GDPR-5: nothing names Maria but the invoices kept by law, which the result lists."""
    left = naming_maria()
    assert set(left) <= {"invoices"}, {table: [_text(i)[:200] for i in items] for table, items in left.items()}
    kept_invoices = [entry for entry in result["kept"] if entry["table"] == "invoices"]
    assert sum(entry["items"] for entry in kept_invoices) == len(left.get("invoices", [])) >= 2
    assert {entry["account_id"] for entry in kept_invoices} == {world.a["id"], world.b["id"]}
    assert all("accounting law" in entry["legal_basis"] for entry in kept_invoices)

    cert = DeletionCertificate.get(certificate_id("erasure#" + world.request_id), consistent_read=True)
    assert result["certificate_id"] == cert.id
    assert cert.reason == "erasure_request"
    assert cert.completed_at is not None
    assert cert.unrecoverable_after == cert.completed_at + timedelta(days=35)
    assert cert.deleted == expected
    assert result["deleted"] == expected
    assert result["accounts_purged"] == [world.b["id"]]
    assert not any(needle in json.dumps(result).lower() for needle in NEEDLES)
    assert Counter(entry["table"] for entry in result["kept"]) == {
        "deletion_certificates": 1,
        "invoices": 2,
        "privacy_requests": 1,
        "retention": 1,
        "idempotency": 1,
    }
    # The ended account's customer record is gone at the payment provider; the account in use keeps its own.
    assert at_provider(world.b_customer) == {"id": world.b_customer, "object": "customer", "deleted": True}
    assert at_provider(world.a_customer)["email"] == "olga@example.com"
    listed = [{**STRIPE_CUSTOMER_DELETED, "account_id": world.b["id"]}]
    assert cert.processors == result["processors"] == listed
    assert "payment provider's customer record" in result["summary"]
    a = world.a["id"]
    users = list(User.query(a, consistent_read=True))
    assert sorted(user.user_id for user in users) == sorted([world.a["owner_id"], world.ivan])
    assert int(Account.get(a, consistent_read=True).seats_used) == len(users)  # freed once


# ---------------------------------------------------------------- where law does not allow it


def test_r_gdpr_5_the_owner_of_an_account_in_use_is_refused_and_nothing_changes() -> None:
    world = maria_world(cancel_b=False)
    before = snapshot()

    with pytest.raises(errors.OwnsLiveAccount) as refused:
        erasure.complete(completing(world))

    assert refused.value.status == 409
    assert refused.value.code == "owns_live_account"
    assert refused.value.extra == {"account_ids": [world.b["id"]]}
    assert snapshot() == before


# ---------------------------------------------------------------- the erasure


def test_r_gdpr_5_nothing_names_the_person_in_any_table_but_the_invoices_kept_by_law(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = maria_world()
    expected = expected_counts(world)
    assert naming_maria().keys() >= {"users", "notifications", "billing_details", "consents", "privacy_requests"}

    result = erased(world, monkeypatch)

    check_end_state(world, result, expected)
    kept = {entry["table"]: entry for entry in result["kept"]}
    assert kept["idempotency"]["legal_basis"] == "expires within 24 h"
    assert kept["privacy_requests"] == {
        "table": "privacy_requests",
        "items": 2,
        "legal_basis": "R-GDPR-10: the record of how the person's requests were handled, their address masked",
        "personal_data": False,
        "erase_at": None,
    }
    assert kept["deletion_certificates"]["certificate_id"] == certificate_id(world.b["id"])
    assert "invoice(s) naming you are kept" in result["summary"]


def test_r_gdpr_5_the_account_she_was_an_agent_of_keeps_working_without_her(monkeypatch: pytest.MonkeyPatch) -> None:
    world = maria_world()
    a = world.a["id"]
    seats = int(Account.get(a).seats_used)

    erased(world, monkeypatch)

    account = Account.get(a, consistent_read=True)
    assert int(account.seats_used) == seats - 1
    listed = ok(call("GET", f"/accounts/{a}/users", claims=owner_of(world.a)), 200)
    assert sorted(user["full_name"] for user in listed["items"]) == ["Ivan Dimitrov", "Olga Petrova"]
    (interval,) = [i for i in SeatInterval.query(a) if i.user_id == world.maria_in_a]
    assert interval.end == clock.now()  # her extra seat is billed no further (R-VOUCH-6)
    (removed,) = [e for e in AuditEvent.query(a) if e.type == "user_removed"]
    assert removed.actor == STAFF_ID
    assert removed.details.as_dict() == {  # type: ignore[no-untyped-call]
        "user_id": world.maria_in_a,
        "role": "agent",
        "billable": True,
        "via": "erasure_request",
    }
    assert [s.user_id for s in Session.query(a)] == [world.ivan]
    (kept_fee,) = list(SharedLoginDetection.query(a))  # the customer's charge: ids only
    assert kept_fee.kind == "fee"
    assert kept_fee.users == {world.maria_in_a}
    (version,) = list(BillingDetailsVersion.query(a))
    assert (version.first_name, version.last_name, version.email) == ("erased", "erased", "erased")
    assert (version.company, version.city, version.country) == ("Example Ltd", "Sofia", "BG")  # the customer's
    again = ok(call("POST", f"/accounts/{a}/users", body=MARIA_AGENT, claims=owner_of(world.a)), 201)
    assert again["email"] == MARIA  # her address is free again in the account


def test_r_gdpr_5_a_masked_notice_stays_as_the_record_and_is_never_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    world = maria_world()

    erased(world, monkeypatch)

    (notice,) = [n for n in Notification.query(world.a["id"]) if n.type == "extra_seat_warning" and n.sent_at is None]
    assert (notice.to, notice.subject, notice.body) == ("erased", "erased", "erased")
    assert notice.unsent_shard is None  # out of the retry sweep's index
    assert notice.created_at is not None


def test_r_gdpr_5_the_ended_account_she_owned_is_purged_with_its_certificate(
    monkeypatch: pytest.MonkeyPatch, outbox: Path
) -> None:
    world = maria_world()
    b = world.b["id"]

    result = erased(world, monkeypatch)

    with pytest.raises(Account.DoesNotExist):
        Account.get(b, consistent_read=True)
    purged = DeletionCertificate.get(certificate_id(b), consistent_read=True)
    assert purged.completed_at is not None
    assert purged.reason == "cancelled"
    assert purged.deleted["custom_requests"] == 1
    assert result["accounts_purged"] == [b]
    (told,) = [n for n in outbox_items(outbox) if n["type"] == "account_deleted"]
    assert told["to"] == MARIA
    assert RetentionItem.get("account#" + b).erase_at is not None  # her invoices' masking is scheduled


def test_r_gdpr_5_the_person_records_are_gone_and_the_requests_stay_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    world = maria_world()
    key = privacy.person_key(MARIA, get_settings())

    erased(world, monkeypatch)

    assert list(Consent.query(key)) == []
    assert list(Notification.query(privacy.PERSON_NOTICES + key)) == []
    schedule = RetentionItem.get("person#" + key, consistent_read=True)
    assert schedule.erased_at == clock.now()
    assert schedule.retention_shard is None
    assert schedule.certificate_id == certificate_id("erasure#" + world.request_id)
    for request_id in (world.request_id, world.earlier_id):
        request = PrivacyRequest.get(request_id, consistent_read=True)
        assert (request.email, request.details) == ("erased", "erased")
        assert request.history  # the record of how it was handled stays
    assert PrivacyRequest.get(world.request_id).status == "in_progress"  # the caller completes it


def test_r_gdpr_5_the_certificate_holds_no_personal_data(monkeypatch: pytest.MonkeyPatch) -> None:
    world = maria_world()

    result = erased(world, monkeypatch)

    for cert in DeletionCertificate.scan():
        assert not any(needle in _text(cert) for needle in NEEDLES), cert.id
    cert = DeletionCertificate.get(result["certificate_id"])
    assert cert.account_id is None
    assert {entry["table"] for entry in cert.kept} == {
        "deletion_certificates",
        "invoices",
        "privacy_requests",
        "retention",
        "idempotency",
    }
    assert all(set(entry) >= {"table", "items", "legal_basis", "personal_data", "erase_at"} for entry in cert.kept)


# ---------------------------------------------------------------- retries


# The erasure's transactions in this world with one change each (CHUNK = 1): the purge's note,
# the eleven items (her invitation among the notices), Maria's removal from account A, the
# completion with her request masked.
TRANSACTIONS = 14
# Failures injected at these transactions (a representative of each kind of step).
STEPS = {"purge_noted": 1, "first_item": 2, "middle_item": 7, "last_item": 12, "user_removed": 13, "completed": 14}


class Injected(Exception):
    """The failure a test injects half-way."""


def fail_at(monkeypatch: pytest.MonkeyPatch, at_call: int, after: bool) -> list[int]:
    """``erasure``'s transactions fail at call ``at_call``: before it commits, or after (a lost answer)."""
    real = erasure.commit
    calls = [0]

    def commit(build: Any, on_failure: Any) -> None:
        calls[0] += 1
        if calls[0] == at_call and not after:
            raise Injected
        real(build, on_failure)
        if calls[0] == at_call and after:
            raise Injected

    monkeypatch.setattr(erasure, "commit", commit)
    return calls


def test_r_gdpr_5_one_transaction_per_change_when_chunks_are_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """The retries below fail each of these in turn: the purge's note, each item, the user, the end."""
    world = maria_world()
    expected = expected_counts(world)
    monkeypatch.setattr(erasure, "CHUNK", 1)
    calls = fail_at(monkeypatch, 0, after=False)

    erasure.complete(completing(world))

    items = sum(expected.values()) - expected["users"] - expected["claims"] - 1  # the request: with the end
    assert calls[0] == 1 + items + 1 + 1 == TRANSACTIONS


@pytest.mark.parametrize("after", [False, True], ids=["before_commit", "after_commit"])
@pytest.mark.parametrize("at_call", STEPS.values(), ids=STEPS.keys())
def test_r_gdpr_5_a_retry_after_a_failure_at_any_step_ends_the_same(
    monkeypatch: pytest.MonkeyPatch, at_call: int, after: bool
) -> None:
    world = maria_world()
    expected = expected_counts(world)
    monkeypatch.setattr(erasure, "CHUNK", 1)
    with monkeypatch.context() as failing:
        fail_at(failing, at_call, after)
        with pytest.raises(Injected):
            erasure.complete(completing(world))

    at(12)
    result = erasure.complete(completing(world))

    check_end_state(world, result, expected)


def test_r_gdpr_5_a_purge_out_of_time_is_resumed_by_the_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    world = maria_world()
    expected = expected_counts(world)
    left = iter([10**9] * 4 + [0] * 1000)  # time runs out early in the purge of account B

    with pytest.raises(errors.ServiceUnavailable):
        erasure.complete(completing(world, remaining_ms=lambda: next(left)))
    assert Account.get(world.b["id"], consistent_read=True).id == world.b["id"]  # not purged yet: resumable
    purge_cert = DeletionCertificate.get(certificate_id(world.b["id"]), consistent_read=True)
    assert purge_cert.completed_at is None

    at(12)
    result = erasure.complete(completing(world))

    check_end_state(world, result, expected)
    assert DeletionCertificate.get(certificate_id(world.b["id"])).completed_at is not None


def test_r_gdpr_5_a_payment_provider_outage_is_a_503_and_the_retry_deletes_the_customer(
    monkeypatch: pytest.MonkeyPatch, outbox: Path
) -> None:
    """The customer record is never skipped: the erasure waits for the provider, and the retry
    finishes it without doing the purge's other steps twice."""
    world = maria_world()
    expected = expected_counts(world)
    down = Interruption("DELETE", "/v1/customers", times=payments.NETWORK_RETRIES + 1, status=503)

    with provider_interrupted(down), pytest.raises(errors.ServiceUnavailable):
        erasure.complete(completing(world))

    assert at_provider(world.b_customer)["email"] == MARIA
    assert Account.get(world.b["id"], consistent_read=True).payment_customer_id == world.b_customer  # resumable
    purge_cert = DeletionCertificate.get(certificate_id(world.b["id"]), consistent_read=True)
    assert purge_cert.completed_at is None
    assert purge_cert.processors == []
    erasure_cert = DeletionCertificate.get(certificate_id("erasure#" + world.request_id), consistent_read=True)
    assert erasure_cert.completed_at is None

    at(12)
    result = erasure.complete(completing(world))

    check_end_state(world, result, expected)
    purged = DeletionCertificate.get(certificate_id(world.b["id"]), consistent_read=True)
    assert purged.processors == [STRIPE_CUSTOMER_DELETED]
    assert purged.deleted == purge_cert.deleted | {"accounts": 1}  # the tables' counts, recorded once
    assert len([n for n in outbox_items(outbox) if n["type"] == "account_deleted"]) == 1


def test_r_gdpr_5_a_second_completion_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    world = maria_world()
    first = erased(world, monkeypatch)
    before = snapshot()

    at(30)
    second = erasure.complete(completing(world))  # the request now reads "erased"

    assert second == first
    assert snapshot() == before


# ---------------------------------------------------------------- masking


def test_r_gdpr_5_a_masked_document_keeps_its_shape() -> None:
    value = {"full_name": "Maria Ivanova", "tags": ["a", 1], "nested": {"x": None}}
    assert erasure.masked_value(value) == {"full_name": "erased", "tags": ["erased", "erased"], "nested": {"x": None}}
    assert erasure.masked_value(erasure.masked_value(value)) == erasure.masked_value(value)
    assert erasure.masked_value("Maria") == "erased"


def test_r_gdpr_5_an_item_masked_already_has_nothing_left_to_mask() -> None:
    world = maria_world()
    request = PrivacyRequest.get(world.earlier_id)
    assert erasure.masking(PrivacyRequest, request, ["email", "details", "corrections"]) is not None
    request.update(actions=[PrivacyRequest.email.set("erased"), PrivacyRequest.details.set("erased")])
    assert erasure.masking(PrivacyRequest, request, ["email", "details", "corrections"]) is None

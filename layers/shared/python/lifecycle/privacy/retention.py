"""The retention schedule and its sweep (R-GDPR-2): personal data kept after the end of use is erased when
its ``RetentionItem`` falls due in the sparse ``retention-due`` index. Kinds: ``ended_customer`` (the
billing details on invoices kept by law) and ``non_customer`` (a person's consents, notices and answered
requests, R-GDPR-10), each erased by its ``ERASERS`` entry unless its ``POSTPONERS`` entry finds the
subject still a customer. docs/ARCHITECTURE.md "The end of an account".
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import Field
from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from lifecycle.core import clock
from lifecycle.core.observability import logger
from lifecycle.core.settings import Settings, get_settings
from lifecycle.entry.sweeps import QueryDue, SweepRequest, SweepSummary, due_in, run_sweep
from lifecycle.privacy import privacy
from lifecycle.registration import registration
from lifecycle.storage import (
    Account,
    Consent,
    DeletionCertificate,
    Invoice,
    PrivacyRequest,
    RetentionItem,
    User,
)
from lifecycle.storage import invoices as stored_invoices
from lifecycle.storage import notifications as stored_notifications
from lifecycle.storage import privacy as stored_privacy
from lifecycle.storage import users as stored_users
from lifecycle.storage.accounts import ENDED
from lifecycle.storage.base import delete_if, put_if, shard_of, update_if
from lifecycle.storage.transactions import Outcome, try_commit

SWEEP = "retention-sweep"
ENDED_CUSTOMER = "ended_customer"
NON_CUSTOMER = "non_customer"
ACCOUNT = "account#"
PERSON = "person#"
RETENTION = "retention"  # the certificate's reason
ERASED = "erased"
# Set in a masked billing details snapshot: when it was masked (and that it was).
ERASED_AT = "erased_at"
PAGE_SIZE = 100
# The billing details snapshot's fields that name or locate the customer (API.md "Billing details").
PERSONAL_FIELDS = ("first_name", "last_name", "email", "company", "vat_id", "company_registration")
ADDRESS_FIELDS = ("street", "city", "postal_code", "region")
# The invoice's ``paid_with`` fields that are about the card holder (R-PAY-12); null once erased.
CARD_FIELDS = ("last4", "exp_month", "exp_year")


# ---------------------------------------------------------------- shared with the purge


class OutOfTime(Exception):
    """Less Lambda time is left than the sweep's margin: stop; the item stays due."""


@dataclass(frozen=True)
class Budget:
    """The run's time: checked before each batch of writes."""

    remaining_ms: Callable[[], int]
    margin_ms: int

    def check(self) -> None:
        if self.remaining_ms() < self.margin_ms:
            raise OutOfTime


@dataclass
class Tally:
    """What one run did, for its summary: items per table, subjects left for the next run."""

    items: dict[str, int] = field(default_factory=dict)
    unfinished: int = 0

    def add(self, table: str, count: int) -> None:
        self.items[table] = self.items.get(table, 0) + count


class TallySummary(SweepSummary):
    """A sweep's summary (API.md) plus its items per table (a dry run: what it would change)."""

    items: dict[str, int] = Field(default_factory=dict)
    unfinished: int = Field(default=0, description="subjects begun but left for the next run (time ran short)")

    @classmethod
    def of(cls, summary: SweepSummary, tally: Tally) -> TallySummary:
        return cls.model_validate({**summary.model_dump(), "items": tally.items, "unfinished": tally.unfinished})


def certificate_id(subject: str) -> str:
    """A deletion certificate's id, derived from what it certifies: a rerun finds the same one."""
    return "del_" + hashlib.sha256(subject.encode()).hexdigest()[:24]


def started_certificate(cert_id: str, account_id: str | None, reason: str, now: datetime) -> DeletionCertificate:
    """The certificate, created with ``started_at`` before anything is deleted, or the one a
    stopped run created (it keeps its start and the counts recorded so far)."""
    cert = DeletionCertificate(cert_id, account_id=account_id, reason=reason, started_at=now, deleted={}, kept=[])
    if not put_if(cert, DeletionCertificate.id.does_not_exist()):
        return DeletionCertificate.get(cert_id, consistent_read=True)
    return cert


def idempotency_kept(started_at: datetime, settings: Settings) -> dict[str, Any]:
    """A certificate's ``kept`` entry for the Idempotency table: its records are keyed by a hash
    of each request (not findable by account or person) and may hold a response with personal
    data until their TTL ends."""
    return {
        "table": "idempotency",
        "items": None,
        "legal_basis": f"expires within {settings.idempotency_ttl_seconds // 3600} h",
        "personal_data": True,
        "erase_at": clock.to_iso(started_at + timedelta(seconds=settings.idempotency_ttl_seconds)),
    }


def add_years(instant: datetime, years: int) -> datetime:
    """The same instant ``years`` later; 29 February becomes 28 February."""
    try:
        return instant.replace(year=instant.year + years)
    except ValueError:
        return instant.replace(year=instant.year + years, day=28)


# ---------------------------------------------------------------- scheduling


def ended_customer_erase_at(ended_at: datetime, latest_invoice_at: datetime | None, settings: Settings) -> datetime:
    """R-GDPR-2 against accounting law: the later of ``retention_years`` after the end of use
    and ``invoice_retention_years`` after the latest kept invoice."""
    erase_at = add_years(ended_at, settings.retention_years)
    if latest_invoice_at is not None:
        erase_at = max(erase_at, add_years(latest_invoice_at, settings.invoice_retention_years))
    return erase_at


def ended_customer(
    account_id: str, ended_at: datetime, latest_invoice_at: datetime | None, cert_id: str, settings: Settings
) -> RetentionItem:
    """The unsaved schedule of a purged account's kept personal data (the purge saves it)."""
    key = ACCOUNT + account_id
    return RetentionItem(
        key,
        kind=ENDED_CUSTOMER,
        basis=(
            f"invoices kept {settings.invoice_retention_years} years by accounting law hold the billing details; "
            f"R-GDPR-2 keeps personal data {settings.retention_years} years after the end of use"
        ),
        ended_at=ended_at,
        erase_at=ended_customer_erase_at(ended_at, latest_invoice_at, settings),
        retention_shard=shard_of(key, settings.sweep_shards),
        certificate_id=cert_id,
    )


def non_customer(person_key: str, consent_given_at: datetime, settings: Settings) -> RetentionItem:
    """The unsaved schedule of a person's consent records (``schedule_non_customer`` saves it;
    a transaction that records a consent puts it with the consent, lifecycle.privacy.consents)."""
    key = PERSON + person_key
    return RetentionItem(
        key,
        kind=NON_CUSTOMER,
        basis=f"R-GDPR-2: a non-customer's consent lasts {settings.retention_years} years",
        ended_at=consent_given_at,
        erase_at=add_years(consent_given_at, settings.retention_years),
        retention_shard=shard_of(key, settings.sweep_shards),
    )


def schedule_non_customer(
    person_key: str, consent_given_at: datetime, now: datetime, settings: Settings | None = None
) -> RetentionItem:
    """R-GDPR-2: a non-customer's consent lasts ``retention_years``; then their consent and
    contact records are erased. ``person_key`` (``lifecycle.privacy.privacy.person_key``) is a keyed
    hash of the *normalised* email (lower case, ASCII domain; a ``+tag`` is kept, unlike the
    canonical email), so the key names nobody. A consent given again later moves the date
    on, never back; an erased person who consents again is scheduled anew."""
    item = non_customer(person_key, consent_given_at, settings or get_settings())
    if _moved_on(item, consent_given_at, now):
        return item
    return RetentionItem.get(item.subject_key, consistent_read=True)  # a later consent is on record already


def keep_non_customer(person_key: str, consent_given_at: datetime, now: datetime, settings: Settings) -> None:
    """``schedule_non_customer`` for a caller that needs no answer: one conditional put and
    no read after it when a later consent is on record already (a round trip saved)."""
    _moved_on(non_customer(person_key, consent_given_at, settings), consent_given_at, now)


def non_customer_kept(person_key: str, at: datetime, settings: Settings) -> tuple[RetentionItem, Condition]:
    """``keep_non_customer`` to be put in a caller's transaction: the schedule from ``at`` and
    the condition that no later one is stored (when it fails, the stored one stands). One
    from the same instant is this same schedule, written in this instant: it is put again
    rather than cancel the caller's transaction."""
    same_or_earlier: Condition = _earlier(at) | (RetentionItem.ended_at == at)
    return non_customer(person_key, at, settings), same_or_earlier


def _earlier(consent_given_at: datetime) -> Condition:
    stored_earlier: Condition = RetentionItem.subject_key.does_not_exist() | (RetentionItem.ended_at < consent_given_at)
    return stored_earlier


def _moved_on(item: RetentionItem, consent_given_at: datetime, now: datetime) -> bool:
    """Save ``item`` unless a schedule from a later consent is stored; True if saved."""
    if consent_given_at > now:
        raise ValueError("a consent cannot be given in the future")
    return put_if(item, _earlier(consent_given_at))


# ---------------------------------------------------------------- erasers


@dataclass(frozen=True)
class Erasing:
    """What an eraser is given: the instant, settings, the run's time, and whether it is a dry run."""

    now: datetime
    settings: Settings
    budget: Budget
    dry_run: bool = False


@dataclass
class Erasure:
    """What an eraser did (a dry run: would do): items whose personal data it erased per
    table, and what stays (the certificate's ``kept`` entries, without personal data)."""

    erased: dict[str, int] = field(default_factory=dict)
    kept: list[dict[str, Any]] = field(default_factory=list)


Eraser = Callable[[RetentionItem, Erasing], Erasure]
# kind → its eraser. Each must be idempotent (skip what it erased already) and call
# ``budget.check()`` before each write, so a run out of time is resumed by the next.
ERASERS: dict[str, Eraser] = {}
# kind → whether the subject still uses the service, asked before anything is certified or
# erased. One that does keeps its data (R-GDPR-2: kept while the person uses the service):
# the postponer moves its ``erase_at`` on (not in a dry run) and returns True.
Postponer = Callable[[RetentionItem, Erasing], bool]
POSTPONERS: dict[str, Postponer] = {}


def masked(details: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A billing details snapshot without personal data: every field that names or locates
    the customer is ``"erased"`` (an empty one stays empty); the country stays."""
    out = dict(details)
    for name in PERSONAL_FIELDS:
        if out.get(name) is not None:
            out[name] = ERASED
    address = dict(out.get("address") or {})
    for name in ADDRESS_FIELDS:
        if address.get(name) is not None:
            address[name] = ERASED
    out["address"] = address
    out[ERASED_AT] = clock.to_iso(now)
    return out


def _erase_ended_customer(item: RetentionItem, erasing: Erasing) -> Erasure:
    """R-GDPR-2: mask the billing details (and the VAT ID of their VIES confirmation, and the last
    digits and expiry of the card that paid) on the ended customer's kept invoices and credit notes."""
    account_id = item.subject_key.removeprefix(ACCOUNT)
    with_details = 0
    for invoice in stored_invoices.of_account(account_id, PAGE_SIZE):
        details = invoice.billing_details
        if details is None:
            continue
        with_details += 1
        if erasing.dry_run or details.get(ERASED_AT) is not None:
            continue
        erasing.budget.check()
        actions: list[Action] = [Invoice.billing_details.set(masked(details, erasing.now))]
        if invoice.vat_check is not None:
            # The VAT ID VIES confirmed names the customer as the snapshot's does; date and reference stay.
            actions.append(Invoice.vat_check.set({**invoice.vat_check, "vat_id": ERASED}))
        if invoice.paid_with is not None and invoice.paid_with.get("last4") is not None:
            # The card's last digits and expiry are about its holder; its type and brand name nobody.
            actions.append(Invoice.paid_with.set({**invoice.paid_with, **dict.fromkeys(CARD_FIELDS)}))
        invoice.update(actions=actions, condition=Invoice.invoice_id.exists())
    if not erasing.dry_run:
        _note_on_purge_certificate(account_id, erasing.now)
    kept = {
        "table": "invoices",
        "items": with_details,
        "legal_basis": (
            f"accounting law: invoices are kept {erasing.settings.invoice_retention_years} years; "
            "their billing details are masked, only the country stays"
        ),
        "personal_data": False,
        "erase_at": None,
    }
    return Erasure(erased={"invoices": with_details}, kept=[kept] if with_details else [])


def _note_on_purge_certificate(account_id: str, now: datetime) -> None:
    """The purge's certificate said its invoices hold personal data until ``erase_at``; now they do not."""
    try:
        cert = DeletionCertificate.get(certificate_id(account_id), consistent_read=True)
    except DoesNotExist:
        return
    kept = [
        {**entry, "personal_data": False, ERASED_AT: clock.to_iso(now)}
        if entry.get("table") == "invoices" and entry.get("personal_data")
        else entry
        for entry in cert.kept or []
    ]
    if kept != cert.kept:
        cert.update(actions=[DeletionCertificate.kept.set(kept)])


ERASERS[ENDED_CUSTOMER] = _erase_ended_customer


# ---------------------------------------------------------------- non-customers

CONSENTS = "consents"
NOTIFICATIONS = "notifications"
PRIVACY_REQUESTS = "privacy_requests"
# A data subject request in one of these was answered (lifecycle.requests.privacy_requests; not imported: a cycle).
CLOSED_REQUESTS = ("completed", "rejected")


def _uses_the_service(person_key: str) -> bool:
    """R-GDPR-2: the person is a user (the owner included) of an account that exists and has
    not ended. Found from the addresses on their consent records through the Users
    ``by-email`` index, each membership confirmed by consistent reads (the index lags)."""
    addresses = {item.email for item in stored_privacy.consents_of(person_key) if item.email}
    addresses |= {request.email for request in _requests_of(person_key)}
    for address in sorted(addresses):
        try:
            email = privacy.normalised(address)
        except ValueError:  # masked by an erasure
            continue
        # An address stored before domains kept their Unicode form is found by its ASCII form.
        keys = [key for form in registration.stored_forms(email) for key in stored_users.keys_by_email(form)]
        for key in keys:
            try:
                User.get(key.account_id, key.user_id, consistent_read=True)
                account = Account.get(key.account_id, consistent_read=True)
            except DoesNotExist:
                continue
            if account.status not in ENDED:
                return True
    return False


def _postpone_non_customer(item: RetentionItem, erasing: Erasing) -> bool:
    """A person still using the service keeps their consent records: ``erase_at`` moves
    ``retention_years`` on from now, to be asked again then."""
    person_key = item.subject_key.removeprefix(PERSON)
    if not _uses_the_service(person_key):
        return False
    if not erasing.dry_run:
        schedule_non_customer(person_key, erasing.now, erasing.now, erasing.settings)
    logger.info("retention postponed: the person still uses the service", extra={"kind": item.kind})
    return True


def _counted_once(subject_key: str, counts: dict[str, int]) -> dict[str, int]:
    """The counts on the run's certificate, recorded before the first delete: a run resumed
    after some deletes certifies what the first one found, not what was left."""
    cert = DeletionCertificate.get(certificate_id(RETENTION + "#" + subject_key), consistent_read=True)
    recorded = dict(cert.deleted or {})
    if all(table in recorded for table in counts):
        return {table: int(recorded[table]) for table in counts}
    if not update_if(
        cert,
        [DeletionCertificate.deleted.set({**recorded, **counts})],
        DeletionCertificate.deleted == cert.deleted,
    ):
        raise _Erased  # a concurrent run is erasing the same person
    return counts


def _delete_consent(consent: Consent, item: RetentionItem) -> None:
    """Delete one consent item unless it was given after the schedule was made: the person
    consented again meanwhile, so their schedule moved on and this run must stop."""
    if not delete_if(consent, Consent.given_at.does_not_exist() | (Consent.given_at <= item.ended_at)):
        raise _Erased


def _requests_of(person_key: str) -> list[PrivacyRequest]:
    """The person's data subject requests (the ``by-person`` index, confirmed by consistent reads)."""
    ids = sorted({key.id for key in stored_privacy.request_keys_of_person(person_key)})
    found = list(PrivacyRequest.batch_get(ids, consistent_read=True)) if ids else []
    return [request for request in found if request.person_key == person_key]


def _answered_unmasked(person_key: str) -> list[PrivacyRequest]:
    return [r for r in _requests_of(person_key) if r.status in CLOSED_REQUESTS and r.email != ERASED]


def _mask_request(request: PrivacyRequest) -> None:
    """The answered request stays as the record of its answer, without the person's address,
    what they wrote or the corrections they asked for."""
    # False: masked by another run meanwhile.
    update_if(
        request,
        [
            PrivacyRequest.email.set(ERASED),
            PrivacyRequest.details.remove(),
            PrivacyRequest.corrections.remove(),
        ],
        PrivacyRequest.email == request.email,
    )


def _erase_non_customer(item: RetentionItem, erasing: Erasing) -> Erasure:
    """R-GDPR-2: a non-customer's consent lasts ``retention_years``; then their consent
    records and the notices sent to them as a person are deleted, and their answered
    requests are masked (kept, without personal data, as the record of the answer)."""
    person_key = item.subject_key.removeprefix(PERSON)
    consents = list(stored_privacy.consents_of(person_key))
    notices = list(stored_notifications.of_account(privacy.PERSON_NOTICES + person_key, PAGE_SIZE))
    requests = _answered_unmasked(person_key)
    counts = {CONSENTS: len(consents), NOTIFICATIONS: len(notices), PRIVACY_REQUESTS: len(requests)}
    if erasing.dry_run:
        return Erasure(erased=counts)
    erasing.budget.check()
    counts = _counted_once(item.subject_key, counts)
    for consent in consents:
        erasing.budget.check()
        _delete_consent(consent, item)
    for notice in notices:
        erasing.budget.check()
        notice.delete()
    for request in requests:
        erasing.budget.check()
        _mask_request(request)
    kept = {
        "table": PRIVACY_REQUESTS,
        "items": counts[PRIVACY_REQUESTS],
        "legal_basis": "R-GDPR-10: the record that each request was answered, without personal data",
        "personal_data": False,
        "erase_at": None,
    }
    return Erasure(erased=counts, kept=[kept] if counts[PRIVACY_REQUESTS] else [])


ERASERS[NON_CUSTOMER] = _erase_non_customer
POSTPONERS[NON_CUSTOMER] = _postpone_non_customer


# ---------------------------------------------------------------- the sweep


class UnknownKind(Exception):
    """No eraser is registered for the item's kind: it stays due (an error in the summary)."""


class _Erased(Exception):
    """Another run erased the item meanwhile, or its subject came back (a new consent moved it on)."""


def _due(now: datetime) -> QueryDue:
    return due_in(RetentionItem.retention_due, RetentionItem.erase_at <= now, PAGE_SIZE)


def _eraser_for(item: RetentionItem) -> Eraser:
    eraser = ERASERS.get(item.kind)
    if eraser is None:
        logger.error("no eraser for this retention kind", extra={"kind": item.kind})
        raise UnknownKind(item.kind)
    return eraser


def _still_due(due: RetentionItem, now: datetime) -> RetentionItem | None:
    try:
        item = RetentionItem.get(due.subject_key, consistent_read=True)
    except DoesNotExist:
        return None
    if item.retention_shard is None or item.erased_at is not None or item.erase_at > now:
        return None
    return item


def _erase(erasing: Erasing, tally: Tally) -> Callable[[RetentionItem], bool]:
    def act(due: RetentionItem) -> bool:
        """R-GDPR-2: erase one subject's kept personal data, certify it, mark the item erased."""
        try:
            erasing.budget.check()
        except OutOfTime:
            tally.unfinished += 1
            return False
        item = _still_due(due, erasing.now)
        if item is None:
            return False
        eraser = _eraser_for(item)
        postponer = POSTPONERS.get(item.kind)
        if postponer is not None and postponer(item, erasing):
            return False
        if erasing.dry_run:
            for table, count in eraser(item, erasing).erased.items():
                tally.add(table, count)
            return False
        account_id = item.subject_key.removeprefix(ACCOUNT) if item.subject_key.startswith(ACCOUNT) else None
        cert = started_certificate(
            certificate_id(RETENTION + "#" + item.subject_key), account_id, RETENTION, erasing.now
        )
        try:
            erasure = eraser(item, erasing)
            _complete(item, cert, erasure, erasing.now, erasing.settings)
        except OutOfTime:
            tally.unfinished += 1
            return False
        except _Erased:
            return False
        for table, count in erasure.erased.items():
            tally.add(table, count)
        return True

    return act


def _complete(
    item: RetentionItem, cert: DeletionCertificate, erasure: Erasure, now: datetime, settings: Settings
) -> None:
    """One transaction: the certificate completed and the item out of the index; ``_Erased``
    when another run completed it, or the item moved on meanwhile."""

    def build(tx: TransactWrite, outcome: Outcome) -> None:
        tx.update(
            DeletionCertificate(cert.id),
            actions=[
                DeletionCertificate.completed_at.set(now),
                DeletionCertificate.unrecoverable_after.set(now + timedelta(days=settings.backup_retention_days)),
                DeletionCertificate.deleted.set(erasure.erased),
                DeletionCertificate.kept.set(erasure.kept),
            ],
            condition=DeletionCertificate.completed_at.does_not_exist(),
        )
        outcome.labels.append("update:certificate")
        tx.update(
            RetentionItem(item.subject_key),
            actions=[
                RetentionItem.erased_at.set(now),
                RetentionItem.retention_shard.remove(),
                RetentionItem.certificate_id.set(cert.id),
            ],
            # Still due: not moved on meanwhile by a new consent (schedule_non_customer).
            condition=RetentionItem.retention_shard.exists() & (RetentionItem.erase_at <= now),
        )
        outcome.labels.append("update:item")

    if try_commit(build):
        raise _Erased


def erase_due(
    request: SweepRequest, now: datetime, remaining_ms: Callable[[], int], settings: Settings
) -> TallySummary:
    """The ``retention-sweep`` schedule (R-GDPR-2). A dry run counts per table what it would erase."""
    tally = Tally()
    erasing = Erasing(now, settings, Budget(remaining_ms, settings.sweep_time_margin_ms), dry_run=request.dry_run)
    summary = run_sweep(
        shards=settings.sweep_shards,
        query_due=_due(now),
        act=_erase(erasing, tally),
        # The dry run is the eraser's own, so it can count per table; run_sweep's would only count items.
        request=request.model_copy(update={"dry_run": False}),
        remaining_ms=remaining_ms,
        margin_ms=settings.sweep_time_margin_ms,
    )
    return TallySummary.of(summary, tally)

"""The purge procedure (R-TERM-3; R-VOUCH-11's removal of the same owner's other accounts): the
``purge-sweep`` deletes every item of an account queued in ``purge-due`` (by the cancellation, R-TERM-1/2,
staff's termination or a revocation) as ``PURGE_MAP`` says, deletes the payment provider's customer
record, keeps what law requires, proves it with a deletion certificate that holds no personal data,
and resumes exactly where a run stopped.
docs/ARCHITECTURE.md "The end of an account".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import DoesNotExist
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from lifecycle import notifications
from lifecycle.accounts import identities
from lifecycle.billing import credit, payments
from lifecycle.billing.credit import REFUND_CLAIM
from lifecycle.core import clock
from lifecycle.core.errors import ServiceUnavailable
from lifecycle.core.observability import logger
from lifecycle.core.settings import Settings
from lifecycle.entry.sweeps import QueryDue, SweepRequest, due_in, run_sweep
from lifecycle.privacy import privacy
from lifecycle.privacy.retention import (
    PERSON,
    Budget,
    OutOfTime,
    Tally,
    TallySummary,
    certificate_id,
    ended_customer,
    idempotency_kept,
    schedule_non_customer,
    started_certificate,
)
from lifecycle.registration import registration
from lifecycle.storage import (
    MODELS,
    Account,
    AuditEvent,
    BillingDetailsVersion,
    Campaign,
    CancellationRequest,
    Claim,
    Consent,
    CustomRequest,
    DeletionCertificate,
    IdentityChange,
    Invoice,
    InvoiceSeries,
    Notification,
    PriceChange,
    PrivacyRequest,
    RateCounter,
    RetentionItem,
    SeatInterval,
    Session,
    SharedLoginDetection,
    TermsVersion,
    Usage,
    User,
    Voucher,
    table_of,
)
from lifecycle.storage import audit as audit_events
from lifecycle.storage import custom_requests as stored_custom_requests
from lifecycle.storage import invoices as stored_invoices
from lifecycle.storage import notifications as stored_notifications
from lifecycle.storage import users as stored_users
from lifecycle.storage.base import count_under_hash_key, delete_if, under_hash_key, update_if
from lifecycle.storage.claims import INVOICE, SUBDOMAIN, payment_action_claim, price_notice_claim
from lifecycle.storage.transactions import Outcome, commit
from lifecycle.vouchers.revocation import VOUCHER_REVOKED

SWEEP = "purge-sweep"
PAGE_SIZE = 100
BATCH_SIZE = 25  # BatchWriteItem's limit
COUNT_RETRIES = 5
# Late items deleted in one transaction with the certificate (DynamoDB allows 100 items).
LATE_PER_TRANSACTION = 90
INACTIVITY = "inactivity"
ACCOUNTS = "accounts"
# The certificate's ``processors`` entry for the payment provider's customer record.
PAYMENT_PROVIDER = "payment provider (Stripe)"
CUSTOMER = "customer"
DELETED = "deleted"
NONE_HELD = "none held"


# ---------------------------------------------------------------- the map


@dataclass(frozen=True)
class Deleted:
    """Every item of the account is deleted. ``find`` reads them (Query only); ``count``
    counts them (default: ``find``'s length); ``delete`` deletes a batch (default: BatchWriteItem)."""

    how: str
    find: Callable[[Account], Iterable[Model]]
    count: Callable[[Account], int] | None = None
    delete: Callable[[type[Model], list[Model]], None] | None = None


@dataclass(frozen=True)
class Kept:
    """Kept past the purge; the certificate lists it with its basis."""

    legal_basis: str
    personal_data: bool


@dataclass(frozen=True)
class Unlinked:
    """The item stays, without its link to the account."""

    why: str
    unlink: Callable[[Account], None]


@dataclass(frozen=True)
class NotAccountData:
    """The table holds nothing of one account (or nothing findable without a Scan, said why)."""

    why: str


@dataclass(frozen=True)
class DeletedLast:
    """The Account item: deleted with the certificate's completion, so a stopped purge is found again."""

    why: str


Treatment = Deleted | Kept | Unlinked | NotAccountData | DeletedLast


def _by_account(model: type[Model]) -> tuple[Callable[[Account], Iterable[Model]], Callable[[Account], int]]:
    def find(account: Account) -> Iterable[Model]:
        return under_hash_key(model, account.id, PAGE_SIZE)

    def count(account: Account) -> int:
        return count_under_hash_key(model, account.id)

    return find, count


def _hash_keyed(model: type[Model]) -> Deleted:
    find, count = _by_account(model)
    return Deleted("Query by the account_id hash key", find, count)


def _claim_keys(account: Account) -> list[str]:
    """Every claim the account can hold, from the items that name them (no Scan)."""
    keys = {REFUND_CLAIM + account.id}
    if account.subdomain:
        keys.add(SUBDOMAIN + account.subdomain)
    emails = (account.owner_email, account.owner_email_canonical)
    keys |= {registration.owner_email_claim(email) for email in emails if email}
    keys |= {registration.user_email_claim(account.id, str(user.email)) for user in stored_users.of_account(account.id)}
    keys |= {f"{INVOICE}{account.id}#{invoice.purpose}" for invoice in stored_invoices.of_account(account.id)}
    notices = list(stored_notifications.of_account(account.id))
    keys |= {payment_action_claim(account.id, n.id) for n in notices if n.type == "payment_action_required"}
    keys |= {price_notice_claim(n.price_change_id, account.id) for n in notices if n.price_change_id}
    return sorted(keys)


def _claims(account: Account) -> Iterator[Model]:
    # Only the account's own: a name freed by a stopped run may have been claimed by another account.
    for claim in Claim.batch_get(_claim_keys(account), consistent_read=True):
        if claim.account_id == account.id:
            yield claim


def _delete_claims(model: type[Model], items: list[Model]) -> None:
    for claim in items:
        assert isinstance(claim, Claim)
        delete_if(claim, Claim.account_id == claim.account_id)


def _cancellation_requests(account: Account) -> Iterator[Model]:
    """The account's emailed cancellations: their ids are in its ``cancellation_requested``
    audit events (the table has no index by account; these events are written with them)."""
    ids: set[str] = set()
    for event in audit_events.of_type(account.id, "cancellation_requested"):
        details = event.details.as_dict() if event.details is not None else {}  # type: ignore[no-untyped-call]
        if isinstance(details.get("request_id"), str):
            ids.add(details["request_id"])
    if not ids:
        return
    for request in CancellationRequest.batch_get(sorted(ids), consistent_read=True):
        if request.account_id == account.id:
            yield request


def _custom_requests(account: Account) -> Iterator[Model]:
    """Ids from the ``by-account`` index, confirmed by a consistent BatchGetItem: the index
    lags behind deletes, and a request it still shows must not be counted twice."""
    yield from stored_custom_requests.of_account(account.id, PAGE_SIZE)


def _unlink_voucher(account: Account) -> None:
    """R-VOUCH-2: the redeemed code stays redeemed, exactly once ever; only its link to the
    account goes (a later reuse attempt then writes nothing under the deleted account)."""
    if account.voucher_code_hash is None:
        return
    update_if(Voucher(account.voucher_code_hash), [Voucher.account_id.remove()], Voucher.account_id == account.id)


# Every model of lifecycle.storage.MODELS, in the order the purge works through them.
PURGE_MAP: dict[type[Model], Treatment] = {
    # Derived from the Account, Users, Invoices and Notifications items, which are still there.
    Claim: Deleted(
        "keys derived without a Scan: subdomain and owner email from the Account item, user emails "
        "from the Users items, invoice purposes from the Invoices items, the credit refund by account, "
        "the authentication notices' claims from the Notifications items",
        _claims,
        delete=_delete_claims,
    ),
    # Derived from the Audit events, which are still there.
    CancellationRequest: Deleted(
        "ids from the account's cancellation_requested audit events, then BatchGetItem", _cancellation_requests
    ),
    CustomRequest: Deleted("Query on the by-account index, confirmed by BatchGetItem", _custom_requests),
    User: _hash_keyed(User),
    SeatInterval: _hash_keyed(SeatInterval),
    Session: _hash_keyed(Session),
    SharedLoginDetection: _hash_keyed(SharedLoginDetection),
    Usage: _hash_keyed(Usage),
    Notification: _hash_keyed(Notification),
    BillingDetailsVersion: _hash_keyed(BillingDetailsVersion),
    AuditEvent: _hash_keyed(AuditEvent),
    Voucher: Unlinked("R-VOUCH-2: proof that the code was redeemed, exactly once ever", _unlink_voucher),
    Invoice: Kept("accounting law: invoices and credit notes are kept", personal_data=True),
    Account: DeletedLast("last, with the certificate's completion"),
    DeletionCertificate: NotAccountData("the proof of the deletion itself, without personal data"),
    IdentityChange: NotAccountData(
        "changes the identity provider still has to be told, keyed by user, not account: the purge's own "
        "deletes of the users' identities must outlive the account's items; each is deleted once applied"
    ),
    RetentionItem: NotAccountData("the date the kept invoices' personal data is erased (written by the purge)"),
    Campaign: NotAccountData("campaign terms and counters, no account's data"),
    InvoiceSeries: NotAccountData("one counter per numbering series"),
    PriceChange: NotAccountData("scheduled plan prices"),
    TermsVersion: NotAccountData("published terms versions"),
    Consent: NotAccountData(
        "kept per person, not per account; erased by an erasure request (R-GDPR-5) or the retention sweep (R-GDPR-2)"
    ),
    PrivacyRequest: NotAccountData(
        "kept per person, not per account; erased by an erasure request (R-GDPR-5) or the retention sweep (R-GDPR-2)"
    ),
    RateCounter: NotAccountData(
        "keyed by window and a hash of an IP or email, not by account (not findable without a Scan); "
        "each counter expires by TTL after its window"
    ),
}


def undeclared(models: Iterable[type[Model]] = MODELS) -> set[type[Model]]:
    """Models of the storage that the purge map does not say what to do with."""
    return set(models) - set(PURGE_MAP)


# ---------------------------------------------------------------- one account


def reason_of(account: Account) -> str:
    """Why the account ended, for the certificate: cancelled, terminated, voucher_revoked, inactivity."""
    if account.access_blocked_reason == VOUCHER_REVOKED:
        return VOUCHER_REVOKED
    if INACTIVITY in (account.status_reason, account.access_blocked_reason):
        return INACTIVITY
    return str(account.status)


def _delete_keys(model: type[Model], items: list[Model]) -> None:
    """One BatchWriteItem of deletes (pynamodb resends unprocessed ones)."""
    with model.batch_write() as batch:
        for item in items:
            batch.delete(item)


def _delete_all(model: type[Model], deleted: Deleted, account: Account, budget: Budget, tally: Tally) -> None:
    batch: list[Model] = []
    for item in deleted.find(account):
        batch.append(item)
        if len(batch) == BATCH_SIZE:
            _delete_batch(model, deleted, batch, budget, tally)
            batch = []
    if batch:
        _delete_batch(model, deleted, batch, budget, tally)


def _delete_batch(model: type[Model], deleted: Deleted, batch: list[Model], budget: Budget, tally: Tally) -> None:
    budget.check()
    (deleted.delete or _delete_keys)(model, batch)
    tally.add(table_of(model), len(batch))


def _count(deleted: Deleted, account: Account) -> int:
    return deleted.count(account) if deleted.count is not None else sum(1 for _ in deleted.find(account))


def _recorded(cert: DeletionCertificate, table: str, count: int) -> DeletionCertificate:
    """Record ``table``'s count once: the condition (the counts as read) keeps a concurrent
    run from overwriting a count recorded before deletes began."""
    for _ in range(COUNT_RETRIES):
        if table in cert.deleted:
            return cert
        if update_if(
            cert,
            [DeletionCertificate.deleted.set({**cert.deleted, table: count})],
            DeletionCertificate.deleted == cert.deleted,
        ):
            return cert
        cert = DeletionCertificate.get(cert.id, consistent_read=True)
    raise RuntimeError(f"the certificate {cert.id} keeps changing")


def _purge_tables(account: Account, cert: DeletionCertificate, budget: Budget, tally: Tally) -> DeletionCertificate:
    for model, treatment in PURGE_MAP.items():
        if isinstance(treatment, Deleted):
            table = table_of(model)
            if table not in cert.deleted:
                cert = _recorded(cert, table, _count(treatment, account))
            _delete_all(model, treatment, account, budget, tally)
        elif isinstance(treatment, Unlinked):
            budget.check()
            treatment.unlink(account)
    return cert


def _processor_done(cert: DeletionCertificate, processor: str) -> bool:
    return any(entry.get("processor") == processor for entry in cert.processors or [])


def _processor_recorded(cert: DeletionCertificate, entry: dict[str, str]) -> DeletionCertificate:
    """Add ``entry`` to the certificate's ``processors`` once (conditional on them as read)."""
    for _ in range(COUNT_RETRIES):
        if _processor_done(cert, entry["processor"]):
            return cert
        listed = list(cert.processors or [])
        as_read = DeletionCertificate.processors == listed
        if not listed:
            as_read = DeletionCertificate.processors.does_not_exist() | as_read
        if update_if(cert, [DeletionCertificate.processors.set([*listed, entry])], as_read):
            return cert
        cert = DeletionCertificate.get(cert.id, consistent_read=True)
    raise RuntimeError(f"the certificate {cert.id} keeps changing")


def _payment_customer(
    account: Account, cert: DeletionCertificate, settings: Settings, budget: Budget
) -> DeletionCertificate:
    """R-TERM-3, R-GDPR-5: the provider's customer record (the owner's email, the card's billing
    name and address) deleted, then listed on the certificate; a customer deleted before counts as
    done. A provider failure raises ``ServiceUnavailable``: the step, and so the purge, stays
    pending for the next run. An account that never had a customer has nothing there."""
    if _processor_done(cert, PAYMENT_PROVIDER):
        return cert
    budget.check()
    outcome = NONE_HELD
    if account.payment_customer_id:
        payments.provider_for(settings).delete_customer(account.payment_customer_id)
        outcome = DELETED
    return _processor_recorded(cert, {"processor": PAYMENT_PROVIDER, "record": CUSTOMER, "outcome": outcome})


def _identities(
    account: Account, cert: DeletionCertificate, now: datetime, settings: Settings, budget: Budget
) -> DeletionCertificate:
    """R-TERM-3, R-GDPR-5: every user's sign-in identity deleted (before the Users items go), then
    listed on the certificate; a user already gone counts as done. A provider failure raises
    ``ServiceUnavailable``: the purge stays pending, and ``identity-sync`` may finish the deletes
    meanwhile. With no identity provider managed by the service there is nothing to list."""
    if not identities.managed(settings) or _processor_done(cert, identities.IDENTITY_PROVIDER):
        return cert
    budget.check()
    users = list(stored_users.of_account(account.id))
    if not identities.delete_now(users, now):
        raise ServiceUnavailable("The identity provider did not delete every user yet; the purge resumes later")
    outcome = DELETED if users else NONE_HELD
    return _processor_recorded(cert, {"processor": identities.IDENTITY_PROVIDER, "record": "users", "outcome": outcome})


def _iso(instant: datetime | None) -> str | None:
    return clock.to_iso(instant) if instant is not None else None


def _kept(
    account: Account,
    invoices: list[Invoice],
    retention: RetentionItem | None,
    cert: DeletionCertificate,
    settings: Settings,
) -> list[dict[str, Any]]:
    """What stays, on which basis, whether it holds personal data and until when (no personal data)."""
    kept: list[dict[str, Any]] = []
    if invoices:
        kept.append(
            {
                "table": table_of(Invoice),
                "items": len(invoices),
                "legal_basis": f"accounting law: invoices are kept {settings.invoice_retention_years} years",
                "personal_data": retention is not None,
                "erase_at": _iso(retention.erase_at) if retention is not None else None,
            }
        )
    if retention is not None:
        kept.append(
            {
                "table": table_of(RetentionItem),
                "items": 1,
                "legal_basis": "R-GDPR-2: when the kept invoices' personal data is erased",
                "personal_data": False,
                "erase_at": None,
            }
        )
    if account.voucher_code_hash is not None:
        kept.append(
            {
                "table": table_of(Voucher),
                "items": 1,
                "legal_basis": "R-VOUCH-2: a code is redeemed exactly once, ever; its link to the account is removed",
                "personal_data": False,
                "erase_at": None,
            }
        )
    kept.append(idempotency_kept(cert.started_at, settings))
    return kept


def _retention(account: Account, invoices: list[Invoice], cert_id: str, settings: Settings) -> RetentionItem | None:
    """R-GDPR-2: kept invoices with billing details are masked when their time comes."""
    if not any(invoice.billing_details is not None for invoice in invoices):
        return None
    ended_at = account.ended_at or account.purge_after
    assert ended_at is not None  # only accounts with purge_after are purged
    latest = max(invoice.issued_at for invoice in invoices)
    return ended_customer(account.id, ended_at, latest, cert_id, settings)


def _notify(account: Account, cert: DeletionCertificate, now: datetime, settings: Settings) -> None:
    """R-TERM-3: tell the owner, once: an ephemeral notice, kept under the certificate (not the
    account) until the notifier has sent it, then deleted (module doc); ``notified_at`` records
    when it was committed for sending."""
    if cert.notified_at is not None or not account.owner_email:
        return
    notice = notifications.compose_ephemeral(
        cert.id,
        account.id,
        "account_deleted",
        account.owner_email,
        now,
        subdomain=account.subdomain or account.id,
        deleted_at=now,
    )
    notice.save(condition=Notification.notification_key.does_not_exist())
    cert.update(actions=[DeletionCertificate.notified_at.set(now)])


class _Purged(Exception):
    """Another run completed this purge meanwhile."""


# The same, by a public name, for callers of ``purge_account`` outside the sweep (the erasure, R-GDPR-5).
PurgedMeanwhile = _Purged


def _raise_purged(failed: list[str]) -> None:
    # Completed by another run, or its counts moved meanwhile (the next tick tries again).
    raise _Purged


Late = list[tuple[type[Model], Model]]


def _late_items(account: Account) -> Late:
    """Items written after their table's turn (a staff read's audit event, a usage report, an
    emailed cancellation filed again): deleted and counted with the completion, so nothing
    is left behind under the deleted account and the counts stay exact. Claims are not
    written for an ended account (signup, users, invoices and credit are closed to it)."""
    return [
        (model, item)
        for model, treatment in PURGE_MAP.items()
        if isinstance(treatment, Deleted) and model is not Claim
        for item in treatment.find(account)
    ]


def _counts_with(cert: DeletionCertificate, late: Late) -> dict[str, int]:
    counts = dict(cert.deleted)
    for model, _ in late:
        counts[table_of(model)] = counts.get(table_of(model), 0) + 1
    return counts


def _unchanged(cert: DeletionCertificate) -> Any:
    return DeletionCertificate.completed_at.does_not_exist() & (DeletionCertificate.deleted == cert.deleted)


def _delete_late(tx: TransactWrite, outcome: Outcome, late: Late) -> None:
    for index, (model, item) in enumerate(late):
        outcome.delete(tx, f"{table_of(model)}#{index}", item, None)


def _ahead(cert: DeletionCertificate, late: Late) -> DeletionCertificate:
    """Late items beyond what the completing transaction can take: counted and deleted first."""

    def build(tx: TransactWrite, outcome: Outcome) -> None:
        tx.update(
            DeletionCertificate(cert.id),
            actions=[DeletionCertificate.deleted.set(_counts_with(cert, late))],
            condition=_unchanged(cert),
        )
        outcome.labels.append("update:certificate")
        _delete_late(tx, outcome, late)

    commit(build, _raise_purged)
    return DeletionCertificate.get(cert.id, consistent_read=True)


def _complete(
    account: Account,
    cert: DeletionCertificate,
    kept: list[dict[str, Any]],
    retention: RetentionItem | None,
    now: datetime,
    settings: Settings,
) -> Late:
    """One transaction: late items deleted and counted, the certificate completed, the Account
    item deleted (it leaves the index), the retention item saved. Returns the late items."""
    found = late = _late_items(account)
    while len(late) > LATE_PER_TRANSACTION:
        cert, late = _ahead(cert, late[:LATE_PER_TRANSACTION]), late[LATE_PER_TRANSACTION:]

    def build(tx: TransactWrite, outcome: Outcome) -> None:
        tx.update(
            DeletionCertificate(cert.id),
            actions=[
                DeletionCertificate.completed_at.set(now),
                DeletionCertificate.unrecoverable_after.set(now + timedelta(days=settings.backup_retention_days)),
                DeletionCertificate.deleted.set({**_counts_with(cert, late), ACCOUNTS: 1}),
                DeletionCertificate.kept.set(kept),
            ],
            condition=_unchanged(cert),
        )
        outcome.labels.append("update:certificate")
        outcome.delete(tx, "account", Account(account.id), Account.id.exists())
        if retention is not None:
            outcome.put(tx, "retention", retention, None)
        _delete_late(tx, outcome, late)

    commit(build, _raise_purged)
    return found


def _owner_kept_from_end_of_use(account: Account, now: datetime, settings: Settings) -> None:
    """R-GDPR-2: the owner's own records (consents, data subject requests; lifecycle.privacy.retention's
    ``non_customer``) are kept 5 years after the end of use: their retention date moves on to
    that, never back. Nothing is scheduled for an owner who has no such records."""
    if not account.owner_email:
        return
    person = privacy.person_key(account.owner_email, settings)
    try:
        scheduled = RetentionItem.get(PERSON + person, consistent_read=True)
    except DoesNotExist:
        return
    ended_at = min(account.ended_at or account.purge_after or now, now)
    if scheduled.erased_at is None:
        schedule_non_customer(person, ended_at, now, settings)


def purge_account(account: Account, now: datetime, settings: Settings, budget: Budget, tally: Tally) -> None:
    """R-TERM-3: the whole purge of one account; raises ``OutOfTime`` to be resumed later."""
    cert = started_certificate(certificate_id(account.id), account.id, reason_of(account), now)
    cert = _identities(account, cert, now, settings, budget)
    cert = _purge_tables(account, cert, budget, tally)
    cert = _payment_customer(account, cert, settings, budget)
    budget.check()
    invoices = list(stored_invoices.of_account(account.id))
    retention = _retention(account, invoices, cert.id, settings)
    kept = _kept(account, invoices, retention, cert, settings)
    _owner_kept_from_end_of_use(account, now, settings)
    _notify(account, cert, now, settings)
    for model, _ in _complete(account, cert, kept, retention, now, settings):
        tally.add(table_of(model), 1)
    tally.add(ACCOUNTS, 1)
    logger.info("account purged", extra={"account_id": account.id, "certificate_id": cert.id})


def preview(account: Account) -> dict[str, int]:
    """A dry run: what the purge would delete now, per table."""
    counts = {
        table_of(model): _count(treatment, account)
        for model, treatment in PURGE_MAP.items()
        if isinstance(treatment, Deleted)
    }
    return {**counts, ACCOUNTS: 1}


# ---------------------------------------------------------------- the sweep


def _due(now: datetime) -> QueryDue:
    return due_in(Account.purge_due, Account.purge_after <= now, PAGE_SIZE)


def _still_due(due: Account, now: datetime) -> Account | None:
    try:
        account = Account.get(due.id, consistent_read=True)
    except DoesNotExist:
        return None
    if account.purge_after is None or account.purge_after > now:
        return None
    return account


def _act(now: datetime, settings: Settings, budget: Budget, tally: Tally, dry_run: bool) -> Callable[[Account], bool]:
    def act(due: Account) -> bool:
        try:
            budget.check()
        except OutOfTime:
            tally.unfinished += 1
            return False
        account = _still_due(due, now)
        if account is None:
            return False
        if dry_run:
            for table, count in preview(account).items():
                tally.add(table, count)
            return False
        # R-CREDIT-2: a refund the cancellation recorded is paid before its record goes (each
        # charge's refund is idempotent; a provider failure leaves the account due).
        credit.refund_owed(account.id, settings)
        try:
            purge_account(account, now, settings, budget, tally)
        except OutOfTime:
            tally.unfinished += 1
            return False
        except _Purged:
            return False
        return True

    return act


def purge_due(
    request: SweepRequest, now: datetime, remaining_ms: Callable[[], int], settings: Settings
) -> TallySummary:
    """The ``purge-sweep`` schedule (R-TERM-3): ``changed`` counts accounts purged completely,
    ``items`` the items deleted per table (a dry run: what it would delete)."""
    tally = Tally()
    budget = Budget(remaining_ms, settings.sweep_time_margin_ms)
    summary = run_sweep(
        shards=settings.sweep_shards,
        query_due=_due(now),
        act=_act(now, settings, budget, tally, request.dry_run),
        # The dry run is the purge's own, so it can count per table; run_sweep's would only count accounts.
        request=request.model_copy(update={"dry_run": False}),
        remaining_ms=remaining_ms,
        margin_ms=settings.sweep_time_margin_ms,
    )
    return TallySummary.of(summary, tally)

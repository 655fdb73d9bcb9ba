"""The right to erasure (R-GDPR-5): the completion action of an erasure request. Refused while the subject
owns an account in use; otherwise their ended accounts are purged (R-TERM-3, R-GDPR-2; an owed credit
refund paid first, R-CREDIT-2; the payment provider's customer record deleted), their memberships
removed, their person records deleted and what names them masked, each change committed with its
count on the deletion certificate, so a retry resumes with exact counts.
docs/ARCHITECTURE.md "Data protection" (Erasure).
"""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import reduce
from typing import Any

from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from lifecycle.accounts import identities
from lifecycle.billing import credit
from lifecycle.core import clock, errors
from lifecycle.core.observability import logger
from lifecycle.core.settings import Settings
from lifecycle.ending import purge
from lifecycle.privacy import data_subjects, personal_data
from lifecycle.privacy.data_subjects import Held, Subject
from lifecycle.privacy.privacy import Completing
from lifecycle.privacy.retention import (
    ACCOUNT,
    ERASED,
    PERSON,
    Budget,
    OutOfTime,
    Tally,
    certificate_id,
    idempotency_kept,
    started_certificate,
)
from lifecycle.registration import registration
from lifecycle.storage import (
    Account,
    AuditEvent,
    BillingDetailsVersion,
    Claim,
    Consent,
    DeletionCertificate,
    Invoice,
    Notification,
    PrivacyRequest,
    RetentionItem,
    Session,
    SharedLoginDetection,
    User,
    table_of,
)
from lifecycle.storage import invoices as stored_invoices
from lifecycle.storage import privacy as stored_privacy
from lifecycle.storage.accounts import ENDED
from lifecycle.storage.base import update_if
from lifecycle.storage.shared_logins import DETECTION
from lifecycle.storage.transactions import Outcome, commit
from lifecycle.subscriptions import users

REASON = "erasure_request"
SUBJECT = "erasure#"  # the certificate's id is derived from SUBJECT + the request's id
# Changes per transaction with the certificate's counts (DynamoDB takes 100 items).
CHUNK = 25
RETRIES = 5
# A billing details version naming the subject: the person's fields; the rest is the customer's.
PERSON_BILLING_FIELDS = ("first_name", "last_name", "email")
CERTIFICATES = table_of(DeletionCertificate)
INVOICES = table_of(Invoice)


def complete(c: Completing) -> dict[str, Any]:
    """R-GDPR-5: erase the subject of ``c.request`` (module doc); its result document."""
    cert_id = certificate_id(SUBJECT + c.request.id)
    done = _completed(cert_id)
    if done is not None:
        return result_of(done)
    subject = data_subjects.find(c.request.email, c.settings)
    ended = _ended_owned(subject)  # raises OwnsLiveAccount before anything changes
    cert = started_certificate(cert_id, None, REASON, c.now)
    budget = Budget(c.remaining_ms, c.settings.sweep_time_margin_ms)
    try:
        subject = _purge_owned(subject, ended, cert.id, c, budget)
        _erase(subject, cert.id, c, budget)
        cert = _complete(cert.id, c)
    except OutOfTime as exc:
        logger.info("erasure continues on the next attempt", extra={"certificate_id": cert.id})
        raise errors.ServiceUnavailable("The erasure is not finished yet; complete the request again") from exc
    logger.info("data subject erased", extra={"certificate_id": cert.id, "request_id": c.request.id})
    return result_of(cert)


def _completed(cert_id: str) -> DeletionCertificate | None:
    try:
        cert = DeletionCertificate.get(cert_id, consistent_read=True)
    except DoesNotExist:
        return None
    return cert if cert.completed_at is not None else None


# ---------------------------------------------------------------- owned accounts


def _ended_owned(subject: Subject) -> list[Account]:
    """The accounts the subject owns, all ended; 409 ``owns_live_account`` naming those in use.
    An account whose owner User is theirs counts too, whatever its owner address says."""
    owned = {account.id: account for account in subject.owned}
    for user in subject.memberships:
        if user.role == "owner" and user.account_id not in owned:
            try:
                owned[user.account_id] = Account.get(user.account_id, consistent_read=True)
            except DoesNotExist:
                continue
    live = sorted(account_id for account_id, account in owned.items() if account.status not in ENDED)
    if live:
        raise errors.OwnsLiveAccount("Cancel the accounts the person owns before erasing them", account_ids=live)
    return [owned[account_id] for account_id in sorted(owned)]


def _purge_owned(subject: Subject, ended: list[Account], cert_id: str, c: Completing, budget: Budget) -> Subject:
    """R-TERM-3 through the purge, each account noted on the certificate first (a retry must
    know it after its Account item is gone); the subject as found afterwards."""
    for _ in range(RETRIES):
        if not ended:
            return subject
        _note_kept(cert_id, [_purge_entry(account.id) for account in ended])
        for account in ended:
            _purge(account, c.now, c.settings, budget)
        subject = data_subjects.find(c.request.email, c.settings)
        ended = _ended_owned(subject)  # an account signed up meanwhile is refused too
    raise errors.ServiceUnavailable("The person's accounts keep changing; complete the request again")


def _purge(account: Account, now: datetime, settings: Settings, budget: Budget) -> None:
    budget.check()
    credit.refund_owed(account.id, settings)  # R-CREDIT-2: paid before its record goes, as the sweep does
    try:
        purge.purge_account(account, now, settings, budget, Tally())
    except purge.PurgedMeanwhile:
        try:
            Account.get(account.id, consistent_read=True)
        except DoesNotExist:
            return  # the purge sweep finished it
        raise errors.ServiceUnavailable("The account is being purged; complete the request again") from None


def _purge_entry(account_id: str) -> dict[str, Any]:
    return {
        "table": CERTIFICATES,
        "items": 1,
        "legal_basis": "R-TERM-3: the subject's ended account was purged; its own certificate proves it",
        "personal_data": False,
        "erase_at": None,
        "certificate_id": certificate_id(account_id),
        "account_id": account_id,
    }


def purged_accounts(cert: DeletionCertificate) -> list[str]:
    """The accounts an erasure purged (or is purging), from its certificate."""
    return [str(entry["account_id"]) for entry in cert.kept or [] if entry.get("table") == CERTIFICATES]


# ---------------------------------------------------------------- writes counted on the certificate


@dataclass(frozen=True)
class Write:
    """One change and what it counts. ``build`` adds it to a transaction under a unique
    ``tag`` and returns the label of the condition that fails when it was made already."""

    build: Callable[[TransactWrite, Outcome, str], str]
    counts: dict[str, int]
    kept: list[dict[str, Any]] = field(default_factory=list)
    after: Callable[[], None] | None = None  # run once committed


class _Failed(Exception):
    def __init__(self, labels: list[str]) -> None:
        super().__init__(", ".join(labels))
        self.labels = labels


def _raise_failed(labels: list[str]) -> None:
    raise _Failed(labels)


class _Counted:
    """The build of one transaction: the writes, and the certificate's counts and kept
    entries advanced by theirs under the condition that the certificate is as read.
    Remembers each write's labels, to tell which were made already when it fails."""

    def __init__(self, cert: DeletionCertificate, writes: list[Write]) -> None:
        self.cert = cert
        self.writes = writes
        self.markers: dict[int, str] = {}
        self.labels: dict[int, list[str]] = {}

    def __call__(self, tx: TransactWrite, outcome: Outcome) -> None:
        counts = dict(self.cert.deleted)
        kept = list(self.cert.kept or [])
        for write in self.writes:
            for table, count in write.counts.items():
                counts[table] = counts.get(table, 0) + count
            # Once each: a run that lost the race to another recorded the same entry.
            kept.extend(entry for entry in write.kept if entry not in kept)
        tx.update(
            DeletionCertificate(self.cert.id),
            actions=[DeletionCertificate.deleted.set(counts), DeletionCertificate.kept.set(kept)],
            condition=_as_read(self.cert),
        )
        outcome.labels.append("update:certificate")
        for index, write in enumerate(self.writes):
            before = len(outcome.labels)
            self.markers[index] = write.build(tx, outcome, f"item#{index}")
            self.labels[index] = outcome.labels[before:]

    def made_already(self, failed: list[str]) -> set[int]:
        """The writes another run made first; any other failed condition is a conflict."""
        done = {index for index, marker in self.markers.items() if marker in failed}
        # A write made already may fail its other conditions too (its account purged meanwhile).
        explained = {"update:certificate"}.union(*(self.labels[index] for index in done))
        if set(failed) - explained:
            raise errors.Conflict("The person's data changed during the erasure; complete the request again")
        return done


def _counted(cert_id: str, writes: list[Write]) -> None:
    """Commit ``writes`` with their counts (module doc: counts stay exact). A write another run
    made first fails its own condition: it is dropped, uncounted, and the rest go again."""
    pending = writes
    for _ in range(RETRIES):
        if not pending:
            return
        cert = DeletionCertificate.get(cert_id, consistent_read=True)
        if cert.completed_at is not None:
            return  # another run completed the erasure meanwhile
        build = _Counted(cert, pending)
        try:
            commit(build, _raise_failed)
        except _Failed as failed:
            done = build.made_already(failed.labels)
            pending = [write for index, write in enumerate(pending) if index not in done]
            continue
        for write in pending:
            if write.after is not None:
                write.after()
        return
    raise errors.ServiceUnavailable("Too many concurrent changes during the erasure; complete the request again")


def _as_read(cert: DeletionCertificate) -> Condition:
    condition: Condition = (
        DeletionCertificate.completed_at.does_not_exist()
        & (DeletionCertificate.deleted == cert.deleted)
        & (DeletionCertificate.kept == (cert.kept or []))
    )
    return condition


def _note_kept(cert_id: str, entries: list[dict[str, Any]]) -> None:
    """Kept entries recorded ahead of the change that makes them unfindable (once each)."""
    cert = DeletionCertificate.get(cert_id, consistent_read=True)
    new = [entry for entry in entries if entry not in (cert.kept or [])]
    if new:
        _counted(cert_id, [Write(_nothing, {}, new)])


def _nothing(tx: TransactWrite, outcome: Outcome, tag: str) -> str:
    return ""


def _apply(cert_id: str, writes: Iterable[Write], budget: Budget) -> None:
    """``writes`` in transactions of ``CHUNK``, the time checked before each."""
    batch: list[Write] = []
    for write in writes:
        batch.append(write)
        if len(batch) == CHUNK:
            budget.check()
            _counted(cert_id, batch)
            batch = []
    if batch:
        budget.check()
        _counted(cert_id, batch)


# ---------------------------------------------------------------- deleting and masking


def _key_names(model: type[Model]) -> list[str]:
    attributes = model.get_attributes().items()
    return [name for name, attribute in attributes if attribute.is_hash_key] + [
        name for name, attribute in attributes if attribute.is_range_key
    ]


def _key_of(model: type[Model], item: Model) -> tuple[str, tuple[str, ...]]:
    return model.__name__, tuple(str(getattr(item, name)) for name in _key_names(model))


def deleting(model: type[Model], item: Model) -> Write:
    """Delete the item, counted in its table (condition: still there)."""
    still_there = model.get_attributes()[_key_names(model)[0]].exists()

    def build(tx: TransactWrite, outcome: Outcome, tag: str) -> str:
        outcome.delete(tx, tag, item, still_there)
        return "delete:" + tag

    return Write(build, {table_of(model): 1})


def masked_value(value: Any) -> Any:
    """``"erased"`` in place of every value; a JSON document keeps its shape (keys are field names)."""
    if isinstance(value, dict):
        return {key: masked_value(inner) for key, inner in value.items()}
    if isinstance(value, list | tuple):
        return [masked_value(inner) for inner in value]
    if isinstance(value, set | frozenset):
        return {ERASED}
    return None if value is None else ERASED


def masking(model: type[Model], item: Model, names: Iterable[str]) -> Write | None:
    """Mask ``names`` where they hold something not yet masked, counted in the item's table;
    None when nothing is left. Condition: each still holds what was read."""
    attributes = model.get_attributes()
    todo = {name: getattr(item, name) for name in names}
    todo = {name: value for name, value in todo.items() if value is not None and masked_value(value) != value}
    if not todo:
        return None
    actions: list[Action] = [attributes[name].set(masked_value(value)) for name, value in todo.items()]
    if model is Notification:
        actions.append(Notification.unsent_shard.remove())  # an erased notice is never sent
    unchanged = reduce(operator.and_, (attributes[name] == value for name, value in todo.items()))

    def build(tx: TransactWrite, outcome: Outcome, tag: str) -> str:
        tx.update(item, actions=actions, condition=unchanged)
        outcome.labels.append("update:" + tag)
        return "update:" + tag

    return Write(build, {table_of(model): 1})


def personal(model: type[Model]) -> list[str]:
    """The attributes the inventory declares personal, keys excepted (they cannot change)."""
    keys = set(_key_names(model))
    return [entry.attribute for entry in personal_data.fields_of(model) if entry.attribute not in keys]


def kept_by_law(model: type[Model]) -> bool:
    return any(entry.kept_by_law for entry in personal_data.fields_of(model))


def _deleted_whole(held: Held) -> bool:
    """Records about the person and nothing else: deleted rather than masked."""
    if held.model in (Session, Consent):
        return True
    if isinstance(held.item, SharedLoginDetection):
        return held.item.kind == DETECTION  # a period's fee names users by id only: the customer's
    return held.model is Notification and held.relation == "person"


def _change(held: Held, request_id: str) -> Write | None:
    """What becomes of one item in the first step; users, claims, the retention item and the
    request being completed have steps of their own (module doc)."""
    model, item = held.model, held.item
    if model in (User, Claim, RetentionItem, AuditEvent) or kept_by_law(model):
        return None
    if isinstance(item, PrivacyRequest) and item.id == request_id:
        return None
    if _deleted_whole(held):
        return deleting(model, item)
    names = PERSON_BILLING_FIELDS if model is BillingDetailsVersion else personal(model)
    return masking(model, item, names)


# ---------------------------------------------------------------- the erasure


def _erase(subject: Subject, cert_id: str, c: Completing, budget: Budget) -> None:
    """Items first, then the person's retention item, then the users (the last step in each
    account: what holdings finds through a membership is found until then), then stray claims."""
    found = list({_key_of(one.model, one.item): one for one in data_subjects.holdings(subject)}.values())
    _apply(cert_id, (write for one in found if (write := _change(one, c.request.id)) is not None), budget)
    for one in found:
        if isinstance(one.item, RetentionItem):
            _close_retention(one.item, cert_id, c.now, budget)
    removed = _remove_users(found, cert_id, c, budget)
    strays = [one.item for one in found if isinstance(one.item, Claim) and one.item.claim not in removed]
    _apply(cert_id, (deleting(Claim, claim) for claim in strays), budget)


def _close_retention(item: RetentionItem, cert_id: str, now: datetime, budget: Budget) -> None:
    """R-GDPR-2: the person's schedule has nothing left to erase; this certificate closed it."""
    if item.erased_at is not None:
        return
    budget.check()
    update_if(
        item,
        [
            RetentionItem.erased_at.set(now),
            RetentionItem.retention_shard.remove(),
            RetentionItem.certificate_id.set(cert_id),
        ],
        RetentionItem.erased_at.does_not_exist(),
    )


def _remove_users(found: list[Held], cert_id: str, c: Completing, budget: Budget) -> set[str]:
    """Each membership's User item with its claim, seat and interval (``users.removal``), one
    transaction each with its counts and the account's invoices naming the subject (kept).
    Returns the claims removed with them."""
    claims = {one.item.claim for one in found if isinstance(one.item, Claim)}
    invoices = Counter(one.item.account_id for one in found if isinstance(one.item, Invoice))
    removed: set[str] = set()
    for one in found:
        if not isinstance(one.item, User):
            continue
        user = one.item
        claim = registration.user_email_claim(user.account_id, str(user.email))  # users.removal deletes it
        removed.add(claim)
        budget.check()
        _counted(cert_id, [_removing(user, claim in claims, invoices[user.account_id], c, cert_id)])
    return removed


def _removing(user: User, with_claim: bool, invoices: int, c: Completing, cert_id: str) -> Write:
    # R-GDPR-5: the membership's sign-in identity is deleted with it (API.md "Sign-in").
    identity = identities.change("delete", user, c.now, settings=c.settings)
    removal = users.removal(user, c.staff_id, c.now, identity=identity, via=REASON)

    def build(tx: TransactWrite, outcome: Outcome, tag: str) -> str:
        removal(tx, outcome)
        return "delete:user"

    def rebase() -> None:
        credit.rebase(user.account_id, c.now, c.settings)  # R-CREDIT-1: the seats changed
        if identity is not None:
            identities.apply_now([identity])
            outcome = purge.DELETED if not identities.pending([identity]) else identities.QUEUED
            _identity_listed(cert_id, {**_identity_entry(outcome), "account_id": user.account_id})

    counts = {table_of(User): 1, **({table_of(Claim): 1} if with_claim else {})}
    kept = [_member_invoices(user.account_id, invoices, c.settings)] if invoices else []
    return Write(build, counts, kept, after=rebase)


def _member_invoices(account_id: str, items: int, settings: Settings) -> dict[str, Any]:
    return {
        "table": INVOICES,
        "items": items,
        "legal_basis": (
            f"accounting law: invoices are kept {settings.invoice_retention_years} years; their billing "
            "details are masked when the account's retention ends (R-GDPR-2)"
        ),
        "personal_data": True,
        "erase_at": None,  # the account is still in use: its purge schedules the masking
        "account_id": account_id,
    }


# ---------------------------------------------------------------- completion


class _Completion:
    """The build of the last transaction: the request masked and the certificate completed."""

    def __init__(
        self, cert: DeletionCertificate, mask: Write | None, kept: list[dict[str, Any]], c: Completing
    ) -> None:
        self.cert, self.mask, self.kept, self.c = cert, mask, kept, c

    def __call__(self, tx: TransactWrite, outcome: Outcome) -> None:
        counts = dict(self.cert.deleted)
        for table, count in (self.mask.counts if self.mask is not None else {}).items():
            counts[table] = counts.get(table, 0) + count
        now = self.c.now
        tx.update(
            DeletionCertificate(self.cert.id),
            actions=[
                DeletionCertificate.completed_at.set(now),
                DeletionCertificate.unrecoverable_after.set(
                    now + timedelta(days=self.c.settings.backup_retention_days)
                ),
                DeletionCertificate.deleted.set(counts),
                DeletionCertificate.kept.set(self.kept),
                DeletionCertificate.processors.set(_processors(self.cert)),
            ],
            condition=_as_read(self.cert),
        )
        outcome.labels.append("update:certificate")
        if self.mask is not None:
            self.mask.build(tx, outcome, "request")


def _complete(cert_id: str, c: Completing) -> DeletionCertificate:
    """The request being completed is masked LAST (the caller still holds its address), in
    one transaction with the certificate's completion: its counts and everything kept."""
    for _ in range(RETRIES):
        cert = DeletionCertificate.get(cert_id, consistent_read=True)
        if cert.completed_at is not None:
            return cert
        request = PrivacyRequest.get(c.request.id, consistent_read=True)
        mask = masking(PrivacyRequest, request, personal(PrivacyRequest))
        kept = [*(cert.kept or []), *_kept_now(cert, c.request.person_key, c.settings)]
        try:
            commit(_Completion(cert, mask, kept, c), _raise_failed)
        except _Failed:
            continue  # another run moved the counts or completed it: read again
        return DeletionCertificate.get(cert_id, consistent_read=True)
    raise errors.ServiceUnavailable("Too many concurrent changes during the erasure; complete the request again")


def _identity_entry(outcome: str) -> dict[str, Any]:
    return {"processor": identities.IDENTITY_PROVIDER, "record": "user", "outcome": outcome}


def _identity_listed(cert_id: str, entry: dict[str, Any]) -> None:
    """A membership's identity on the certificate's ``processors``, once (conditional on them as read)."""
    for _ in range(RETRIES):
        cert = DeletionCertificate.get(cert_id, consistent_read=True)
        listed = list(cert.processors or [])
        if cert.completed_at is not None or any(
            one.get("processor") == entry["processor"] and one.get("account_id") == entry["account_id"]
            for one in listed
        ):
            return
        as_read = DeletionCertificate.processors == listed
        if not listed:
            as_read = DeletionCertificate.processors.does_not_exist() | as_read
        if update_if(cert, [DeletionCertificate.processors.set([*listed, entry])], as_read):
            return
    raise errors.ServiceUnavailable("Too many concurrent changes during the erasure; complete the request again")


def _processors(cert: DeletionCertificate) -> list[dict[str, Any]]:
    """The memberships' identities deleted on the way, then what each purged account's own
    certificate says its processors deleted (R-TERM-3 deleted them there: the payment
    provider's customer record, the identity provider's users), per account."""
    listed: list[dict[str, Any]] = list(cert.processors or [])
    for account_id in purged_accounts(cert):
        purged = _completed(certificate_id(account_id))
        if purged is not None:
            listed += [{**entry, "account_id": account_id} for entry in purged.processors or []]
    return listed


def _kept_now(cert: DeletionCertificate, person_key: str, settings: Settings) -> list[dict[str, Any]]:
    """What stays besides what was noted on the way: the purged accounts' invoices, the
    requests' records, the person's closed schedule, the idempotency records."""
    kept = [entry for account_id in purged_accounts(cert) if (entry := _purged_invoices(account_id, settings))]
    requests = sum(1 for _ in stored_privacy.request_keys_of_person(person_key))
    kept.append(
        {
            "table": table_of(PrivacyRequest),
            "items": requests,
            "legal_basis": "R-GDPR-10: the record of how the person's requests were handled, their address masked",
            "personal_data": False,
            "erase_at": None,
        }
    )
    if _retention(PERSON + person_key) is not None:
        kept.append(
            {
                "table": table_of(RetentionItem),
                "items": 1,
                "legal_basis": "R-GDPR-2: the person's retention schedule, closed by this certificate",
                "personal_data": False,
                "erase_at": None,
            }
        )
    kept.append(idempotency_kept(cert.started_at, settings))
    return kept


def _purged_invoices(account_id: str, settings: Settings) -> dict[str, Any] | None:
    items = sum(1 for _ in stored_invoices.of_account(account_id))
    if not items:
        return None
    schedule = _retention(ACCOUNT + account_id)
    pending = schedule is not None and schedule.erased_at is None
    return {
        "table": INVOICES,
        "items": items,
        "legal_basis": (
            f"accounting law: invoices are kept {settings.invoice_retention_years} years; their billing "
            "details are masked when due (R-GDPR-2)"
        ),
        "personal_data": pending,
        "erase_at": clock.to_iso(schedule.erase_at) if schedule is not None and pending else None,
        "account_id": account_id,
    }


def _retention(key: str) -> RetentionItem | None:
    try:
        return RetentionItem.get(key, consistent_read=True)
    except DoesNotExist:
        return None


# ---------------------------------------------------------------- the result


def result_of(cert: DeletionCertificate) -> dict[str, Any]:
    """The request's result document, without personal data; ``summary`` is told to the subject."""
    deleted = {table: int(count) for table, count in sorted(cert.deleted.items()) if count}
    kept = list(cert.kept or [])
    accounts = purged_accounts(cert)
    invoices = sum(int(entry["items"] or 0) for entry in kept if entry.get("table") == INVOICES)
    parts = [f"{sum(deleted.values())} items of personal data were erased or masked in {len(deleted)} tables"]
    if accounts:
        parts.append(f"{len(accounts)} ended account(s) you owned were deleted")
    processors = cert.processors or []
    customers = sum(
        1
        for entry in processors
        if entry.get("outcome") == purge.DELETED and entry.get("processor") == purge.PAYMENT_PROVIDER
    )
    if customers:
        parts.append(f"the payment provider's customer record of {customers} account(s) was deleted")
    sign_ins = sum(
        1
        for entry in processors
        if entry.get("outcome") == purge.DELETED and entry.get("processor") == identities.IDENTITY_PROVIDER
    )
    if sign_ins:
        parts.append(f"your sign-in at the identity provider was deleted in {sign_ins} account(s)")
    if invoices:
        parts.append(
            f"{invoices} invoice(s) naming you are kept because accounting law requires it; "
            "their billing details are erased when that period ends"
        )
    return {
        "summary": "; ".join(parts) + ".",
        "certificate_id": cert.id,
        "deleted": deleted,
        "kept": kept,
        "accounts_purged": accounts,
        "processors": list(cert.processors or []),
    }

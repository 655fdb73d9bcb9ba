"""Rectification (R-GDPR-4): the subject's ``full_name`` (R-REG-3), ``company_name`` (the subdomain stays,
R-VOUCH-1) and ``email`` corrected wherever the service uses them; a new email moves the person's records
to its person key (consents, the R-GDPR-2 retention item, notices). Issued invoices keep their snapshot
(R-PAY-14). Every write is conditional on the old value, so a retry changes nothing.
docs/ARCHITECTURE.md "Data protection" (Rectification).
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from lifecycle.accounts import identities
from lifecycle.core import clock, errors
from lifecycle.core.settings import Settings
from lifecycle.privacy import data_subjects, privacy
from lifecycle.privacy.data_subjects import Held, Subject
from lifecycle.privacy.privacy import Completing
from lifecycle.registration import registration
from lifecycle.storage import (
    Account,
    BillingDetailsVersion,
    Claim,
    Consent,
    IdentityChange,
    Invoice,
    Notification,
    PrivacyRequest,
    RetentionItem,
    User,
    table_of,
)
from lifecycle.storage import notifications as stored_notifications
from lifecycle.storage import privacy as stored_privacy
from lifecycle.storage.base import shard_of, update_if
from lifecycle.storage.transactions import Outcome, commit

FIELDS = ("full_name", "company_name", "email")
COMPANY_NAME_MAX = 200
BILLING = (
    "billing details are versions the account owner replaces under Billing "
    "(PUT /accounts/{id}/billing-details); new details apply from the next invoice"
)
WHY_KEPT = {
    "invoices": "issued invoices keep the billing details they were issued with (accounting law, R-PAY-14); " + BILLING,
    "billing_details": BILLING,
    "notifications": "past notices keep the address and text they were sent with: a record of what was sent",
    "privacy_requests": "data subject requests keep the address they were made from: "
    "a record of who asked and how that was verified",
}


# ---------------------------------------------------------------- validation


def _invalid(field: str, exc: Exception) -> errors.InvalidField:
    return errors.InvalidField(field, str(exc))


def _company_name(value: str) -> str:
    name = value.strip()
    if not 1 <= len(name) <= COMPANY_NAME_MAX:
        raise ValueError(f"the company name must be 1 to {COMPANY_NAME_MAX} characters")
    if any(unicodedata.category(char) == "Cc" for char in name):
        raise ValueError("the company name cannot contain control characters")
    return name


def validated(corrections: Mapping[str, Any], settings: Settings) -> dict[str, str]:
    """R-GDPR-4: the corrections, each checked as the field is checked where it is first given;
    unknown fields and invalid values are 422 ``validation_error``."""
    if not isinstance(corrections, Mapping) or not corrections:
        raise errors.InvalidField("corrections", f"name at least one field to correct: {', '.join(FIELDS)}")
    checks: dict[str, Callable[[str], str]] = {
        "full_name": registration.validate_legal_name,
        "company_name": _company_name,
        "email": lambda value: registration.normalise_email(value, registration.disposable_domains(settings)),
    }
    out: dict[str, str] = {}
    for field, value in corrections.items():
        if field not in checks:
            raise errors.InvalidField(field, f"only these can be corrected here: {', '.join(FIELDS)}")
        if not isinstance(value, str):
            raise errors.InvalidField(field, "give the corrected value as text")
        try:
            out[field] = checks[field](value)
        except ValueError as exc:
            raise _invalid(field, exc) from exc
    return out


# ---------------------------------------------------------------- completing


class Changed:
    """The items changed, per table; an item two corrections changed counts once."""

    def __init__(self) -> None:
        self._items: dict[str, set[str]] = {}

    def add(self, model: type[Model], *key: str) -> None:
        self._items.setdefault(table_of(model), set()).add("#".join(key))

    def counts(self) -> dict[str, int]:
        return {table: len(keys) for table, keys in sorted(self._items.items())}


def complete(completing: Completing) -> dict[str, Any]:
    """R-GDPR-4: apply the corrections to every record that uses them; say what is kept and why."""
    corrections = validated(completing.corrections or completing.request.corrections or {}, completing.settings)
    subject = data_subjects.find(completing.request.email, completing.settings)
    held = list(data_subjects.holdings(subject))
    changed = Changed()
    if "full_name" in corrections:
        _full_names(subject, corrections["full_name"], changed)
    if "company_name" in corrections:
        _company_names(subject, corrections["company_name"], changed)
    kept = _kept(held, corrections)
    if "email" in corrections and corrections["email"] != subject.email:
        kept += _email(subject, corrections["email"], completing, changed)
    return {
        "summary": _summary(sorted(corrections), changed.counts(), kept),
        "fields": sorted(corrections),
        "changed": changed.counts(),
        "kept": kept,
        "notes": _notes(subject, corrections),
    }


def _full_names(subject: Subject, full_name: str, changed: Changed) -> None:
    for user in subject.memberships:
        if user.full_name == full_name:
            continue
        condition = User.user_id.exists() & (User.email == user.email)
        if _updated(user, [User.full_name.set(full_name)], condition):
            changed.add(User, user.account_id, user.user_id)


def _company_names(subject: Subject, company_name: str, changed: Changed) -> None:
    for account in subject.owned:
        if account.company_name == company_name:
            continue
        condition = Account.id.exists() & (Account.owner_email == account.owner_email)
        if _updated(account, [Account.company_name.set(company_name)], condition):
            changed.add(Account, account.id)


def _updated(item: Model, actions: list[Any], condition: Any) -> bool:
    """A conditional update; ``False`` when the item is gone or no longer the subject's."""
    return update_if(item, actions, condition)


def _kept(held: Iterable[Held], corrections: Mapping[str, str]) -> list[dict[str, Any]]:
    """What keeps the old values, and why (tables the subject has items in only)."""
    counts = Counter(table_of(h.model) for h in held)
    tables = [table_of(Invoice), table_of(BillingDetailsVersion), table_of(Notification)]
    if "email" in corrections:
        tables.append(table_of(PrivacyRequest))
    return [{"table": table, "items": counts[table], "why": WHY_KEPT[table]} for table in tables if counts[table]]


def _notes(subject: Subject, corrections: Mapping[str, str]) -> list[str]:
    notes = []
    if "company_name" in corrections and subject.owned:
        notes.append("the account's subdomain (its help desk address) stays as it was chosen")
    if "company_name" in corrections and not subject.owned:
        notes.append("company_name: the subject owns no account")
    if "full_name" in corrections and not subject.memberships:
        notes.append("full_name: the subject is no user of any account")
    return notes


def _summary(fields: list[str], changed: Mapping[str, int], kept: list[dict[str, Any]]) -> str:
    spoken = [field.replace("_", " ") for field in fields]
    names = spoken[0] if len(spoken) == 1 else f"{', '.join(spoken[:-1])} and {spoken[-1]}"
    total = sum(changed.values())
    if not total:
        return f"Your {names} needed no change: our records already hold what you asked for."
    records = "record" if total == 1 else "records"
    if not kept:
        return f"We corrected your {names} in {total} {records}."
    return (
        f"We corrected your {names} in {total} {records}; issued invoices and past notices keep what they were "
        "issued or sent with, and billing details are changed by the account owner under Billing."
    )


# ---------------------------------------------------------------- email


def _email(subject: Subject, new: str, completing: Completing, changed: Changed) -> list[dict[str, Any]]:
    """Every use of the address, account by account, then the person's records; what stays."""
    _refuse_taken(subject, new)
    now = completing.now
    owners = {(account.id, account.owner_id) for account in subject.owned}
    for account in subject.owned:
        owner = next(
            (u for u in subject.memberships if (u.account_id, u.user_id) == (account.id, account.owner_id)), None
        )
        _move_owner(account, owner, str(account.owner_email), new, now, changed)
    for user in subject.memberships:
        if (user.account_id, user.user_id) not in owners:
            _move_member(user, str(user.email), new, now, changed)
    return _move_person(subject, new, completing, changed)


def _claim_of(key: str, account_id: str) -> Claim | None:
    try:
        claim = Claim.get(key, consistent_read=True)
    except DoesNotExist:
        return None
    return claim if claim.account_id == account_id else None


def _taken(key: str) -> bool:
    try:
        Claim.get(key, consistent_read=True)
    except DoesNotExist:
        return False
    return True


def _refuse_taken(subject: Subject, new: str) -> None:
    """Before anything changes: the new address must be nobody else's where the subject's goes."""
    if subject.owned and _taken(registration.owner_email_claim(new)):
        raise errors.EmailTaken("This address already owns an account")
    for account in subject.owned:
        if _taken(registration.user_email_claim(account.id, new)):
            raise errors.EmailTaken("This address is already a user of the subject's account")
    owned = {account.id for account in subject.owned}
    for user in subject.memberships:
        if user.account_id in owned:
            continue
        if _taken(registration.user_email_claim(user.account_id, new)) or _same_owner(user.account_id, new):
            raise errors.EmailTaken("This address is already a user of an account the subject is a user of")


def _same_owner(account_id: str, address: str) -> bool:
    try:
        owner = Account.get(account_id, consistent_read=True).owner_email
    except DoesNotExist:
        return False
    return owner is not None and registration.email_key(owner) == registration.email_key(address)


def _taken_failure(label: str, message: str) -> Callable[[list[str]], None]:
    def raise_for(failed: list[str]) -> None:
        if label in failed:
            raise errors.EmailTaken(message)
        # The old value changed meanwhile (a concurrent completion): a retry finds what is left.
        _changed_meanwhile(failed)

    return raise_for


def _move_claim(
    tx: TransactWrite, outcome: Outcome, old: Claim | None, new_key: str, account_id: str, now: datetime
) -> None:
    if old is not None:
        outcome.delete(tx, "old_claim", old, Claim.account_id == account_id)
    claim = Claim(new_key, account_id=account_id, claimed_at=now, ref=old.ref if old is not None else None)
    outcome.put(tx, "new_claim", claim, Claim.claim.does_not_exist())


def _move_owner(account: Account, owner: User | None, old: str, new: str, now: datetime, changed: Changed) -> None:
    """The account's owner address, the owner's User item and the owner-email claim, in one transaction."""
    old_claim = _claim_of(registration.owner_email_claim(old), account.id)
    moved = _sign_in_moved(owner, new, now)

    def build(tx: TransactWrite, outcome: Outcome) -> None:
        identities.put(tx, outcome, [moved])
        _move_claim(tx, outcome, old_claim, registration.owner_email_claim(new), account.id, now)
        tx.update(
            Account(account.id),
            actions=[
                Account.owner_email.set(new),
                Account.owner_email_canonical.set(registration.canonical_email(new)),
            ],
            condition=Account.owner_email == old,
        )
        outcome.labels.append("update:account")
        if owner is not None:
            _update_user(tx, outcome, owner, new)

    commit(build, _taken_failure("new_claim", "This address already owns an account"))
    identities.apply_now([moved])
    changed.add(Account, account.id)
    changed.add(Claim, account.id, "owner-email")
    if owner is not None:
        changed.add(User, owner.account_id, owner.user_id)


def _sign_in_moved(user: User | None, new: str, now: datetime) -> IdentityChange | None:
    """API.md "Sign-in": the person signs in with the new address from now on."""
    return identities.change("email", user, now, new_email=new) if user is not None else None


def _update_user(tx: TransactWrite, outcome: Outcome, user: User, new: str) -> None:
    # The address as stored (one stored before domains kept their Unicode form is in ASCII form).
    tx.update(User(user.account_id, user.user_id), actions=[User.email.set(new)], condition=User.email == user.email)
    outcome.labels.append("update:user")


def _move_member(user: User, old: str, new: str, now: datetime, changed: Changed) -> None:
    """A user's address in an account the subject does not own, and its user-email claim."""
    old_claim = _claim_of(registration.user_email_claim(user.account_id, old), user.account_id)
    moved = _sign_in_moved(user, new, now)

    def build(tx: TransactWrite, outcome: Outcome) -> None:
        identities.put(tx, outcome, [moved])
        if old_claim is not None:
            _move_claim(
                tx, outcome, old_claim, registration.user_email_claim(user.account_id, new), user.account_id, now
            )
        _update_user(tx, outcome, user, new)

    commit(build, _taken_failure("new_claim", "This address is already a user of that account"))
    identities.apply_now([moved])
    changed.add(User, user.account_id, user.user_id)
    if old_claim is not None:
        changed.add(Claim, user.account_id, "user-email")


# ---------------------------------------------------------------- the person's records


def _move_person(subject: Subject, new: str, completing: Completing, changed: Changed) -> list[dict[str, Any]]:
    new_key = privacy.person_key(new, completing.settings)
    collisions = 0
    for old in stored_privacy.consents_of(subject.person_key):
        if _move_consent(old, new_key, new, completing):
            changed.add(Consent, old.purpose)
        else:
            collisions += 1
    _move_retention(subject.person_key, new_key, completing.settings, changed)
    _move_person_notices(subject.person_key, new_key, changed)
    kept = []
    if collisions:
        why = (
            "the new address already has its own consent record for the same purpose; the record under the old "
            "address is kept as it is, for staff to reconcile"
        )
        kept.append({"table": table_of(Consent), "items": collisions, "why": why})
    return kept


def _moved(item: Model, **keys: Any) -> dict[str, Any]:
    values = dict(item.attribute_values)
    values.update(keys)
    return values


def _move_consent(old: Consent, new_key: str, new: str, completing: Completing) -> bool:
    """One consent record to the new person key; ``False`` when the new key has one for the purpose."""
    step = {"at": clock.to_iso(completing.now), "action": "email_rectified", "how": f"request:{completing.request.id}"}
    values = _moved(old, person_key=new_key, history=[*(old.history or []), step])
    if old.email is not None:
        values["email"] = new
    moved = Consent(**values)

    def build(tx: TransactWrite, outcome: Outcome) -> None:
        outcome.put(tx, "new", moved, Consent.person_key.does_not_exist())
        outcome.delete(tx, "old", old, Consent.person_key.exists())

    try:
        commit(build, _collided)
    except _Collision:
        return False
    return True


class _Collision(Exception):
    """The new person key already has a record of that purpose."""


def _collided(failed: list[str]) -> None:
    if "new" in failed:
        raise _Collision
    _changed_meanwhile(failed)


def _move_retention(old_key: str, new_key: str, settings: Settings, changed: Changed) -> None:
    """R-GDPR-2: the schedule of the person's erasure follows their records; the later date wins."""
    try:
        old = RetentionItem.get(data_subjects.PERSON_RETENTION + old_key, consistent_read=True)
    except DoesNotExist:
        return
    key = data_subjects.PERSON_RETENTION + new_key
    moved = RetentionItem(**_moved(old, subject_key=key))
    if old.retention_shard is not None:
        moved.retention_shard = shard_of(key, settings.sweep_shards)
    later = RetentionItem.subject_key.does_not_exist() | (RetentionItem.erase_at < old.erase_at)

    def build(tx: TransactWrite, outcome: Outcome) -> None:
        outcome.put(tx, "new", moved, later)
        outcome.delete(tx, "old", old, RetentionItem.subject_key.exists())

    try:
        commit(build, _collided)
    except _Collision:
        old.delete()  # the new key's schedule is as late or later: it covers the moved records
    changed.add(RetentionItem, "person")


def _move_person_notices(old_key: str, new_key: str, changed: Changed) -> None:
    """The notices sent to the person: their key moves, what was sent (and to whom) does not."""
    for old in stored_notifications.of_account(privacy.PERSON_NOTICES + old_key):
        copy = Notification(**_moved(old, account_id=privacy.PERSON_NOTICES + new_key))

        def build(tx: TransactWrite, outcome: Outcome, copy: Notification = copy, old: Notification = old) -> None:
            outcome.put(tx, "new", copy, Notification.notification_key.does_not_exist())
            outcome.delete(tx, "old", old, Notification.notification_key.exists())

        commit(build, _changed_meanwhile)
        changed.add(Notification, str(old.notification_key))


def _changed_meanwhile(failed: list[str]) -> None:
    raise errors.Conflict("The subject's records changed meanwhile; retry the completion")

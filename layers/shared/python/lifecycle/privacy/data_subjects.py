"""Everything held about one data subject, found without a Scan (R-GDPR-3..5, R-GDPR-7): ``find`` resolves
an email to the accounts they own and those they are a user of; ``holdings`` yields every item holding
their personal data with its model, for the export, rectification and erasure to read through
``personal_data.INVENTORY``. Other people's data in the same accounts is not theirs and is not yielded.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pynamodb.exceptions import DoesNotExist
from pynamodb.models import Model

from lifecycle.core.settings import Settings
from lifecycle.privacy import privacy
from lifecycle.registration import registration
from lifecycle.storage import (
    Account,
    AuditEvent,
    BillingDetailsVersion,
    Claim,
    Consent,
    CustomRequest,
    Invoice,
    Notification,
    PrivacyRequest,
    RetentionItem,
    Session,
    SharedLoginDetection,
    User,
)
from lifecycle.storage import accounts as stored_accounts
from lifecycle.storage import audit as audit_events
from lifecycle.storage import billing_details as stored_billing_details
from lifecycle.storage import custom_requests as stored_custom_requests
from lifecycle.storage import invoices as stored_invoices
from lifecycle.storage import notifications as stored_notifications
from lifecycle.storage import privacy as stored_privacy
from lifecycle.storage import sessions as stored_sessions
from lifecycle.storage import shared_logins as stored_detections
from lifecycle.storage import users as stored_users

PAGE_SIZE = 100
# The retention item of a person (lifecycle.privacy.retention.PERSON), kept here to avoid an import cycle.
PERSON_RETENTION = "person#"


@dataclass(frozen=True)
class Subject:
    """A data subject: their normalised address, person key, owned accounts and memberships."""

    email: str
    person_key: str
    owned: tuple[Account, ...]
    memberships: tuple[User, ...]

    @property
    def user_ids(self) -> frozenset[tuple[str, str]]:
        """(account id, user id) of each membership."""
        return frozenset((user.account_id, user.user_id) for user in self.memberships)

    @property
    def account_ids(self) -> frozenset[str]:
        """Every account the subject owns or is a user of."""
        return frozenset({account.id for account in self.owned} | {user.account_id for user in self.memberships})


@dataclass(frozen=True)
class Held:
    """One item holding the subject's personal data; ``relation`` says why it is theirs."""

    model: type[Model]
    item: Model
    relation: str  # "owner", "user", "addressee", "person"


def find(email: str, settings: Settings) -> Subject:
    """R-GDPR-3: who ``email`` is in the service (consistent reads of every item found)."""
    address = privacy.normalised(email)
    return Subject(
        email=address,
        person_key=privacy.person_key(address, settings),
        owned=tuple(_owned(address)),
        memberships=tuple(_memberships(address)),
    )


def _owned(address: str) -> Iterator[Account]:
    keys = [key.id for key in stored_accounts.keys_by_owner_email(registration.canonical_email(address))]
    for account in Account.batch_get(sorted(set(keys)), consistent_read=True) if keys else ():
        # The exact address decides (the index is by canonical address); a masked one is nobody's.
        if _same_address(account.owner_email, address):
            yield account


def _memberships(address: str) -> Iterator[User]:
    forms = registration.stored_forms(address)
    keys = [(key.account_id, key.user_id) for form in forms for key in stored_users.keys_by_email(form)]
    for user in User.batch_get(sorted(set(keys)), consistent_read=True) if keys else ():
        # The index lags behind writes: a user whose address was just rectified is not this one.
        if user.email in forms:
            yield user


# ---------------------------------------------------------------- holdings


def holdings(subject: Subject) -> Iterator[Held]:
    """Every item holding the subject's personal data, table by table (Query and Get only)."""
    for account in subject.owned:
        yield from _of_owned_account(account)
    owned_ids = {account.id for account in subject.owned}
    for user in subject.memberships:
        yield from _of_membership(subject, user, owned=user.account_id in owned_ids)
    yield from _as_person(subject)


def _of_owned_account(account: Account) -> Iterator[Held]:
    yield Held(Account, account, "owner")
    for version in stored_billing_details.of_account(account.id, PAGE_SIZE):
        yield Held(BillingDetailsVersion, version, "owner")
    for invoice in stored_invoices.of_account(account.id, PAGE_SIZE):
        yield Held(Invoice, invoice, "owner")
    for request in stored_custom_requests.of_account(account.id, PAGE_SIZE):
        yield Held(CustomRequest, request, "owner")


def _of_membership(subject: Subject, user: User, owned: bool) -> Iterator[Held]:
    account_id, user_id = user.account_id, user.user_id
    yield Held(User, user, "user")
    for session in stored_sessions.of_user(account_id, user_id, PAGE_SIZE):
        yield Held(Session, session, "user")
    for detection in stored_detections.naming(account_id, user_id, PAGE_SIZE):
        yield Held(SharedLoginDetection, detection, "user")
    for event in audit_events.by_actor(account_id, user_id, PAGE_SIZE):
        yield Held(AuditEvent, event, "user")
    for notice in stored_notifications.of_account(account_id, PAGE_SIZE):
        if _same_address(notice.to, subject.email):
            yield Held(Notification, notice, "addressee")
    if not owned:  # an owner's are yielded whole with the account
        for version in stored_billing_details.of_account(account_id, PAGE_SIZE):
            if _same_address(version.email, subject.email):
                yield Held(BillingDetailsVersion, version, "addressee")
        for invoice in stored_invoices.of_account(account_id, PAGE_SIZE):
            details = invoice.billing_details or {}
            if _same_address(details.get("email"), subject.email):
                yield Held(Invoice, invoice, "addressee")
    claim = _claim(registration.user_email_claim(account_id, str(user.email)), account_id)
    if claim is not None:
        yield Held(Claim, claim, "user")


def _as_person(subject: Subject) -> Iterator[Held]:
    for consent in stored_privacy.consents_of(subject.person_key):
        yield Held(Consent, consent, "person")
    request_ids = [key.id for key in stored_privacy.request_keys_of_person(subject.person_key)]
    for request in PrivacyRequest.batch_get(sorted(set(request_ids)), consistent_read=True) if request_ids else ():
        yield Held(PrivacyRequest, request, "person")
    for notice in stored_notifications.of_account(privacy.PERSON_NOTICES + subject.person_key, PAGE_SIZE):
        yield Held(Notification, notice, "person")
    retention = _retention_item(subject.person_key)
    if retention is not None:
        yield Held(RetentionItem, retention, "person")
    for account in subject.owned:
        claim = _claim(registration.owner_email_claim(str(account.owner_email)), account.id)
        if claim is not None:
            yield Held(Claim, claim, "owner")


def _retention_item(person_key: str) -> RetentionItem | None:
    try:
        return RetentionItem.get(PERSON_RETENTION + person_key, consistent_read=True)
    except DoesNotExist:
        return None


def _claim(key: str, account_id: str) -> Claim | None:
    try:
        claim = Claim.get(key, consistent_read=True)
    except DoesNotExist:
        return None
    return claim if claim.account_id == account_id else None


def _same_address(value: object, address: str) -> bool:
    if not isinstance(value, str) or "@" not in value:
        return False
    try:
        return privacy.normalised(value) == address
    except ValueError:
        return False

"""Consent records (R-GDPR-1) and data subject requests (R-GDPR-3..10).

Both are kept per **person**, not per account: a person is found by ``person_key``, a
keyed hash of their normalised email (``lifecycle.privacy.privacy.person_key``), so the keys
themselves name nobody and a non-customer (who has no account) has records too.
"""

from __future__ import annotations

from collections.abc import Iterator

from pynamodb.attributes import JSONAttribute, ListAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection

from lifecycle.storage.base import LeanModel


class Consent(LeanModel):
    """One item per person and purpose (``marketing``, ``customer_service``, ``profiling``),
    plus one ``restriction`` item per person (R-GDPR-6). The current state is in the
    attributes; ``history`` keeps every given / withdrawn / objected step as evidence."""

    class Meta:
        table_name = "consents"

    person_key = UnicodeAttribute(hash_key=True)
    purpose = UnicodeAttribute(range_key=True)
    # Where the person is written to (marketing): personal data, erased with the person.
    email = UnicodeAttribute(null=True)
    # The account the consent was given with (signup, redemption), if any.
    account_id = UnicodeAttribute(null=True)
    given_at = UTCDateTimeAttribute(null=True)
    given_source = UnicodeAttribute(null=True)  # "signup", "redemption", "privacy_request", ...
    text_version = UnicodeAttribute(null=True)  # the consent text the person agreed to
    withdrawn_at = UTCDateTimeAttribute(null=True)
    withdrawn_how = UnicodeAttribute(null=True)  # "unsubscribe", "request:<id>"
    objected_at = UTCDateTimeAttribute(null=True)  # R-GDPR-8
    objected_how = UnicodeAttribute(null=True)
    restricted_at = UTCDateTimeAttribute(null=True)  # R-GDPR-6 (on the "restriction" item)
    restricted_how = UnicodeAttribute(null=True)
    # [{"at", "action", "how"/"source", "text_version", "account_id"}], oldest first. A list
    # (not JSON text) so each step is appended by the write that makes it (``list_append``),
    # inside a transaction and without reading the item first (lifecycle.privacy.consents).
    history = ListAttribute(default=list)  # type: ignore[var-annotated]


class RequestsByStatusIndex(GlobalSecondaryIndex["PrivacyRequest"]):  # type: ignore[no-untyped-call]  # pynamodb
    """Staff's list: requests in one status, oldest first."""

    class Meta:
        index_name = "by-status"
        projection = AllProjection()

    status = UnicodeAttribute(hash_key=True)
    received_at = UTCDateTimeAttribute(range_key=True)


class RequestsByPersonIndex(GlobalSecondaryIndex["PrivacyRequest"]):  # type: ignore[no-untyped-call]  # pynamodb
    """A person's requests (an export includes them; an erasure masks them)."""

    class Meta:
        index_name = "by-person"
        projection = KeysOnlyProjection()

    person_key = UnicodeAttribute(hash_key=True)
    received_at = UTCDateTimeAttribute(range_key=True)


class RequestsOverdueIndex(GlobalSecondaryIndex["PrivacyRequest"]):  # type: ignore[no-untyped-call]  # pynamodb
    """Sparse: open requests not yet escalated, by their due date (R-GDPR-10's sweep)."""

    class Meta:
        index_name = "overdue-due"
        projection = KeysOnlyProjection()

    escalation_shard = UnicodeAttribute(hash_key=True)
    due_at = UTCDateTimeAttribute(range_key=True)


class PrivacyRequest(LeanModel):
    """A data subject request (R-GDPR-10): received → verified → in_progress → completed |
    rejected, due 30 days after receipt; every step is appended to ``history``."""

    class Meta:
        table_name = "privacy-requests"

    id = UnicodeAttribute(hash_key=True)  # "dsr_<hex>"
    type = UnicodeAttribute()
    status = UnicodeAttribute()
    # The subject's address as given; masked (replaced by "erased") after an erasure.
    email = UnicodeAttribute()
    person_key = UnicodeAttribute()
    # What the subject wrote (free text or an object), and the typed parts of it.
    details = JSONAttribute(null=True)
    purposes = ListAttribute(of=UnicodeAttribute, null=True)
    corrections = JSONAttribute(null=True)
    received_at = UTCDateTimeAttribute()
    due_at = UTCDateTimeAttribute()
    verified_at = UTCDateTimeAttribute(null=True)
    verified_by = UnicodeAttribute(null=True)  # "email_link" or a staff user id
    started_at = UTCDateTimeAttribute(null=True)
    completed_at = UTCDateTimeAttribute(null=True)
    rejected_at = UTCDateTimeAttribute(null=True)
    reject_reason = UnicodeAttribute(null=True)
    escalated_at = UTCDateTimeAttribute(null=True)
    # Sparse: set while the request is open and not escalated (``overdue-due``).
    escalation_shard = UnicodeAttribute(null=True)
    # What the completion did (the action's result document).
    result = JSONAttribute(null=True)
    # Access/portability: the export's object key, when its link expires, when it was fetched.
    export_key = UnicodeAttribute(null=True)
    export_expires_at = UTCDateTimeAttribute(null=True)
    export_downloaded_at = UTCDateTimeAttribute(null=True)
    # [{"at", "step", "actor", "note"}], oldest first (R-GDPR-10: every step audited).
    history = JSONAttribute(default=list)

    by_status = RequestsByStatusIndex()
    by_person = RequestsByPersonIndex()
    overdue_due = RequestsOverdueIndex()


def consents_of(person_key: str) -> Iterator[Consent]:
    """The person's consent items, one per purpose (one consistent Query)."""
    return Consent.query(person_key, consistent_read=True)


def request_keys_of_person(person_key: str) -> Iterator[PrivacyRequest]:
    """Keys of the person's data subject requests (the ``by-person`` index: eventually
    consistent, keys only; read each request again)."""
    return PrivacyRequest.by_person.query(person_key)


def requests_in_status(status: str, limit: int) -> Iterator[PrivacyRequest]:
    """Requests in ``status``, oldest first, at most ``limit`` (the ``by-status`` index)."""
    return PrivacyRequest.by_status.query(status, limit=limit, page_size=limit)

"""The CustomRequests table: customers' requests for custom development (R-CUSTOM-1).

A request is ``requested`` until staff approve it (with the agreed specification and
the price agreed in advance) or refuse it (with a reason); each decision is a
conditional update, so a request is decided once. While undecided it carries
``awaiting_decision``, which puts it into the sparse index staff work through.
"""

from __future__ import annotations

from collections.abc import Iterator

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from lifecycle.storage.base import LeanModel

REQUESTED = "requested"


class AccountRequestsIndex(GlobalSecondaryIndex["CustomRequest"]):  # type: ignore[no-untyped-call]  # pynamodb
    """An account's requests by filing time, for its owner."""

    class Meta:
        index_name = "by-account"
        projection = AllProjection()

    account_id = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


class AwaitingDecisionIndex(GlobalSecondaryIndex["CustomRequest"]):  # type: ignore[no-untyped-call]  # pynamodb
    """Sparse: only undecided requests carry ``awaiting_decision`` (= "requested"), oldest first."""

    class Meta:
        index_name = "awaiting-decision"
        projection = AllProjection()

    awaiting_decision = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


class CustomRequest(LeanModel):
    class Meta:
        table_name = "custom-requests"

    id = UnicodeAttribute(hash_key=True)
    account_id = UnicodeAttribute()
    title = UnicodeAttribute()
    description = UnicodeAttribute()
    status = UnicodeAttribute()  # requested → approved | refused
    # The Terms: the results of custom development are the vendor's exclusive property.
    results_owner = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    created_by = UnicodeAttribute()
    awaiting_decision = UnicodeAttribute(null=True)
    decided_at = UTCDateTimeAttribute(null=True)
    decided_by = UnicodeAttribute(null=True)
    # Approved: the agreed specification and the price agreed in advance, in cents.
    specification = UnicodeAttribute(null=True)
    price_amount = NumberAttribute(null=True)
    price_currency = UnicodeAttribute(null=True)
    # Refused: the staff's reason, as the owner is told it.
    refusal_reason = UnicodeAttribute(null=True)

    by_account = AccountRequestsIndex()
    awaiting = AwaitingDecisionIndex()


def newest_of_account(account_id: str, limit: int) -> Iterator[CustomRequest]:
    """The account's requests, newest first, at most ``limit`` (the ``by-account`` index)."""
    return CustomRequest.by_account.query(account_id, scan_index_forward=False, limit=limit)


def awaiting_decision(limit: int) -> Iterator[CustomRequest]:
    """Undecided requests, oldest first, at most ``limit`` (the sparse ``awaiting-decision`` index)."""
    return CustomRequest.awaiting.query(REQUESTED, limit=limit, page_size=limit)


def of_account(account_id: str, page_size: int) -> Iterator[CustomRequest]:
    """The account's requests: ids from the ``by-account`` index, confirmed by consistent
    BatchGetItems of ``page_size``. The index lags behind deletes, so a request it still
    shows is not yielded once gone; nor is one yielded twice."""
    ids = [request.id for request in CustomRequest.by_account.query(account_id, page_size=page_size)]
    for start in range(0, len(ids), page_size):
        yield from CustomRequest.batch_get(ids[start : start + page_size], consistent_read=True)

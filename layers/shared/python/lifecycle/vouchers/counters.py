"""A campaign's redeemed count and abuse signals (R-VOUCH-1, R-VOUCH-2), from the Vouchers
table's stream, off the redemption's path: a redemption writes only its own code's item.

A record counts when it sets a code's ``redeemed_at`` (redeemed +1) or raises its
``reuse_attempts`` (abuse signals + the increase). Delivery is at least once; each counted
record leaves a marker (``counted#<eventID>`` in the Claims table, expiring after the stream's
24 h) in the same transaction as its campaign's ADD, so a record delivered again counts once.
A batch's records are counted per campaign, up to 99 markers and the one counter update per
transaction; a transaction cancelled by markers that exist drops exactly those records.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import groupby
from typing import Any

from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from pynamodb.transactions import TransactWrite

from lifecycle.core.observability import logger
from lifecycle.storage import Campaign, Claim
from lifecycle.storage.claims import COUNTED
from lifecycle.storage.transactions import Outcome, try_commit

# TransactWriteItems takes at most 100 items: the markers and the campaign's update.
MARKERS_PER_TRANSACTION = 99
# A marker outlives every delivery of its record: the stream keeps records 24 h, Lambda
# retries no record older than that (MaximumRecordAgeInSeconds), and TTL deletes only later.
MARKER_LIFETIME = timedelta(days=2)
CAMPAIGN = "update:campaign"
MARKER = "counted:"


class UncountableRecord(ValueError):
    """A stream record that is not a Vouchers change this counter can read."""


@dataclass(frozen=True)
class Change:
    """What one stream record adds to its campaign's counts."""

    record: str  # the record's sequence number: its itemIdentifier in a partial batch response
    event_id: str
    campaign_id: str
    account_id: str
    redeemed: int
    abuse_signals: int
    created: datetime


def _number(image: Mapping[str, Any], name: str) -> int:
    """A counter of an image (Powertools reads DynamoDB numbers as ``Decimal``), 0 when absent."""
    value = image.get(name)
    if value is None:
        return 0
    try:
        return int(Decimal(value))
    except (ArithmeticError, TypeError, ValueError) as exc:  # a string, NaN, Infinity
        raise UncountableRecord(f"{name} is not a number") from exc


def change_of(record: Mapping[str, Any]) -> Change | None:
    """The change a record of Lambda's DynamoDB event makes to its campaign's counts; None
    when it makes none (an import, a revocation, the purge unlinking an account, a removal).
    Raises ``UncountableRecord`` for a record that says none of these things readably."""
    try:
        parsed = DynamoDBRecord(dict(record))
        event_name = record.get("eventName")
        stream = parsed.dynamodb
        if stream is None or not record.get("eventID") or not stream.sequence_number:
            raise UncountableRecord("a stream record has an eventID, a SequenceNumber and its images")
        if event_name not in {"INSERT", "MODIFY", "REMOVE"}:
            raise UncountableRecord(f"unknown eventName {event_name!r}")
        if event_name != "MODIFY":
            return None
        old, new = stream.old_image, stream.new_image
        created = stream.approximate_creation_date_time
    except UncountableRecord:
        raise
    except (ArithmeticError, AttributeError, KeyError, TypeError, ValueError) as exc:  # not DynamoDB JSON
        raise UncountableRecord(f"unreadable record: {exc!r}") from exc
    redeemed = int(old.get("redeemed_at") is None and new.get("redeemed_at") is not None)
    abuse_signals = max(0, _number(new, "reuse_attempts") - _number(old, "reuse_attempts"))
    if not (redeemed or abuse_signals):
        return None
    campaign_id = new.get("campaign_id")
    if not isinstance(campaign_id, str) or not campaign_id:
        raise UncountableRecord("the code's new image has no campaign_id")
    if created is None:
        raise UncountableRecord("the record has no ApproximateCreationDateTime")
    account_id = new.get("account_id")
    return Change(
        record=str(stream.sequence_number),
        event_id=str(record["eventID"]),
        campaign_id=campaign_id,
        account_id=account_id if isinstance(account_id, str) else "",
        redeemed=redeemed,
        abuse_signals=abuse_signals,
        created=datetime.fromtimestamp(created, UTC),
    )


def count(changes: Iterable[Change], now: datetime) -> set[str]:
    """Add ``changes`` to their campaigns' counts, each once ever: the records (sequence numbers)
    not counted for want of DynamoDB (to be delivered again), none when all are counted."""
    failed: set[str] = set()
    by_campaign = sorted(changes, key=lambda change: change.campaign_id)
    for campaign_id, group in groupby(by_campaign, key=lambda change: change.campaign_id):
        ordered = list(group)
        for start in range(0, len(ordered), MARKERS_PER_TRANSACTION):
            chunk = ordered[start : start + MARKERS_PER_TRANSACTION]
            try:
                _count_chunk(campaign_id, chunk, now)
            except Exception:  # throttled, conflicts outlasting retries, an outage: delivered again
                logger.exception("campaign counts not committed", extra={"campaign_id": campaign_id})
                failed.update(change.record for change in chunk)
    return failed


def _count_chunk(campaign_id: str, chunk: list[Change], now: datetime) -> None:
    """One transaction of markers and the campaign's ADD; records whose marker exists (counted
    by an earlier delivery) are dropped and the rest committed again."""
    pending = {change.event_id: change for change in chunk}
    while pending:
        failed = try_commit(lambda tx, outcome: _build(tx, outcome, campaign_id, list(pending.values()), now))
        if not failed:
            return
        seen = {label.removeprefix(MARKER) for label in failed if label.startswith(MARKER)}
        if not seen:  # only the campaign's condition failed: its item is gone, nothing to count on
            logger.warning(
                "counts for a campaign whose item is missing; not counted", extra={"campaign_id": campaign_id}
            )
            return
        for event_id in seen:
            pending.pop(event_id, None)


def _build(tx: TransactWrite, outcome: Outcome, campaign_id: str, changes: list[Change], now: datetime) -> None:
    for change in changes:
        marker = Claim(
            COUNTED + change.event_id,
            account_id=change.account_id,
            claimed_at=now,
            ref=campaign_id,
            # From the record's own time, as the stream's retention is (not the service's clock).
            expires_at=change.created + MARKER_LIFETIME,
        )
        outcome.put(tx, MARKER + change.event_id, marker, Claim.claim.does_not_exist())
    tx.update(
        Campaign(campaign_id),
        actions=[
            Campaign.codes_redeemed.add(sum(change.redeemed for change in changes)),
            Campaign.abuse_signals.add(sum(change.abuse_signals for change in changes)),
            Campaign.counted_through.set(max(change.created for change in changes)),
        ],
        condition=Campaign.id.exists(),
    )
    outcome.labels.append(CAMPAIGN)

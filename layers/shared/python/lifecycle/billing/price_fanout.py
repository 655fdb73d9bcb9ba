"""The fan-out of a scheduled price change (R-PAY-9): every owner of the plan gets one
``price_change_notice`` record, committed after ``POST /admin/prices`` answered.

The Prices table's stream starts it as soon as the change is saved (an INSERT), and the
``price-fanout`` schedule resumes any change whose fan-out stalled (its run timed out or
crashed) from the cursor stored on the change; both call ``fan_out``. Owners come from the
sparse ``by-price`` index a page at a time, read with one BatchGetItem per page. Per owner one
transaction: the notice record, the owner's ``price_notices_unsent`` ADD (condition: still an
owner of that plan) and the claim ``price-notice#<change>#<account>`` (condition: not held),
so two runs over the same owners record each notice once. The cursor and ``notified_accounts``
move once per page; the last page ends the fan-out. Sending is the notifier's (the record is
unsent until then). docs/ARCHITECTURE.md "Corrections and price changes".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import DoesNotExist
from pynamodb.transactions import TransactWrite

from lifecycle import notifications
from lifecycle.core import clock, notices
from lifecycle.core.money import Money
from lifecycle.core.observability import logger
from lifecycle.core.plans import PLAN_NAMES
from lifecycle.core.settings import Settings, get_settings
from lifecycle.entry.sweeps import SweepRequest, SweepSummary, due_in, run_sweep
from lifecycle.storage import Account, Claim, Notification, PriceChange
from lifecycle.storage.accounts import ENDED
from lifecycle.storage.base import update_if
from lifecycle.storage.claims import price_notice_claim
from lifecycle.storage.transactions import Outcome, try_commit

FANOUT_SWEEP = "price-fanout"
# Keys per page of the by-price index: one BatchGetItem (at most 100 keys) reads the page.
OWNERS_PAGE = 100
# A fan-out a run moved on within this long is that run's; older, the run stopped and the
# schedule resumes it. A page takes about a second, so a live run is never this late.
STALLED_AFTER = timedelta(minutes=2)
PENDING_PAGE = 25
PER_PERIOD = {"monthly": "per seat a month", "annual": "per seat a year"}


@dataclass(frozen=True)
class FanoutResult:
    """What one run did: the owners whose notice it recorded, whether it finished, and the
    owners whose transaction raised (the run stopped before their page)."""

    recorded: int
    complete: bool
    failed: int = 0


def fan_out(change: PriceChange, remaining_ms: Callable[[], int], settings: Settings | None = None) -> FanoutResult:
    """Record the notice of every owner not notified yet, from the change's cursor on, while
    more than ``sweep_time_margin_ms`` of the invocation remains (module doc)."""
    settings = settings or get_settings()
    if change.fanout_complete:
        return FanoutResult(0, True)
    facts = _facts(change)
    cursor: dict[str, Any] | None = change.fanout_cursor
    recorded = 0
    while True:
        if remaining_ms() < settings.sweep_time_margin_ms:
            # Handed on: the schedule resumes it at its next run, not after STALLED_AFTER.
            update_if(change, [PriceChange.fanout_progress_at.remove()], PriceChange.fanout_pending.exists())
            return FanoutResult(recorded, False)
        page = Account.by_price.query(
            change.price_key, limit=OWNERS_PAGE, page_size=OWNERS_PAGE, last_evaluated_key=cursor
        )
        ids = [found.id for found in page]
        after = page.last_evaluated_key
        owners = {account.id: account for account in Account.batch_get(ids, consistent_read=True)} if ids else {}
        now = clock.now()
        page_recorded = failed = 0
        for account_id in ids:
            account = owners.get(account_id)
            if account is None or not _is_owner(account, change.price_key):
                continue  # the index is eventually consistent: it moved plan, ended or went
            try:
                page_recorded += _record(change, account, facts, now)
            except Exception:
                # Only keys are logged: the account holds personal data.
                logger.exception("price notice not recorded", extra={"price_change_id": change.id})
                failed += 1
        recorded += page_recorded
        if failed:
            # The cursor stays before this page: a later run records what failed (the rest is claimed).
            _moved_on(change, cursor, page_recorded, now)
            return FanoutResult(recorded, False, failed)
        if after is None:
            _completed(change, page_recorded, now)
            logger.info("price change fanned out", extra={"price_change_id": change.id, "recorded": recorded})
            return FanoutResult(recorded, True)
        _moved_on(change, after, page_recorded, now)
        cursor = after


def _facts(change: PriceChange) -> dict[str, object]:
    per = PER_PERIOD[change.billing_period]
    previous = Money(amount=int(change.previous_amount), currency=change.currency)
    price = Money(amount=int(change.amount), currency=change.currency)
    return {
        "plan": PLAN_NAMES.get(change.plan, change.plan),
        "effective_at": change.effective_at,
        "new_price": f"{notices.plain(price)} {per}",
        "old_price": f"{notices.plain(previous)} {per}",
    }


def _is_owner(account: Account, price_key: str) -> bool:
    return (
        account.price_key == price_key
        and not account.lifetime
        and account.status not in ENDED
        and bool(account.owner_email)
    )


def _record(change: PriceChange, account: Account, facts: dict[str, object], now: datetime) -> bool:
    """One owner's notice, in one transaction (module doc): True if recorded now, False if
    another run recorded it already or the account stopped being an owner meanwhile."""
    assert account.owner_email is not None  # _is_owner
    notice = notifications.compose(account.id, "price_change_notice", account.owner_email, now, **facts)
    notice.price_change_id = change.id
    claim = Claim(price_notice_claim(change.id, account.id), account_id=account.id, claimed_at=now, ref=notice.id)

    def build(tx: TransactWrite, outcome: Outcome) -> None:
        outcome.put(tx, "notice", notice, Notification.notification_key.does_not_exist())
        outcome.put(tx, "claim", claim, Claim.claim.does_not_exist())
        tx.update(
            Account(account.id),
            actions=[Account.price_notices_unsent.add({change.id})],
            condition=(
                Account.id.exists()
                & (Account.price_key == change.price_key)
                & ~Account.status.is_in(*ENDED)
                & (Account.lifetime.does_not_exist() | (Account.lifetime == False))  # noqa: E712 - pynamodb condition
            ),
        )
        outcome.labels.append("update:account")

    return not try_commit(build)


def _moved_on(change: PriceChange, cursor: dict[str, Any] | None, recorded: int, now: datetime) -> None:
    """The page's one write: the cursor, the owners it recorded, and that a run is moving it."""
    moved = update_if(
        change,
        [
            PriceChange.fanout_cursor.set(cursor) if cursor is not None else PriceChange.fanout_cursor.remove(),
            PriceChange.fanout_progress_at.set(now),
            PriceChange.notified_accounts.add(recorded),
        ],
        PriceChange.fanout_pending.exists(),
    )
    if not moved:
        _count_only(change, recorded)


def _completed(change: PriceChange, recorded: int, now: datetime) -> None:
    done = update_if(
        change,
        [
            PriceChange.fanout_pending.remove(),
            PriceChange.fanout_cursor.remove(),
            PriceChange.fanout_progress_at.remove(),
            PriceChange.fanout_completed_at.set(now),
            PriceChange.notified_accounts.add(recorded),
        ],
        PriceChange.fanout_pending.exists(),
    )
    if not done:
        _count_only(change, recorded)


def _count_only(change: PriceChange, recorded: int) -> None:
    # Another run finished it meanwhile; owners this run recorded still count (they joined the plan late).
    if recorded:
        update_if(change, [PriceChange.notified_accounts.add(recorded)], PriceChange.price_key.exists())


# ---------------------------------------------------------------- starting and resuming


def on_saved(
    price_key: str, effective_at: datetime, remaining_ms: Callable[[], int], settings: Settings
) -> FanoutResult:
    """A change just saved (its stream INSERT): fan it out now."""
    try:
        change = PriceChange.get(price_key, effective_at, consistent_read=True)
    except DoesNotExist:
        return FanoutResult(0, True)
    return fan_out(change, remaining_ms, settings)


def resume_stalled(
    request: SweepRequest, now: datetime, remaining_ms: Callable[[], int], settings: Settings
) -> SweepSummary:
    """The ``price-fanout`` schedule: each change of the sparse ``fanout-pending`` index no run
    moved on within ``STALLED_AFTER`` is fanned out from its cursor. ``changed`` counts the
    changes it moved on."""

    def act(due: PriceChange) -> bool:
        try:
            change = PriceChange.get(due.price_key, due.effective_at, consistent_read=True)
        except DoesNotExist:
            return False
        moved = change.fanout_progress_at
        if change.fanout_complete or (moved is not None and moved > now - STALLED_AFTER):
            return False
        result = fan_out(change, remaining_ms, settings)
        if result.failed:
            # Counted in the run's ``errors`` (and its alarm); the change stays pending.
            raise RuntimeError(f"{result.failed} owners' price notices not recorded")
        return result.recorded > 0 or result.complete

    return run_sweep(
        shards=settings.sweep_shards,
        query_due=due_in(PriceChange.fanout_pending_index, PriceChange.scheduled_at <= now, PENDING_PAGE),
        act=act,
        request=request,
        remaining_ms=remaining_ms,
        margin_ms=settings.sweep_time_margin_ms,
    )


def stream_keys(event: dict[str, Any]) -> list[tuple[str, datetime]]:
    """The keys of the changes a Prices stream batch inserted (its other records are the
    fan-out's own progress)."""
    keys = []
    for record in event.get("Records", []):
        if record.get("eventName") != "INSERT":
            continue
        stored = record.get("dynamodb", {}).get("Keys", {})
        effective_at = PriceChange.effective_at.deserialize(stored["effective_at"]["S"])  # type: ignore[no-untyped-call]  # pynamodb
        keys.append((stored["price_key"]["S"], effective_at))
    return keys

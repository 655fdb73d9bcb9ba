"""Shared-login detection (R-USE-1) and the monthly shared-login fee (R-USE-2): more than
``shared_login_max_devices`` devices of one user within ``shared_login_window_minutes`` make a detection
day; ``shared_login_days_per_period`` such days in a fee month mark the month's fee once, with the
owner's notice. Fee months are the monthly periods anchored at the midnight of the account's creation
day (``fee_month``): whole UTC days, so a detection day lies in exactly one. docs/ARCHITECTURE.md
"Shared logins".
"""

from __future__ import annotations

import ipaddress
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from lifecycle import notifications
from lifecycle.accounts import audit
from lifecycle.core import clock, errors
from lifecycle.core.auth import Principal, require_member
from lifecycle.core.billing_periods import Period, midnight, monthly_period
from lifecycle.core.money import Money
from lifecycle.core.observability import logger
from lifecycle.core.settings import Settings
from lifecycle.storage import Account, Notification, Session, SharedLoginDetection, User, transactions
from lifecycle.storage import sessions as stored_sessions
from lifecycle.storage import shared_logins as stored_detections
from lifecycle.storage.base import put_if
from lifecycle.storage.shared_logins import DETECTION, FEE

PENDING, WAIVED = "pending", "waived"
FEE_WAIVED = "shared_login_fee_waived"
UNKNOWN_NETWORK = "unknown"
# The instant in the Sessions sort key "<user_id>#<instant>#<uuid>", as lifecycle.usage.activity writes it.
SESSION_KEY_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"
PERIOD_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
LIST_LIMIT = 500
CONFLICT_RETRIES = 3

Item = SharedLoginDetection


# ---------------------------------------------------------------- detection (R-USE-1)


@dataclass(frozen=True)
class ConcurrentUse:
    devices: frozenset[str]
    networks: frozenset[str]
    first_seen: datetime


def network_of(ip: str, settings: Settings) -> str:
    """The address's network (``203.0.113.0/24``, ``2001:db8:1::/48``); the address is not kept."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return UNKNOWN_NETWORK
    bits = settings.shared_login_ipv4_prefix if address.version == 4 else settings.shared_login_ipv6_prefix
    return str(ipaddress.ip_network(f"{address}/{bits}", strict=False))


def concurrent_use(sessions: list[Session], settings: Settings) -> ConcurrentUse | None:
    """R-USE-1: more distinct devices in one window than one person's allowance, else None."""
    devices = frozenset(session.device_id for session in sessions)
    if len(devices) <= settings.shared_login_max_devices:
        return None
    networks = frozenset(network_of(session.ip, settings) for session in sessions)
    return ConcurrentUse(devices, networks, min(session.at for session in sessions))


def _window(account_id: str, user_id: str, now: datetime, settings: Settings) -> list[Session]:
    """The user's sessions of the last window, this one included: one Query on the sort key.

    Strongly consistent, so of concurrent activities the last to store its session sees all.
    """
    since = now - timedelta(minutes=settings.shared_login_window_minutes)
    low = f"{user_id}#{since.strftime(SESSION_KEY_TIME)}"
    high = f"{user_id}#{now.strftime(SESSION_KEY_TIME)}#~"  # "~" sorts after every uuid
    return list(stored_sessions.between(account_id, low, high))


def observe(account: Account, user_id: str, now: datetime, settings: Settings) -> None:
    """R-USE-1, R-USE-2: after ``activity.record`` stored the user's session.

    A new detection day counts the user's days in the period; reaching the setting marks the
    period's fee and notifies the owner, both once per period.
    """
    found = concurrent_use(_window(account.id, user_id, now, settings), settings)
    if found is None:
        return
    period = fee_month(account, now)
    if not _record_day(account.id, period, user_id, found, now):
        return  # the day was detected already: it counts once
    days = _detection_days(account.id, period.key, user_id)
    if len(days) >= settings.shared_login_days_per_period:
        _mark_fee(account, period, user_id, days, now, settings)


def fee_month(account: Account, at: datetime) -> Period:
    """R-USE-1, R-USE-2: the fee month containing ``at``, monthly from the midnight of the
    account's creation day (Jan 31 → Feb 28/29 → Mar 31), whatever the plan's billing period
    (the Terms' fee is monthly). Billing periods start at the instant paid; fee months start at
    midnight so that a UTC detection day falls in exactly one, and their keys (``Period.key``,
    ``YYYY-MM-DD``) are those stored before."""
    return monthly_period(midnight(account.created_at), at)


def _day_key(period_key: str, user_id: str, day: date) -> str:
    return f"{period_key}#{user_id}#{day.isoformat()}"


def _fee_key(period_key: str) -> str:
    return f"{period_key}#{FEE}"


def _record_day(account_id: str, period: Period, user_id: str, found: ConcurrentUse, now: datetime) -> bool:
    """The day's evidence; True if this is the user's first concurrent use that UTC day."""
    day = now.astimezone(UTC).date()
    key = _day_key(period.key, user_id, day)
    devices, networks = set(found.devices), set(found.networks)
    if put_if(
        Item(
            account_id,
            key,
            kind=DETECTION,
            period_start=period.starts_at,
            period_end=period.ends_at,
            user_id=user_id,
            day=day.isoformat(),
            first_seen=found.first_seen,
            last_seen=now,
            windows=1,
            devices=devices,
            networks=networks,
        ),
        Item.detection_key.does_not_exist(),
    ):
        return True
    Item(account_id, key).update(
        actions=[
            Item.devices.add(devices),
            Item.networks.add(networks),
            Item.last_seen.set(now),
            Item.windows.add(1),
        ]
    )
    return False


def _detection_days(account_id: str, period_key: str, user_id: str) -> list[SharedLoginDetection]:
    prefix = f"{period_key}#{user_id}#"
    return list(stored_detections.keyed_from(account_id, prefix))


# ---------------------------------------------------------------- the fee (R-USE-2)


def _transact(build: Callable[[TransactWrite], None]) -> bool:
    """Commit; False when a condition failed. A conflict with a concurrent transaction is retried."""
    for attempt in range(CONFLICT_RETRIES + 1):
        try:
            with TransactWrite(connection=transactions.connection()) as tx:
                build(tx)
            return True
        except TransactWriteError as exc:
            codes = {reason.code for reason in exc.cancellation_reasons if reason is not None}
            if "ConditionalCheckFailed" in codes:
                return False
            if "TransactionConflict" not in codes or attempt == CONFLICT_RETRIES:
                raise
            time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))  # noqa: S311 - jitter, not security
    raise AssertionError("unreachable")


def _mark_fee(
    account: Account, period: Period, user_id: str, days: list[SharedLoginDetection], now: datetime, settings: Settings
) -> None:
    """R-USE-2: the period's fee, pending, with the owner's notice in the same transaction.

    The condition (no fee marked yet) makes it once per period under concurrency; a later
    shared login in the same period is only added to the fee's ``users``.
    """
    fee = Money(amount=settings.shared_login_fee_cents)
    notice = _notice(account, period, user_id, days, fee, now)
    actions: list[Action] = [
        Item.kind.set(FEE),
        Item.period_start.set(period.starts_at),
        Item.period_end.set(period.ends_at),
        Item.status.set(PENDING),
        Item.amount.set(fee.amount),
        Item.currency.set(fee.currency),
        Item.users.add({user_id}),
        Item.detection_days.set(len(days)),
        Item.marked_at.set(now),
    ]
    if notice is not None:
        actions.append(Item.notice_id.set(notice.id))

    def build(tx: TransactWrite) -> None:
        tx.update(Item(account.id, _fee_key(period.key)), actions, condition=Item.marked_at.does_not_exist())
        if notice is not None:
            tx.save(notice, condition=Notification.notification_key.does_not_exist())

    if not _transact(build):
        Item(account.id, _fee_key(period.key)).update(actions=[Item.users.add({user_id})])
        return
    logger.info("shared-login fee marked", extra={"account_id": account.id, "period": period.key})


def _notice(
    account: Account, period: Period, user_id: str, days: list[SharedLoginDetection], fee: Money, now: datetime
) -> Notification | None:
    """The owner's ``shared_login_detected`` notice, unsaved; None without an owner email."""
    if not account.owner_email:
        logger.warning("no owner email to notify", extra={"account_id": account.id})
        return None
    return notifications.compose(
        account.id,
        "shared_login_detected",
        account.owner_email,
        now,
        subdomain=account.subdomain or account.id,
        user=_name_of(account.id, user_id),
        days=len(days),
        period=_period_text(period),
        evidence="\n".join(_evidence_line(day) for day in sorted(days, key=lambda item: str(item.day))),
        fee=fee,
    )


def _name_of(account_id: str, user_id: str) -> str:
    try:
        return User.get(account_id, user_id).full_name
    except DoesNotExist:
        return user_id


def _day_text(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


def _period_text(period: Period) -> str:
    return f"{_day_text(period.starts_at.date())} to {_day_text((period.ends_at - timedelta(days=1)).date())}"


def _evidence_line(item: SharedLoginDetection) -> str:
    """One line of the notice's evidence: counts and times, no device ids or networks."""
    first, last = item.first_seen or item.period_start, item.last_seen or item.period_start
    devices, networks = len(item.devices or ()), len(item.networks or ())
    return (
        f"- {_day_text(date.fromisoformat(str(item.day)))}: {devices} devices on {networks} networks, "
        f"{first:%H:%M} to {last:%H:%M} UTC"
    )


# ---------------------------------------------------------------- what the owner sees, what staff waive


class DetectionView(BaseModel):
    """One user's concurrent use on one UTC day."""

    period: str = Field(description="the fee month's first day (its id): monthly from the account's creation day")
    user_id: str
    day: str = Field(description="the UTC day, YYYY-MM-DD")
    devices: list[str] = Field(description="the device ids active at the same time")
    networks: list[str] = Field(description="IP prefixes (/24, /48), never full addresses")
    first_seen: str
    last_seen: str
    windows: int = Field(description="activities that found concurrent use that day")

    @classmethod
    def of(cls, item: SharedLoginDetection) -> DetectionView:
        return cls(
            period=item.detection_key.split("#", 1)[0],
            user_id=str(item.user_id),
            day=str(item.day),
            devices=sorted(item.devices or ()),
            networks=sorted(item.networks or ()),
            first_seen=clock.to_iso(item.first_seen or item.period_start),
            last_seen=clock.to_iso(item.last_seen or item.period_start),
            windows=int(item.windows or 0),
        )


class FeeView(BaseModel):
    """R-USE-2: a period's shared-login fee: ``pending`` until invoiced, or ``waived`` by staff."""

    period: str = Field(description="the fee month's first day (its id): monthly from the account's creation day")
    period_start: str
    period_end: str = Field(description="the next period's start (the period excludes it)")
    amount: Money
    status: str = Field(description="pending (goes on the next invoice) or waived")
    users: list[str] = Field(description="the logins found shared in the period")
    detection_days: int
    marked_at: str
    notice_id: str | None
    waived_at: str | None
    waived_by: str | None
    waive_reason: str | None

    @classmethod
    def of(cls, item: SharedLoginDetection) -> FeeView:
        return cls(
            period=item.detection_key.split("#", 1)[0],
            period_start=clock.to_iso(item.period_start),
            period_end=clock.to_iso(item.period_end),
            amount=Money(amount=int(item.amount or 0), currency=str(item.currency)),
            status=str(item.status),
            users=sorted(item.users or ()),
            detection_days=int(item.detection_days or 0),
            marked_at=clock.to_iso(item.marked_at or item.period_start),
            notice_id=item.notice_id,
            waived_at=clock.to_iso(item.waived_at) if item.waived_at is not None else None,
            waived_by=item.waived_by,
            waive_reason=item.waive_reason,
        )


class SharedLogins(BaseModel):
    """``GET /accounts/{id}/shared-logins``: newest period first."""

    fees: list[FeeView]
    detections: list[DetectionView]


def read_for(principal: Principal, account_id: str, now: datetime) -> SharedLogins:
    """The owner's evidence and fees (R-USE-1, R-USE-2); staff reads are audited (R-USE-4)."""
    require_member(principal, account_id, roles=("owner",))
    audit.record_staff_access(principal, account_id, "shared_logins", now)
    items = list(stored_detections.newest(account_id, LIST_LIMIT))
    return SharedLogins(
        fees=[FeeView.of(item) for item in items if item.kind == FEE],
        detections=[DetectionView.of(item) for item in items if item.kind == DETECTION],
    )


class WaiveInput(BaseModel):
    """``POST /admin/accounts/{id}/shared-logins/{period}/waive``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: Annotated[str, Field(min_length=1, max_length=1000, description="kept in the audit, shown to the owner")]


def waive(account_id: str, period: str, form: WaiveInput, staff_id: str, now: datetime) -> FeeView:
    """R-USE-2: staff waive a period's pending fee, audited in the same transaction.

    Waiving a waived fee changes nothing (no second audit event); no fee is 404; a fee no
    longer pending (already invoiced) is 409.
    """
    actions: list[Action] = [
        Item.status.set(WAIVED),
        Item.waived_at.set(now),
        Item.waived_by.set(staff_id),
        Item.waive_reason.set(form.reason),
    ]
    event = audit.event(account_id, FEE_WAIVED, staff_id, now, period=period, reason=form.reason)

    def build(tx: TransactWrite) -> None:
        tx.update(Item(account_id, _fee_key(period)), actions, condition=Item.status == PENDING)
        tx.save(event)

    _transact(build)
    try:
        fee = Item.get(account_id, _fee_key(period), consistent_read=True)
    except DoesNotExist as exc:
        raise errors.NotFound("No shared-login fee for this account and period") from exc
    if fee.status != WAIVED:
        raise errors.Conflict(f"The fee is {fee.status}, no longer pending: it cannot be waived")
    return FeeView.of(fee)

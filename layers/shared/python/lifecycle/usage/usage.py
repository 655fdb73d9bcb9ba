"""Fair usage (R-FAIR-1, R-FAIR-2) and enterprise-offer flags (R-PAY-10): the help desk's usage reports,
checked against the account's limits. A month over them is flagged for staff and the owner told, once; a
month that looks like an enterprise customer's is flagged for staff, once, unless the owner objected to
profiling or is restricted (R-GDPR-8, R-GDPR-6). docs/ARCHITECTURE.md "Fair usage".
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt
from pynamodb.attributes import MapAttribute, NumberAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.update import Action

from lifecycle import notifications
from lifecycle.accounts import accounts, audit
from lifecycle.core import clock, errors
from lifecycle.core.auth import Principal, require_member
from lifecycle.core.money import div_round_half_up
from lifecycle.core.observability import logger
from lifecycle.core.settings import Settings, UsageLimits
from lifecycle.privacy import consents
from lifecycle.storage import Account, Usage
from lifecycle.storage import usage as stored_usage
from lifecycle.storage.base import update_if

PERIOD_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
LIST_LIMIT = 200
USAGE_LIMITS_CHANGED = "usage_limits_changed"
GIGABYTE = 1_000_000_000
# Bounds that keep a report inside DynamoDB's numbers and catch a reporter's unit mistakes.
MAX_COUNT = 10**12
MAX_BYTES = 10**18

Period = Annotated[str, Field(pattern=PERIOD_PATTERN, description="a calendar month in UTC, YYYY-MM")]
FlagKind = Literal["usage", "enterprise"]
Count = Annotated[StrictInt, Field(ge=0, le=MAX_COUNT)]
Bytes = Annotated[StrictInt, Field(ge=0, le=MAX_BYTES)]


class UsageReport(BaseModel):
    """``POST /admin/accounts/{id}/usage``: what the help desk saw since its last report."""

    model_config = ConfigDict(extra="forbid")

    tickets: Count = Field(default=0, description="tickets created since the last report (added to the month)")
    queries: Count = Field(default=0, description="end users' queries since the last report (added to the month)")
    storage_bytes: Bytes | None = Field(default=None, description="storage used now; absent: unchanged")
    end_users: Count | None = Field(default=None, description="end users the help desk has now; absent: unchanged")


class LimitOverrides(BaseModel):
    """``PUT /admin/accounts/{id}/usage-limits``: staff's limits for one account; null is the plan's."""

    model_config = ConfigDict(extra="forbid")

    tickets_per_month: Count | None = None
    storage_bytes: Bytes | None = None


class Counters(BaseModel):
    tickets: int
    queries: int
    storage_bytes: int | None = Field(description="as last reported this month; null until reported")
    end_users: int | None = Field(description="as last reported this month; null until reported")


class Limits(BaseModel):
    tickets_per_month: int | None = Field(description="null: unlimited")
    storage_bytes: int | None = Field(description="null: unlimited")


class UsageView(BaseModel):
    """``GET /accounts/{id}/usage``: one month's usage and the limits that apply to it."""

    account_id: str
    period: str
    plan: str
    usage: Counters
    limits: Limits = Field(description="the limits in force: staff's for this account, else the plan's")
    overrides: LimitOverrides = Field(description="staff's limits for this account; null: the plan's")
    over_limit: list[str] = Field(description="the limits the usage is above now: `tickets`, `storage`")
    flagged_at: str | None = Field(description="R-FAIR-2: when this month's crossing was flagged and notified")


class ReportView(UsageView):
    """The month after a report, with the flags staff see."""

    enterprise_flagged_at: str | None = Field(description="R-PAY-10: when this month was flagged for an offer")
    flagged: list[FlagKind] = Field(description="the flags this report raised (each is raised once a month)")


class FlagView(BaseModel):
    account_id: str
    period: str
    kind: FlagKind
    flagged_at: str
    evidence: dict[str, int] = Field(description="what crossed: the usage and the limit or threshold")
    usage: Counters = Field(description="the month's usage now")


class FlagList(BaseModel):
    items: list[FlagView]


# ---------------------------------------------------------------- limits and checks


def period_of(now: datetime) -> str:
    """The calendar month (UTC) ``now`` falls in, ``YYYY-MM``."""
    return clock.to_iso(now)[:7]


def overrides_of(account: Account) -> LimitOverrides:
    return LimitOverrides(
        tickets_per_month=_int_or_none(account.usage_limit_tickets_per_month),
        storage_bytes=_int_or_none(account.usage_limit_storage_bytes),
    )


def limits_for(account: Account, settings: Settings) -> Limits:
    """R-FAIR-1: staff's limit for the account where set, else its plan's (a plan without
    limits in the settings is unlimited)."""
    plan = settings.usage_limits.get(account.plan, UsageLimits())  # type: ignore[call-overload]  # stored Plan
    own = overrides_of(account)
    return Limits(
        tickets_per_month=own.tickets_per_month if own.tickets_per_month is not None else plan.tickets_per_month,
        storage_bytes=own.storage_bytes if own.storage_bytes is not None else plan.storage_bytes,
    )


def over_limit(usage: Usage, limits: Limits) -> list[str]:
    """R-FAIR-2: the limits the month's usage is above (reaching a limit is within it)."""
    crossed = []
    if limits.tickets_per_month is not None and int(usage.tickets) > limits.tickets_per_month:
        crossed.append("tickets")
    storage = _int_or_none(usage.storage_bytes)
    if limits.storage_bytes is not None and storage is not None and storage > limits.storage_bytes:
        crossed.append("storage")
    return crossed


def enterprise_signals(usage: Usage, agents: int, settings: Settings) -> dict[str, int]:
    """R-PAY-10: the evidence of an enterprise-sized customer, empty when there is none.

    Unusually many end users, or an unusual ratio of the month's queries to agents (the
    account's seats); the ratio is compared in integers, never as a float.
    """
    end_users = _int_or_none(usage.end_users)
    queries = int(usage.queries)
    many_end_users = end_users is not None and end_users >= settings.enterprise_end_users
    high_ratio = queries >= settings.enterprise_queries_per_agent * agents
    if not (many_end_users or high_ratio):
        return {}
    evidence = {"queries": queries, "agents": agents}
    return evidence | ({"end_users": end_users} if end_users is not None else {})


# ---------------------------------------------------------------- reports


def report(account_id: str, form: UsageReport, now: datetime, settings: Settings) -> ReportView:
    """Add a report to the account's month and raise the month's flags, each at most once."""
    account = accounts.load(account_id)
    usage = _add(account_id, period_of(now), form, now)
    limits = limits_for(account, settings)
    flagged: list[FlagKind] = []
    crossed = over_limit(usage, limits)
    if crossed and usage.usage_flagged_at is None and _flag_usage(usage, crossed, limits, now):
        flagged.append("usage")
        _notify_over_limit(account, usage, crossed, limits, now)
    agents = max(1, int(account.seats_used))
    signals = enterprise_signals(usage, agents, settings)
    if (
        signals
        and usage.enterprise_flagged_at is None
        and _may_profile(account, settings)
        and _flag_enterprise(usage, signals, now)
    ):
        flagged.append("enterprise")
        logger.info("account flagged for an enterprise offer", extra={"account_id": account_id})
    view = _view(account, usage, settings)
    return ReportView(**view.model_dump(), enterprise_flagged_at=_iso(usage.enterprise_flagged_at), flagged=flagged)


def _add(account_id: str, period: str, form: UsageReport, now: datetime) -> Usage:
    """One update: counters ADDed, levels SET; the month's item as it is after it."""
    actions: list[Action] = [
        Usage.tickets.add(form.tickets),
        Usage.queries.add(form.queries),
        Usage.reports.add(1),
        Usage.reported_at.set(now),
    ]
    if form.storage_bytes is not None:
        actions.append(Usage.storage_bytes.set(form.storage_bytes))
    if form.end_users is not None:
        actions.append(Usage.end_users.set(form.end_users))
    item = Usage(account_id, period)
    item.update(actions=actions)
    return item


def _set_once(item: Usage, actions: list[Action], flagged_at: UTCDateTimeAttribute) -> bool:
    """One conditional update that only the first of concurrent reports wins."""
    return update_if(item, actions, flagged_at.does_not_exist())


def _flag_usage(usage: Usage, crossed: list[str], limits: Limits, now: datetime) -> bool:
    """R-FAIR-2: flag the month for staff; True only for the report that set the flag."""
    evidence: dict[str, int] = {}
    if "tickets" in crossed and limits.tickets_per_month is not None:
        evidence |= {"tickets": int(usage.tickets), "tickets_per_month": limits.tickets_per_month}
    if "storage" in crossed and limits.storage_bytes is not None:
        evidence |= {"storage_bytes": int(usage.storage_bytes), "storage_bytes_limit": limits.storage_bytes}
    actions: list[Action] = [
        Usage.usage_flag_period.set(usage.period),
        Usage.usage_flagged_at.set(now),
        Usage.usage_flag_evidence.set(evidence),
    ]
    return _set_once(usage, actions, Usage.usage_flagged_at)


def _may_profile(account: Account, settings: Settings) -> bool:
    """R-GDPR-6, R-GDPR-8: the enterprise offer's analysis stops when the owner objected to
    profiling or is restricted. An account without an owner's address profiles nobody."""
    if not account.owner_email:
        return True
    reason = consents.why_not(account.owner_email, "profiling", settings)
    if reason is not None:
        logger.info("enterprise flag skipped", extra={"account_id": account.id, "reason": reason})
    return reason is None


def _flag_enterprise(usage: Usage, evidence: dict[str, int], now: datetime) -> bool:
    """R-PAY-10: flag the month for an enterprise offer; True only for the report that set it."""
    actions: list[Action] = [
        Usage.enterprise_flag_period.set(usage.period),
        Usage.enterprise_flagged_at.set(now),
        Usage.enterprise_flag_evidence.set(evidence),
    ]
    return _set_once(usage, actions, Usage.enterprise_flagged_at)


def _notify_over_limit(account: Account, usage: Usage, crossed: list[str], limits: Limits, now: datetime) -> None:
    """R-FAIR-2: the owner is told what crossed which limit."""
    if not account.owner_email:
        logger.warning("no owner email to notify", extra={"account_id": account.id, "notice_type": "usage"})
        return
    used, allowed = [], []
    if "tickets" in crossed:
        used.append(f"{int(usage.tickets):,} tickets this month")
        allowed.append(f"{limits.tickets_per_month:,} tickets a month")
    if "storage" in crossed and limits.storage_bytes is not None:
        used.append(f"{_gigabytes(int(usage.storage_bytes))} of storage")
        allowed.append(f"{_gigabytes(limits.storage_bytes)} of storage")
    notifications.notify(
        account.id,
        "usage_limit_exceeded",
        account.owner_email,
        now,
        subdomain=account.subdomain or account.id,
        usage=" and ".join(used),
        limit=" and ".join(allowed),
    )


def _gigabytes(size: int) -> str:
    """Bytes as decimal gigabytes to one place, in integers: 1250000000 → "1.3 GB"."""
    tenths = div_round_half_up(size, GIGABYTE // 10)
    whole, tenth = divmod(tenths, 10)
    return f"{whole:,} GB" if tenth == 0 else f"{whole:,}.{tenth} GB"


# ---------------------------------------------------------------- reading and staff limits


def read_for(principal: Principal, account_id: str, period: str | None, now: datetime, settings: Settings) -> UsageView:
    """``GET /accounts/{id}/usage``: the owner's; support staff's reads are audited (R-USE-4)."""
    require_member(principal, account_id, roles=("owner",))
    account = accounts.load(account_id)
    audit.record_staff_access(principal, account_id, "usage", now)
    return _view(account, _month(account_id, period or period_of(now)), settings)


def set_limits(account_id: str, form: LimitOverrides, staff_id: str, now: datetime, settings: Settings) -> UsageView:
    """R-FAIR-1: staff set the account's own limits (null: back to the plan's), without
    notice; the change is audited. The next report is checked against them."""
    actions: list[Action] = [
        _set_or_remove(Account.usage_limit_tickets_per_month, form.tickets_per_month),
        _set_or_remove(Account.usage_limit_storage_bytes, form.storage_bytes),
    ]
    account = Account(account_id)
    if not update_if(account, actions, Account.id.exists()):
        raise errors.NotFound("No such account")
    audit.event(account_id, USAGE_LIMITS_CHANGED, staff_id, now, **form.model_dump()).save()
    return _view(account, _month(account_id, period_of(now)), settings)


def _set_or_remove(attribute: NumberAttribute, value: int | None) -> Action:
    return attribute.remove() if value is None else attribute.set(value)


def list_flags(kind: FlagKind, period: str) -> FlagList:
    """Staff's list of one month's flags of ``kind``, oldest first, through its sparse index."""
    flagged = stored_usage.usage_flagged if kind == "usage" else stored_usage.enterprise_flagged
    items = [_flag_view(item, kind) for item in flagged(period, LIST_LIMIT)]
    return FlagList(items=items)


def _flag_view(item: Usage, kind: FlagKind) -> FlagView:
    flagged_at = item.usage_flagged_at if kind == "usage" else item.enterprise_flagged_at
    evidence = item.usage_flag_evidence if kind == "usage" else item.enterprise_flag_evidence
    assert flagged_at is not None  # the sparse index holds only flagged months
    return FlagView(
        account_id=item.account_id,
        period=item.period,
        kind=kind,
        flagged_at=clock.to_iso(flagged_at),
        evidence=_as_counts(evidence),
        usage=_counters(item),
    )


def _as_counts(raw: MapAttribute[str, object] | None) -> dict[str, int]:
    """A stored evidence map (numbers only) as plain ints."""
    values: dict[str, int | float] = raw.as_dict() if raw is not None else {}  # type: ignore[no-untyped-call]
    return {str(key): int(value) for key, value in values.items()}


def _month(account_id: str, period: str) -> Usage:
    try:
        return Usage.get(account_id, period, consistent_read=True)
    except DoesNotExist:
        return Usage(account_id, period)


def _counters(usage: Usage) -> Counters:
    return Counters(
        tickets=int(usage.tickets),
        queries=int(usage.queries),
        storage_bytes=_int_or_none(usage.storage_bytes),
        end_users=_int_or_none(usage.end_users),
    )


def _view(account: Account, usage: Usage, settings: Settings) -> UsageView:
    limits = limits_for(account, settings)
    return UsageView(
        account_id=account.id,
        period=usage.period,
        plan=account.plan,
        usage=_counters(usage),
        limits=limits,
        overrides=overrides_of(account),
        over_limit=over_limit(usage, limits),
        flagged_at=_iso(usage.usage_flagged_at),
    )


def _int_or_none(value: float | int | None) -> int | None:
    return int(value) if value is not None else None


def _iso(instant: datetime | None) -> str | None:
    return clock.to_iso(instant) if instant is not None else None

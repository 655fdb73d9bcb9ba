"""Voucher campaigns (RULES.md §3): the Terms' lifetime deal and any campaign staff add.

A campaign fixes the plan, the included seats, the one-off price and the redeem-by
deadline of its codes. The deadline is stored as the instant it denotes: a local time
is read in the campaign's time zone, an instant with ``Z``/offset is taken as is.
When a code is redeemable (R-VOUCH-3) is decided here alone: ``redeemable_until``,
``redeemable`` and its DynamoDB condition ``still_redeemable``.

The Terms' own deal is the default campaign (``settings.default_campaign_id``): it need
not be created by staff, it comes into being with the Terms' values on first use.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.condition import Condition

from lifecycle.core import clock, local_time
from lifecycle.core.errors import CampaignExists, NotFound
from lifecycle.core.money import Money
from lifecycle.core.plans import Plan
from lifecycle.core.settings import get_settings
from lifecycle.storage import Campaign, Voucher
from lifecycle.storage.base import put_if

OUT_OF_RANGE = "redeem_by is outside the range of dates this service keeps"
LAST_DEADLINE = datetime.max.replace(tzinfo=UTC) - timedelta(seconds=1)

CampaignId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="lower-case slug")]


def deadline_instant(redeem_by: str, time_zone: str) -> datetime:
    """R-VOUCH-3: the instant of ``redeem_by``, its last second (``redeemable_until`` adds one).

    With ``Z`` or an offset it is that instant. Without, it is local time in ``time_zone``: a
    date alone is the end of that day (its last second, 23:59:59 where the next day begins at
    midnight); a time the zone skips (the spring-forward gap) is a ``ValueError``; one it
    repeats (the autumn fold) is the later instant.
    """
    tz = local_time.zone(time_zone)
    try:
        deadline = _deadline(redeem_by, tz)
    except OverflowError as exc:  # "9999-12-31" in a zone east of UTC, "0001-01-01T00:00:00+01:00"
        raise ValueError(OUT_OF_RANGE) from exc
    if deadline > LAST_DEADLINE:  # its redeemable_until, a second later, must exist too
        raise ValueError(OUT_OF_RANGE)
    return deadline


def _deadline(redeem_by: str, tz: ZoneInfo) -> datetime:
    try:
        day = date.fromisoformat(redeem_by)
    except ValueError:
        pass
    else:
        return local_time.day_end(day, tz) - timedelta(seconds=1)
    try:
        parsed = datetime.fromisoformat(redeem_by.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError("redeem_by must be an ISO 8601 date or date-time") from exc
    if parsed.tzinfo is None:
        return local_time.instant_of(parsed, tz)
    return parsed.astimezone(UTC)


def redeemable_until(campaign: Campaign) -> datetime:
    """R-VOUCH-3: the exclusive end of redemption, one second after the campaign's redeem-by time.

    ``redeem_by`` is already the instant of the deadline read in the campaign's time zone;
    "until 23:59:59" includes that whole last second. Each code carries a copy
    (``Voucher.redeemable_until``, set at import), so redemption reads only the code.
    """
    deadline: datetime = campaign.redeem_by
    return deadline + timedelta(seconds=1)


def redeemable(code: Voucher, now: datetime) -> bool:
    """R-VOUCH-3: ``now`` is before the code's end of redemption (its ``redeemable_until``)."""
    return now < code.redeemable_until


def still_redeemable(now: datetime) -> Condition:
    """R-VOUCH-3 as a condition on the code's item: ``redeemable`` still holds when it commits."""
    return Voucher.redeemable_until > now


class CampaignInput(BaseModel):
    """``POST /admin/campaigns``."""

    model_config = ConfigDict(extra="forbid")

    campaign_id: CampaignId
    name: Annotated[str, Field(min_length=1, max_length=200)]
    plan: Plan = "all-inclusive"
    included_seats: Annotated[int, Field(ge=1, le=10_000)] = 2
    price: Money
    # Before redeem_by: its validator reads redeem_by in this zone.
    time_zone: Annotated[str, Field(max_length=64, examples=["Europe/Sofia"])] = "UTC"
    redeem_by: Annotated[
        str,
        Field(
            max_length=40,
            examples=["2019-11-30T23:59:59"],
            description="ISO 8601; without an offset local in time_zone, a date alone the end of that day",
        ),
    ]

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        local_time.zone(value)
        return value

    @field_validator("redeem_by")
    @classmethod
    def _deadline_exists(cls, value: str, info: ValidationInfo) -> str:
        """R-VOUCH-3: refused unless it names an instant (an unknown zone is reported on its own)."""
        if "time_zone" in info.data:
            deadline_instant(value, info.data["time_zone"])
        return value

    @field_validator("price")
    @classmethod
    def _not_negative(cls, value: Money) -> Money:
        if value.amount < 0:
            raise ValueError("price cannot be negative")
        return value


class CodeCounts(BaseModel):
    total: int
    redeemed: int
    abuse_signals: int


class CampaignView(BaseModel):
    """A campaign as staff see it, with its code counts."""

    campaign_id: str
    name: str
    plan: Plan
    included_seats: int
    price: Money
    redeem_by: str = Field(description="the deadline instant, ISO 8601 UTC")
    redeem_by_local: str = Field(description="the deadline as given, read in time_zone when it has no offset")
    time_zone: str
    created_at: str
    codes: CodeCounts
    counts_as_of: str | None = Field(
        description=(
            "ISO 8601 UTC: redeemed and abuse_signals include every redemption and reuse attempt made up to "
            "about this instant (they are counted from a stream, seconds behind); null when none was counted "
            "yet. total is always current."
        )
    )

    @classmethod
    def of(cls, item: Campaign) -> CampaignView:
        return cls(
            campaign_id=item.id,
            name=item.name,
            plan=item.plan,  # type: ignore[arg-type]  # stored from a validated Plan
            included_seats=int(item.included_seats),
            price=Money(amount=int(item.price_amount), currency=item.price_currency),
            redeem_by=clock.to_iso(item.redeem_by),
            redeem_by_local=item.redeem_by_input,
            time_zone=item.time_zone,
            created_at=clock.to_iso(item.created_at),
            codes=CodeCounts(
                total=int(item.codes_total),
                redeemed=int(item.codes_redeemed),
                abuse_signals=int(item.abuse_signals),
            ),
            counts_as_of=None if item.counted_through is None else clock.to_iso(item.counted_through),
        )


def terms_deal(campaign_id: str) -> CampaignInput:
    """RULES.md §3: the Terms' AppSumo deal, 5900 cents one-off for the all-inclusive plan with
    2 seats for life, redeemable until 2019-11-30T23:59:59 (end of 30 November 2019) in UTC."""
    return CampaignInput(
        campaign_id=campaign_id,
        name="AppSumo lifetime deal",
        plan="all-inclusive",
        included_seats=2,
        price=Money(amount=5900, currency="USD"),
        redeem_by="2019-11-30T23:59:59",
        time_zone="UTC",
    )


# ``created_by`` of the default campaign: the Terms made it, not a staff member.
TERMS_CREATOR = "terms"


def _campaign_item(data: CampaignInput, created_by: str, now: datetime) -> Campaign:
    return Campaign(
        data.campaign_id,
        name=data.name,
        plan=data.plan,
        included_seats=data.included_seats,
        price_amount=data.price.amount,
        price_currency=data.price.currency,
        redeem_by=deadline_instant(data.redeem_by, data.time_zone),
        redeem_by_input=data.redeem_by,
        time_zone=data.time_zone,
        created_at=now,
        created_by=created_by,
    )


def _put_new(item: Campaign) -> bool:
    """Store ``item`` unless its id exists (then False): a conditional put, never an overwrite."""
    return put_if(item, Campaign.id.does_not_exist())


def create_campaign(data: CampaignInput, created_by: str, now: datetime) -> CampaignView:
    """Store a new campaign; an existing id is a conflict (never overwritten)."""
    item = _campaign_item(data, created_by, now)
    if not _put_new(item):
        raise CampaignExists(f"Campaign {data.campaign_id!r} already exists")
    return CampaignView.of(item)


def get_or_default(campaign_id: str, now: datetime) -> Campaign:
    """The stored campaign, or 404; the default campaign is materialised from the Terms.

    The first reader of the default id stores the Terms' deal with a conditional put; a
    concurrent first reader loses that race harmlessly and reads the winner's item, so
    the default campaign exists once and staff's own copy (if they made one) is kept.
    """
    try:
        return Campaign.get(campaign_id, consistent_read=True)
    except DoesNotExist as exc:
        if campaign_id != get_settings().default_campaign_id:
            raise NotFound(f"No campaign {campaign_id!r}") from exc
    item = _campaign_item(terms_deal(campaign_id), created_by=TERMS_CREATOR, now=now)
    if _put_new(item):
        return item
    return Campaign.get(campaign_id, consistent_read=True)


def get_campaign(campaign_id: str, now: datetime) -> CampaignView:
    """``GET /admin/campaigns/{id}``: the campaign and its code counts (the default one always exists)."""
    return CampaignView.of(get_or_default(campaign_id, now))

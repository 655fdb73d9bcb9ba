"""Voucher campaigns (RULES.md §3): the Terms' lifetime deal and any campaign staff add.

A campaign fixes the plan, the included seats, the one-off price and the redeem-by
deadline of its codes. The deadline is stored as the instant it denotes: a local time
is read in the campaign's time zone, an instant with ``Z``/offset is taken as is.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pynamodb.exceptions import DoesNotExist, PutError

from lifecycle import clock
from lifecycle.errors import CampaignExists, NotFound
from lifecycle.money import Money
from lifecycle.plans import Plan
from lifecycle.storage import Campaign

CampaignId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="lower-case slug")]


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def deadline_instant(redeem_by: str, time_zone: str) -> datetime:
    """The instant of ``redeem_by``: local in ``time_zone`` unless it carries an offset."""
    try:
        parsed = datetime.fromisoformat(redeem_by.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError("redeem_by must be an ISO 8601 date-time") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_zone(time_zone))
    return parsed.astimezone(UTC)


class CampaignInput(BaseModel):
    """``POST /admin/campaigns``."""

    model_config = ConfigDict(extra="forbid")

    campaign_id: CampaignId
    name: Annotated[str, Field(min_length=1, max_length=200)]
    plan: Plan = "all-inclusive"
    included_seats: Annotated[int, Field(ge=1, le=10_000)] = 2
    price: Money
    redeem_by: Annotated[str, Field(max_length=40, examples=["2019-11-30T23:59:59"])]
    time_zone: Annotated[str, Field(max_length=64, examples=["Europe/Sofia"])] = "UTC"

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        _zone(value)
        return value

    @field_validator("price")
    @classmethod
    def _not_negative(cls, value: Money) -> Money:
        if value.amount < 0:
            raise ValueError("price cannot be negative")
        return value

    @model_validator(mode="after")
    def _deadline_readable(self) -> CampaignInput:
        deadline_instant(self.redeem_by, self.time_zone)
        return self


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
        )


def create_campaign(data: CampaignInput, created_by: str, now: datetime) -> CampaignView:
    """Store a new campaign; an existing id is a conflict (never overwritten)."""
    item = Campaign(
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
    try:
        item.save(condition=Campaign.id.does_not_exist())
    except PutError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise CampaignExists(f"Campaign {data.campaign_id!r} already exists") from exc
        raise
    return CampaignView.of(item)


def get_campaign(campaign_id: str) -> CampaignView:
    try:
        return CampaignView.of(Campaign.get(campaign_id, consistent_read=True))
    except DoesNotExist as exc:
        raise NotFound(f"No campaign {campaign_id!r}") from exc

"""Voucher campaigns (RULES.md §3): staff create them with their own deadline and time zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from lifecycle.campaigns import CampaignInput, create_campaign, deadline_instant, get_campaign
from lifecycle.errors import CampaignExists, NotFound
from lifecycle.settings import Settings
from lifecycle.storage import Campaign

TERMS_DEAL = {
    "campaign_id": "appsumo-2019",
    "name": "AppSumo lifetime deal",
    "plan": "all-inclusive",
    "included_seats": 2,
    "price": {"amount": 5900, "currency": "USD"},
    "redeem_by": "2019-11-30T23:59:59",
    "time_zone": "UTC",
}


def test_a_local_deadline_is_read_in_the_campaign_time_zone() -> None:
    """R-VOUCH-3: the redeem-by time is compared in the campaign's time zone."""
    assert deadline_instant("2019-11-30T23:59:59", "Europe/Sofia") == datetime(2019, 11, 30, 21, 59, 59, tzinfo=UTC)
    assert deadline_instant("2019-11-30T23:59:59", "UTC") == datetime(2019, 11, 30, 23, 59, 59, tzinfo=UTC)


def test_a_deadline_with_an_offset_is_that_instant_whatever_the_zone() -> None:
    assert deadline_instant("2019-11-30T23:59:59Z", "Europe/Sofia") == datetime(2019, 11, 30, 23, 59, 59, tzinfo=UTC)
    assert deadline_instant("2019-12-01T01:59:59+02:00", "UTC") == datetime(2019, 11, 30, 23, 59, 59, tzinfo=UTC)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("time_zone", "Mars/Olympus"),
        ("redeem_by", "end of november"),
        ("campaign_id", "Has Spaces"),
        ("price", {"amount": -1, "currency": "USD"}),
        ("price", {"amount": 59.0, "currency": "USD"}),
        ("included_seats", 0),
        ("plan", "platinum"),
    ],
)
def test_invalid_campaigns_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        CampaignInput.model_validate({**TERMS_DEAL, field: value})


def test_the_terms_deal_is_stored_and_read_back(tables: Settings, frozen_now: datetime) -> None:
    created = create_campaign(CampaignInput.model_validate(TERMS_DEAL), created_by="staff-1", now=frozen_now)
    assert created.price.amount == 5900
    assert created.redeem_by == "2019-11-30T23:59:59Z"
    assert created.created_at == "2026-11-25T12:00:00Z"

    read = get_campaign("appsumo-2019")
    assert read == created
    assert read.codes.model_dump() == {"total": 0, "redeemed": 0, "abuse_signals": 0}
    stored = Campaign.get("appsumo-2019")
    assert stored.created_by == "staff-1"
    assert stored.redeem_by_input == "2019-11-30T23:59:59"


def test_a_campaign_id_is_never_overwritten(tables: Settings, frozen_now: datetime) -> None:
    create_campaign(CampaignInput.model_validate(TERMS_DEAL), created_by="staff-1", now=frozen_now)
    with pytest.raises(CampaignExists):
        create_campaign(
            CampaignInput.model_validate({**TERMS_DEAL, "name": "other"}), created_by="staff-2", now=frozen_now
        )
    assert Campaign.get("appsumo-2019").name == "AppSumo lifetime deal"


def test_an_unknown_campaign_is_not_found(tables: Settings) -> None:
    with pytest.raises(NotFound):
        get_campaign("nope")

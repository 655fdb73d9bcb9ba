"""Voucher campaigns (RULES.md §3): staff create them with their own deadline and time zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError
from pynamodb.exceptions import DoesNotExist

from lifecycle.core.errors import CampaignExists, NotFound
from lifecycle.core.settings import Settings
from lifecycle.storage import Campaign
from lifecycle.vouchers.campaigns import (
    TERMS_CREATOR,
    CampaignInput,
    create_campaign,
    deadline_instant,
    get_campaign,
    get_or_default,
)

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

    read = get_campaign("appsumo-2019", now=frozen_now)
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


def test_an_unknown_campaign_is_not_found(tables: Settings, frozen_now: datetime) -> None:
    with pytest.raises(NotFound):
        get_campaign("nope", now=frozen_now)
    with pytest.raises(NotFound):
        get_or_default("nope", frozen_now)
    assert Campaign.count() == 0


def test_the_default_campaign_is_made_from_the_terms_on_first_use(tables: Settings, frozen_now: datetime) -> None:
    """RULES.md §3: the Terms' deal exists without staff creating it, with the Terms' values."""
    assert tables.default_campaign_id == "appsumo-2019"
    view = get_campaign("appsumo-2019", now=frozen_now)
    expected = CampaignInput.model_validate(TERMS_DEAL)
    assert view.model_dump(include={"campaign_id", "name", "plan", "included_seats", "price", "time_zone"}) == (
        expected.model_dump(include={"campaign_id", "name", "plan", "included_seats", "price", "time_zone"})
    )
    assert (view.redeem_by, view.redeem_by_local) == ("2019-11-30T23:59:59Z", "2019-11-30T23:59:59")
    assert view.codes.model_dump() == {"total": 0, "redeemed": 0, "abuse_signals": 0}
    assert Campaign.get("appsumo-2019").created_by == TERMS_CREATOR


def test_the_default_campaign_is_made_once_and_never_overwritten(tables: Settings, frozen_now: datetime) -> None:
    first = get_or_default("appsumo-2019", frozen_now)
    first.update(actions=[Campaign.codes_total.add(3)])
    again = get_or_default("appsumo-2019", datetime(2027, 1, 1, tzinfo=UTC))
    assert (again.created_at, again.codes_total) == (frozen_now, 3)
    with pytest.raises(CampaignExists):
        create_campaign(CampaignInput.model_validate(TERMS_DEAL), created_by="staff-1", now=frozen_now)


def test_a_default_campaign_made_by_a_concurrent_reader_or_by_staff_is_kept(
    tables: Settings, frozen_now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between this reader's miss and its conditional put another writer stores the campaign:
    the put loses, nothing is overwritten, and the winner's campaign is answered."""
    staff_copy = CampaignInput.model_validate({**TERMS_DEAL, "time_zone": "Europe/Sofia"})
    real_get = Campaign.get
    misses: list[str] = []

    def get_that_misses_once(campaign_id: str, **kwargs: object) -> Campaign:
        if not misses:
            misses.append(campaign_id)
            create_campaign(staff_copy, created_by="staff-1", now=frozen_now)  # the concurrent writer
            raise DoesNotExist
        return real_get(campaign_id, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Campaign, "get", get_that_misses_once)
    campaign = get_or_default("appsumo-2019", frozen_now)
    assert (campaign.time_zone, campaign.created_by) == ("Europe/Sofia", "staff-1")
    assert real_get("appsumo-2019").time_zone == "Europe/Sofia"

"""Dates and deadlines over HTTP through the local runtime, its clock set (API.md "Dates and
deadlines"): an emailed cancellation's due_by in the vendor's calendar and the SLA sweep that
escalates by it (R-TERM-2), a campaign's local redeem-by time across the daylight saving time
changes (R-VOUCH-3), and age on the signup date (R-REG-1)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.conftest import Runtime, set_clock
from tests.route_examples import registrant

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("real_time")]


def _tag(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _overdue_notices(runtime: Runtime, request_id: str) -> list[dict[str, Any]]:
    items = runtime.get("/_local/outbox").json()["items"]
    return [item for item in items if item["type"] == "cancellation_overdue" and request_id in item["subject"]]


def test_r_term_2_due_by_is_the_end_of_the_next_business_day_in_bratislava_and_escalated_after_it(
    runtime: Runtime,
) -> None:
    set_clock(runtime, datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
    signed_up = runtime.post("/signups", json=registrant(_tag("calendar"), plan="ticket", billing_period="monthly"))
    assert signed_up.status_code == 201, signed_up.text
    account = signed_up.json()
    owner = runtime.token(account["owner_id"], account["id"], "owner")

    def ask(at: datetime) -> dict[str, Any]:
        set_clock(runtime, at)
        asked = runtime.post(f"/accounts/{account['id']}/cancellation-requests", token=owner)
        assert asked.status_code == 202, asked.text
        body: dict[str, Any] = asked.json()
        assert body["status"] == "pending"
        return body

    # Bratislava is UTC+1 in winter, UTC+2 in summer; a day there ends at 23:00 or 22:00 UTC.
    thursday_late = ask(datetime(2026, 11, 26, 22, 59, 59, tzinfo=UTC))  # Thursday 23:59:59 local
    assert thursday_late["due_by"] == "2026-11-27T22:59:59Z"  # Friday's end
    after_midnight = ask(datetime(2026, 11, 26, 23, 15, tzinfo=UTC))  # Friday 00:15 local, Thursday in UTC
    assert after_midnight["due_by"] == "2026-11-30T22:59:59Z"  # Monday's end
    friday_evening = ask(datetime(2026, 11, 27, 19, 30, tzinfo=UTC))
    assert friday_evening["due_by"] == "2026-11-30T22:59:59Z"
    christmas_eve_eve = ask(datetime(2026, 12, 23, 17, 0, tzinfo=UTC))  # 24-26 December are days off
    assert christmas_eve_eve["due_by"] == "2026-12-28T22:59:59Z"
    easter_eve = ask(datetime(2027, 3, 25, 19, 0, tzinfo=UTC))  # Good Friday, a weekend, Easter Monday
    assert easter_eve["due_by"] == "2027-03-30T21:59:59Z"  # summer time since 28 March

    def sweep() -> dict[str, Any]:
        ran = runtime.post("/_local/schedules/cancellation-sla-sweep", json={})
        assert ran.status_code == 200, ran.text
        summary: dict[str, Any] = ran.json()
        assert summary["errors"] == 0
        return summary

    set_clock(runtime, datetime(2027, 3, 30, 21, 59, 59, tzinfo=UTC))  # Tuesday 23:59:59 local
    sweep()
    assert _overdue_notices(runtime, easter_eve["request_id"]) == []
    assert len(_overdue_notices(runtime, friday_evening["request_id"])) == 1  # long overdue by then

    set_clock(runtime, datetime(2027, 3, 30, 22, 0, tzinfo=UTC))  # Wednesday 00:00 local
    assert sweep()["changed"] >= 1
    assert len(_overdue_notices(runtime, easter_eve["request_id"])) == 1
    sweep()
    assert len(_overdue_notices(runtime, easter_eve["request_id"])) == 1  # escalated once


def _staff(runtime: Runtime) -> str:
    return runtime.token("staff-1", None, "staff")


def test_r_vouch_3_a_redeem_by_time_the_sofia_clocks_skip_is_422_and_no_campaign(runtime: Runtime) -> None:
    campaign_id = _tag("spring-gap")
    body = {
        "campaign_id": campaign_id,
        "name": "Spring deal",
        "price": {"amount": 5900, "currency": "USD"},
        "redeem_by": "2027-03-28T03:30:00",  # the last Sunday of March: 03:00 jumps to 04:00
        "time_zone": "Europe/Sofia",
    }
    refused = runtime.post("/admin/campaigns", json=body, token=_staff(runtime))
    assert (refused.status_code, refused.json()["code"]) == (422, "validation_error")
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert [error["field"] for error in refused.json()["errors"]] == ["redeem_by"]
    assert runtime.get(f"/admin/campaigns/{campaign_id}", token=_staff(runtime)).status_code == 404


def _codes(runtime: Runtime, campaign_id: str, count: int) -> list[str]:
    made = runtime.post(f"/admin/campaigns/{campaign_id}/codes", json={"count": count}, token=_staff(runtime))
    assert made.status_code == 201, made.text
    codes: list[str] = made.json()["codes"]
    return codes


def _redeem(runtime: Runtime, code: str, at: datetime) -> tuple[int, str | None]:
    set_clock(runtime, at)
    answer = runtime.post("/redemptions", json=registrant(_tag("redeemer"), code=code))
    return answer.status_code, (answer.json().get("code") if answer.status_code >= 400 else None)


def test_r_vouch_3_an_autumn_fold_deadline_is_the_later_instant_to_the_second(runtime: Runtime) -> None:
    set_clock(runtime, datetime(2026, 10, 1, 9, 0, tzinfo=UTC))
    campaign_id = runtime.create_campaign("autumn", redeem_by="2026-10-25T03:30:00")  # 04:00 falls back to 03:00
    seen = runtime.get(f"/admin/campaigns/{campaign_id}", token=_staff(runtime)).json()
    assert seen["redeem_by"] == "2026-10-25T01:30:00Z"  # the second 03:30, at UTC+2
    early, in_time, late = _codes(runtime, campaign_id, 3)
    deadline = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)

    assert _redeem(runtime, early, datetime(2026, 10, 25, 0, 30, 1, tzinfo=UTC)) == (201, None)  # the first 03:30
    assert _redeem(runtime, in_time, deadline - timedelta(seconds=1)) == (201, None)
    assert _redeem(runtime, late, deadline + timedelta(seconds=1)) == (410, "voucher_expired")


def test_r_vouch_3_a_date_alone_is_redeemable_to_the_end_of_that_day_in_sofia(runtime: Runtime) -> None:
    set_clock(runtime, datetime(2027, 3, 1, 9, 0, tzinfo=UTC))
    campaign_id = runtime.create_campaign("spring-day", redeem_by="2027-03-28")
    seen = runtime.get(f"/admin/campaigns/{campaign_id}", token=_staff(runtime)).json()
    assert seen["redeem_by"] == "2027-03-28T20:59:59Z"  # 23:59:59 at UTC+3, summer time from that morning
    in_time, late = _codes(runtime, campaign_id, 2)
    assert _redeem(runtime, in_time, datetime(2027, 3, 28, 20, 59, 59, tzinfo=UTC)) == (201, None)
    assert _redeem(runtime, late, datetime(2027, 3, 28, 21, 0, tzinfo=UTC)) == (410, "voucher_expired")


def _sign_up(runtime: Runtime, birth_date: str, at: datetime) -> tuple[int, str | None]:
    set_clock(runtime, at)
    body = registrant(_tag("age"), birth_date=birth_date, plan="ticket", billing_period="monthly")
    answer = runtime.post("/signups", json=body)
    return answer.status_code, (answer.json().get("code") if answer.status_code >= 400 else None)


def test_r_reg_1_born_on_29_february_comes_of_age_on_28_february_of_a_common_year(runtime: Runtime) -> None:
    leap = "2008-02-29"
    assert _sign_up(runtime, leap, datetime(2026, 2, 27, 12, 0, tzinfo=UTC)) == (422, "underage")
    # 00:30 on 28 February in Bratislava is still 27 February in UTC: the signup date is UTC's.
    assert _sign_up(runtime, leap, datetime(2026, 2, 27, 23, 30, tzinfo=UTC)) == (422, "underage")
    assert _sign_up(runtime, leap, datetime(2026, 2, 28, 0, 0, tzinfo=UTC)) == (201, None)
    assert _sign_up(runtime, leap, datetime(2026, 3, 1, 12, 0, tzinfo=UTC)) == (201, None)


def test_r_reg_1_an_ordinary_birthday_the_day_before_and_on_the_day(runtime: Runtime) -> None:
    assert _sign_up(runtime, "2008-11-25", datetime(2026, 11, 24, 23, 59, 59, tzinfo=UTC)) == (422, "underage")
    assert _sign_up(runtime, "2008-11-25", datetime(2026, 11, 25, 0, 0, tzinfo=UTC)) == (201, None)

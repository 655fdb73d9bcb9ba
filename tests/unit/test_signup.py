"""Accounts come into being over moto: trial signup, redemption, codes on accounts, revocation.

Each test goes through the function the template routes the request to.
"""

from __future__ import annotations

import json
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lifecycle.accounts import terms
from lifecycle.core import clock
from lifecycle.core.settings import get_settings
from lifecycle.storage import (
    MODELS,
    Account,
    AuditEvent,
    Campaign,
    Claim,
    Notification,
    RateCounter,
    User,
    Voucher,
    table_of,
)
from lifecycle.vouchers.vouchers import code_hash, normalise_code
from tests.conftest import point_service_at
from tests.faults import FaultInjector
from tests.support import STAFF, call, deliver, member, outbox_items, owner_of

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
COUNTERS = "CampaignCountersFunction"  # counts redemptions from the Vouchers table's stream
PERSON = {
    "full_name": "Maria Ivanova",
    "email": "maria@example.com",
    "company_name": "Ясен ООД",
    "birth_date": "1990-05-17",
    "accept_terms": True,
    "authority_to_bind": True,
    "human_token": "human",
}
TRIAL = {**PERSON, "plan": "ticket", "billing_period": "monthly"}


pytestmark = pytest.mark.usefixtures("world")


def add_voucher(code: str, *, until: datetime = NOW + timedelta(days=30), campaign_id: str = "deal") -> str:
    hashed = code_hash(normalise_code(code), get_settings().voucher_pepper)
    Voucher(
        hashed,
        campaign_id=campaign_id,
        plan="all-inclusive",
        included_seats=2,
        price_amount=5900,
        price_currency="USD",
        redeemable_until=until,
        imported_at=NOW - timedelta(days=1),
    ).save()
    return hashed


def add_campaign(campaign_id: str = "deal") -> None:
    """The campaign ``add_voucher``'s codes belong to (made by POST /admin/campaigns in life)."""
    Campaign(
        campaign_id,
        name="Deal",
        plan="all-inclusive",
        included_seats=2,
        price_amount=5900,
        price_currency="USD",
        redeem_by=NOW + timedelta(days=30),
        redeem_by_input="2026-12-25T12:00:00Z",
        time_zone="UTC",
        created_at=NOW - timedelta(days=2),
        created_by="staff-1",
    ).save()


def person(**changes: Any) -> dict[str, Any]:
    return {**PERSON, **changes}


def events_of(account_id: str) -> list[str]:
    return [event.type for event in AuditEvent.query(account_id)]


# ---------------------------------------------------------------- trial signup


def test_r_pay_2_a_signup_starts_a_14_day_trial_on_the_chosen_plan() -> None:
    reply = call("POST", "/signups", body=TRIAL)
    assert reply.status == 201, reply.body
    body = reply.body
    assert (body["status"], body["plan"], body["billing_period"], body["lifetime"]) == (
        "trialing",
        "ticket",
        "monthly",
        False,
    )
    assert body["trial_ends_at"] == "2026-12-09T12:00:00Z"
    assert body["access"] == "full"
    assert body["voucher"] is None
    stored = Account.get(body["id"])
    assert stored.trial_sweep is not None  # the trial sweep will find it (R-PAY-3)
    owner = User.get(body["id"], body["owner_id"])
    assert (owner.role, owner.email, owner.full_name) == ("owner", "maria@example.com", "Maria Ivanova")
    assert events_of(body["id"]) == ["account_created"]


def test_r_terms_1_acceptance_is_required_and_stored_with_version_time_ip_and_agent() -> None:
    refused = call("POST", "/signups", body={**TRIAL, "accept_terms": False})
    assert (refused.status, refused.code) == (422, "terms_not_accepted")

    reply = call("POST", "/signups", body=TRIAL, headers={"user-agent": "Mozilla/5.0 test"})
    stored = Account.get(reply.body["id"])
    assert stored.terms_version == get_settings().terms_version
    assert stored.terms_accepted_at == NOW
    assert stored.terms_accepted_ip == "127.0.0.1"
    assert stored.terms_accepted_user_agent == "Mozilla/5.0 test"
    assert stored.terms_acceptance == "explicit"


def test_r_terms_2_accepting_for_a_company_asserts_authority_to_bind_it() -> None:
    refused = call("POST", "/signups", body={**TRIAL, "authority_to_bind": False})
    assert (refused.status, refused.code) == (422, "terms_not_accepted")
    assert "authority_to_bind" in refused.body["detail"]
    created = call("POST", "/signups", body=TRIAL)
    assert Account.get(created.body["id"]).authority_to_bind is True


def test_r_reg_1_the_registrant_must_be_18_on_the_signup_day_in_utc() -> None:
    day_before_18th = call("POST", "/signups", body={**TRIAL, "birth_date": "2008-11-26"})
    assert (day_before_18th.status, day_before_18th.code) == (422, "underage")
    eighteenth_birthday = call("POST", "/signups", body={**TRIAL, "birth_date": "2008-11-25"})
    assert eighteenth_birthday.status == 201


def test_r_reg_1_born_on_29_february_signs_up_from_28_february_of_the_18th_year() -> None:
    """2026 is a common year: the 18th year of someone born on 29 February 2008 ends on 28 February."""
    leap_born = {**TRIAL, "birth_date": "2008-02-29"}
    clock.set_now(datetime(2026, 2, 27, 23, 59, 59, tzinfo=UTC))
    refused = call("POST", "/signups", body=leap_born)
    assert (refused.status, refused.code) == (422, "underage")
    assert list(Account.scan()) == []  # test-only Scan: nothing was written
    clock.set_now(datetime(2026, 2, 28, 0, 0, tzinfo=UTC))
    assert call("POST", "/signups", body=leap_born).status == 201
    clock.set_now(datetime(2026, 3, 1, 0, 0, tzinfo=UTC))
    again = {**leap_born, "email": "maria.2@example.com", "company_name": "Yasen Two"}
    assert call("POST", "/signups", body=again).status == 201


def test_r_reg_2_bots_are_refused_by_the_human_check_and_the_honeypot() -> None:
    no_human = call("POST", "/signups", body={**TRIAL, "human_token": "robot"})
    assert (no_human.status, no_human.code) == (403, "bot_suspected")
    honeypot = call("POST", "/signups", body={**TRIAL, "website": "http://spam.example"})
    assert (honeypot.status, honeypot.code) == (403, "bot_suspected")
    assert list(Account.scan()) == []  # test-only Scan: nothing was written


def test_r_reg_2_signups_are_rate_limited_per_ip(monkeypatch: pytest.MonkeyPatch) -> None:
    point_service_at({"SIGNUP_LIMIT_PER_IP": "2"}, monkeypatch)
    for n in range(2):
        assert call("POST", "/signups", body={**TRIAL, "email": f"p{n}@example.com", "subdomain": f"co-{n}"}).status
    limited = call("POST", "/signups", body={**TRIAL, "email": "p9@example.com", "subdomain": "co-9"})
    assert (limited.status, limited.code) == (429, "rate_limited")
    assert int(limited.headers["retry-after"]) >= 1


@pytest.mark.parametrize(
    ("field", "value"),
    [("email", "not-an-email"), ("email", "a@b"), ("full_name", "Madonna"), ("full_name", "R2 D2"), ("plan", "gold")],
)
def test_r_reg_3_a_legal_name_and_a_valid_email_are_required(field: str, value: str) -> None:
    reply = call("POST", "/signups", body={**TRIAL, field: value})
    assert (reply.status, reply.code) == (422, "validation_error")
    assert field in [error["field"] for error in reply.body["errors"]]


def test_r_reg_3_an_email_owns_one_account() -> None:
    assert call("POST", "/signups", body=TRIAL).status == 201
    again = call("POST", "/signups", body={**TRIAL, "email": "MARIA@example.com", "subdomain": "other-co"})
    assert (again.status, again.code) == (409, "email_taken")


# ---------------------------------------------------------------- redemption


def test_r_vouch_1_redemption_creates_an_account_with_a_subdomain_from_the_company() -> None:
    add_voucher("LIFE-0000-AAAA")
    reply = call("POST", "/redemptions", body=person(code="life 0000 aaaa"))
    assert reply.status == 201, reply.body
    assert reply.body["subdomain"] == "yasen-ood"
    assert Claim.get("subdomain#yasen-ood").account_id == reply.body["id"]


def test_r_vouch_1_a_taken_subdomain_is_a_conflict_with_a_suggestion() -> None:
    add_voucher("LIFE-0000-AAAA")
    add_voucher("LIFE-0000-BBBB")
    call("POST", "/redemptions", body=person(code="LIFE-0000-AAAA"))
    reply = call("POST", "/redemptions", body=person(code="LIFE-0000-BBBB", email="other@example.com"))
    assert (reply.status, reply.code) == (409, "subdomain_taken")
    assert reply.body["suggestion"] == "yasen-ood-2"
    # The failed transaction left the second code unredeemed.
    assert Voucher.get(code_hash("LIFE0000BBBB", get_settings().voucher_pepper)).redeemed_at is None


def test_r_vouch_1_greek_and_chinese_company_names_get_a_subdomain_over_http() -> None:
    greek = call("POST", "/signups", body={**TRIAL, "company_name": "Ελληνικά Τρόφιμα ΑΕ"})  # noqa: RUF001
    assert greek.status == 201, greek.body
    assert greek.body["subdomain"] == "ellinika-trofima-ae"
    add_voucher("LIFE-0000-AAAA")
    chinese = call(
        "POST", "/redemptions", body=person(code="LIFE-0000-AAAA", email="li@example.com", company_name="北京科技")
    )
    assert chinese.status == 201, chinese.body
    assert chinese.body["subdomain"] == "beijingkeji"
    assert Claim.get("subdomain#beijingkeji").account_id == chinese.body["id"]


def test_r_vouch_1_bulgaria_and_a_decomposed_spelling_give_the_same_subdomain_over_http() -> None:
    composed = call("POST", "/signups", body={**TRIAL, "company_name": "Йордан България"})
    assert (composed.status, composed.body["subdomain"]) == (201, "yordan-bulgaria")
    decomposed = unicodedata.normalize("NFD", "Йордан България")
    again = call("POST", "/signups", body={**TRIAL, "email": "other@example.com", "company_name": decomposed})
    assert (again.status, again.code) == (409, "subdomain_taken")
    assert again.body["suggestion"] == "yordan-bulgaria-2"


def _stored() -> dict[str, list[str]]:
    """Every table but the rate-limit counters, which count a refused signup by design (R-REG-2)."""
    return {
        table_of(model): sorted(json.dumps(item.attribute_values, default=str, sort_keys=True) for item in model.scan())
        for model in MODELS
        if model is not RateCounter
    }


def test_r_vouch_1_a_company_name_of_only_emoji_is_refused_and_nothing_is_written() -> None:
    terms.current_version(clock.now())
    before = _stored()
    reply = call("POST", "/signups", body={**TRIAL, "company_name": "😀😀😀"})
    assert (reply.status, reply.code) == (422, "validation_error")
    (error,) = reply.body["errors"]
    assert error["field"] == "company_name"
    assert "at least 3 letters or digits" in error["message"]
    assert "give a subdomain explicitly" in error["message"]
    assert _stored() == before
    chosen = call("POST", "/signups", body={**TRIAL, "company_name": "😀😀😀", "subdomain": "smiles"})
    assert (chosen.status, chosen.body["subdomain"]) == (201, "smiles")


def test_r_vouch_1_a_redemption_reads_the_voucher_then_commits_once_writing_no_campaign_item() -> None:
    add_campaign()
    add_voucher("LIFE-0000-AAAA")
    terms.current_version(clock.now())  # cached per container: a warm one reads it from memory
    with FaultInjector() as counted:
        reply = call("POST", "/redemptions", body=person(code="LIFE-0000-AAAA"))
    assert reply.status == 201, reply.body
    # Round trips: one read and one transaction (the limits, the account, the code, the welcome
    # notice, which the notifier sends from the stream).
    assert counted.operations() == ["GetItem", "TransactWriteItems"]
    # Nothing the campaign's other redemptions write too: its counts come from the stream.
    (transaction,) = [c for c in counted.calls if c.operation == "TransactWriteItems"]
    assert get_settings().campaigns_table not in transaction.tables
    assert transaction.tables.count(get_settings().vouchers_table) == 1
    assert Campaign.get("deal").codes_redeemed == 0
    deliver(COUNTERS)
    assert Campaign.get("deal").codes_redeemed == 1


def test_r_vouch_4_applying_a_code_writes_no_campaign_item_and_is_counted_from_the_stream() -> None:
    add_campaign()
    add_voucher("LIFE-0000-AAAA")
    trial = call("POST", "/signups", body=TRIAL).body
    with FaultInjector() as counted:
        reply = call(
            "POST", f"/accounts/{trial['id']}/redemptions", body={"code": "LIFE-0000-AAAA"}, claims=owner_of(trial)
        )
    assert reply.status == 200, reply.body
    assert [c.tables for c in counted.calls if get_settings().campaigns_table in c.tables] == []
    deliver(COUNTERS)
    assert Campaign.get("deal").codes_redeemed == 1


def test_r_vouch_1_a_code_whose_campaign_item_is_gone_is_still_honoured_uncounted() -> None:
    add_voucher("LIFE-0000-AAAA")  # no campaign item
    reply = call("POST", "/redemptions", body=person(code="LIFE-0000-AAAA"))
    assert (reply.status, reply.body["voucher"]["campaign_id"]) == (201, "deal")
    assert [i.answer for i in deliver(COUNTERS)] == [{"batchItemFailures": []}]
    assert Campaign.count() == 0  # test-only Scan: the count made no half campaign


def test_r_vouch_5_a_redeemed_account_is_lifetime_all_inclusive_with_2_seats() -> None:
    add_voucher("LIFE-0000-AAAA")
    body = call("POST", "/redemptions", body=person(code="LIFE-0000-AAAA")).body
    assert (body["status"], body["plan"], body["lifetime"]) == ("active", "all-inclusive", True)
    assert body["seats"] == {"included": 2, "used": 1, "extra": 0}
    assert body["voucher"] == {"campaign_id": "deal", "redeemed_at": "2026-11-25T12:00:00Z"}
    assert body["trial_ends_at"] is None


def test_r_vouch_2_a_second_redemption_is_refused_and_recorded_as_abuse() -> None:
    hashed = add_voucher("LIFE-0000-AAAA")
    first = call("POST", "/redemptions", body=person(code="LIFE-0000-AAAA"))
    second = call("POST", "/redemptions", body=person(code="LIFE-0000-AAAA", email="x@example.com", subdomain="x-co"))
    assert (second.status, second.code) == (409, "voucher_already_redeemed")
    holder = Account.get(first.body["id"])
    assert holder.abuse_signals == 1
    assert sorted(events_of(holder.id)) == ["account_created", "voucher_reuse_attempt"]
    assert Voucher.get(hashed).reuse_attempts == 1  # on the code's own item, not its campaign's


def test_unknown_and_malformed_codes_are_404() -> None:
    for code in ("NOPE-NOPE-NOPE", "!!", "x" * 100):
        reply = call("POST", "/redemptions", body=person(code=code))
        assert (reply.status, reply.code) == (404, "voucher_not_found")


def test_r_vouch_3_the_deadline_includes_its_last_second_and_not_one_more() -> None:
    deadline = datetime(2019, 11, 30, 23, 59, 59, tzinfo=UTC)
    add_voucher("LIFE-0000-AAAA", until=deadline + timedelta(seconds=1))
    add_voucher("LIFE-0000-BBBB", until=deadline + timedelta(seconds=1))
    clock.set_now(deadline + timedelta(milliseconds=999))
    in_time = call("POST", "/redemptions", body=person(code="LIFE-0000-AAAA", birth_date="1970-01-01"))
    assert in_time.status == 201
    clock.set_now(deadline + timedelta(seconds=1))
    late = call("POST", "/redemptions", body=person(code="LIFE-0000-BBBB", email="b@example.com", subdomain="b-co"))
    assert (late.status, late.code) == (410, "voucher_expired")


# ---------------------------------------------------------------- a code on an account


def test_r_vouch_4_a_code_turns_a_trial_into_a_lifetime_account_once() -> None:
    trial = call("POST", "/signups", body=TRIAL).body
    owner = member(trial["id"], "owner", trial["owner_id"])
    add_voucher("LIFE-0000-AAAA")
    add_voucher("LIFE-0000-BBBB")

    applied = call("POST", f"/accounts/{trial['id']}/redemptions", body={"code": "LIFE-0000-AAAA"}, claims=owner)
    assert applied.status == 200, applied.body
    assert (applied.body["status"], applied.body["lifetime"], applied.body["trial_ends_at"]) == ("active", True, None)
    assert Account.get(trial["id"]).trial_sweep is None

    second = call("POST", f"/accounts/{trial['id']}/redemptions", body={"code": "LIFE-0000-BBBB"}, claims=owner)
    assert (second.status, second.code) == (409, "voucher_not_stackable")
    assert Voucher.get(code_hash("LIFE0000BBBB", get_settings().voucher_pepper)).redeemed_at is None


def test_only_the_owner_applies_codes_and_other_accounts_are_404() -> None:
    trial = call("POST", "/signups", body=TRIAL).body
    add_voucher("LIFE-0000-AAAA")
    path = f"/accounts/{trial['id']}/redemptions"
    agent = call("POST", path, body={"code": "LIFE-0000-AAAA"}, claims=member(trial["id"], "agent"))
    assert (agent.status, agent.code) == (403, "forbidden")
    # R-USE-4: support staff read an account; they do not redeem a code in the owner's name.
    staff = call("POST", path, body={"code": "LIFE-0000-AAAA"}, claims=STAFF)
    assert (staff.status, staff.code) == (403, "forbidden")
    assert Account.get(trial["id"]).voucher_campaign_id is None
    stranger = call("POST", path, body={"code": "LIFE-0000-AAAA"}, claims=member("acc_other", "owner"))
    assert (stranger.status, stranger.code) == (404, "not_found")


# ---------------------------------------------------------------- reading an account


def test_members_read_their_account_and_nobody_else_does() -> None:
    body = call("POST", "/signups", body=TRIAL).body
    path = f"/accounts/{body['id']}"
    assert call("GET", path, claims=member(body["id"], "agent")).body == body
    assert call("GET", path, claims=STAFF).status == 200
    assert call("GET", path, claims=member("acc_other", "owner")).status == 404
    assert call("GET", "/accounts/acc_missing", claims=member("acc_missing", "owner")).status == 404


# ---------------------------------------------------------------- revocation


def test_r_vouch_11_revoking_blocks_the_account_and_marks_the_owners_other_voucher_accounts() -> None:
    add_voucher("LIFE-0000-AAAA")
    add_voucher("LIFE-0000-BBBB")
    abused = call("POST", "/redemptions", body=person(code="LIFE-0000-AAAA", email="maria+1@example.com")).body
    other = call(
        "POST", "/redemptions", body=person(code="LIFE-0000-BBBB", email="maria+2@example.com", subdomain="again")
    ).body
    trial = call("POST", "/signups", body={**TRIAL, "email": "maria+3@example.com", "subdomain": "trial-co"}).body

    reply = call(
        "POST", "/admin/vouchers/life-0000-aaaa/revoke", body={"reason": "abuse", "evidence": "reuse x12"}, claims=STAFF
    )
    assert reply.status == 200, reply.body
    assert reply.body["marked_for_removal"] == [other["id"]]

    blocked = call("GET", f"/accounts/{abused['id']}", claims=STAFF).body
    assert (blocked["status"], blocked["access"]) == ("suspended", "voucher_revoked")
    assert Account.get(other["id"]).purge_after == NOW
    assert Account.get(trial["id"]).status == "trialing"
    assert "voucher_revoked" in events_of(abused["id"])
    assert (
        call(
            "POST",
            "/admin/vouchers/LIFE-0000-AAAA/revoke",
            body={"reason": "abuse", "evidence": "x"},
            claims=member("a", "owner"),
        ).status
        == 403
    )


def test_a_revoked_code_cannot_be_redeemed() -> None:
    add_voucher("LIFE-0000-AAAA")
    call(
        "POST",
        "/admin/vouchers/LIFE-0000-AAAA/revoke",
        body={"reason": "fraud", "evidence": "chargeback"},
        claims=STAFF,
    )
    reply = call("POST", "/redemptions", body=person(code="LIFE-0000-AAAA"))
    assert (reply.status, reply.code) == (410, "voucher_revoked")


# ---------------------------------------------------------------- retries


def test_a_retried_signup_with_the_same_key_creates_one_account() -> None:
    key = {"idempotency-key": "signup-1"}
    first = call("POST", "/signups", body=TRIAL, headers=key)
    again = call("POST", "/signups", body=TRIAL, headers=key)
    assert (first.status, again.status) == (201, 201)
    assert again.body == first.body
    assert len(list(Account.scan())) == 1  # test-only Scan


def test_r_reg_1_a_birth_date_in_the_future_is_a_validation_error_not_a_500() -> None:
    reply = call("POST", "/signups", body={**TRIAL, "birth_date": "2030-01-01"})
    assert (reply.status, reply.code) == (422, "validation_error")
    assert [error["field"] for error in reply.body["errors"]] == ["birth_date"]


# ---------------------------------------------------------------- the welcome notice


def test_a_signup_and_a_redemption_each_send_the_owner_one_welcome_notice(outbox: Path) -> None:
    """API.md's ``welcome``: committed with the account, sent to its owner once; a retried
    request (same Idempotency-Key) sends nothing more."""
    key = {"Idempotency-Key": "welcome-1"}
    trial = call("POST", "/signups", body=TRIAL, headers=key).body
    call("POST", "/signups", body=TRIAL, headers=key)
    add_voucher("LIFE-0000-AAAA")
    lifetime = call(
        "POST", "/redemptions", body=person(code="LIFE-0000-AAAA", email="ivan@example.com", company_name="Ivan Ltd")
    ).body
    sent = [(n["account_id"], n["type"], n["to"]) for n in outbox_items(outbox)]
    assert sent == [
        (trial["id"], "welcome", "maria@example.com"),
        (lifetime["id"], "welcome", "ivan@example.com"),
    ]
    (first, second) = outbox_items(outbox)
    assert trial["subdomain"] in first["body"]
    assert "ticket" in first["body"]
    assert "all-inclusive" in second["body"]
    stored = [n.type for n in Notification.query(trial["id"])]
    assert stored == ["welcome"]

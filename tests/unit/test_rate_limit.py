"""R-REG-2: per-IP and per-email signup limits, fixed windows counted in DynamoDB (moto)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from lifecycle.core.errors import RateLimited
from lifecycle.core.settings import Settings
from lifecycle.entry.http import problem_for
from lifecycle.registration.rate_limit import (
    SIGNUP_EMAIL,
    SIGNUP_IP,
    Window,
    check_signup_limits,
    counter_key,
    counter_secret,
    email_subject,
    hit,
    ip_subject,
)
from lifecycle.storage import RateCounter

pytestmark = pytest.mark.usefixtures("tables")

HOUR = 3600
SETTINGS = Settings()
# 12:00:00 UTC: an hour window runs from here to 13:00:00.
START = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)


def hits_allowed(scope: str, subject: str, limit: int, attempts: int, now: datetime = START) -> int:
    allowed = 0
    for _ in range(attempts):
        try:
            hit(scope, subject, limit, HOUR, now, SETTINGS)
        except RateLimited:
            continue
        allowed += 1
    return allowed


def test_r_reg_2_limit_is_reached_exactly_at_limit_plus_one() -> None:
    for _ in range(3):
        hit("signup-email", "ana@example.com", 3, HOUR, START, SETTINGS)
    with pytest.raises(RateLimited) as caught:
        hit("signup-email", "ana@example.com", 3, HOUR, START, SETTINGS)
    assert (caught.value.status, caught.value.code) == (429, "rate_limited")


def test_r_reg_2_refused_hits_keep_counting() -> None:
    assert hits_allowed("signup-ip", "203.0.113.7", 2, attempts=5) == 2
    stored = RateCounter.get(
        counter_key("signup-ip", Window.at(START, HOUR).index, "203.0.113.7", counter_secret(SETTINGS))
    )
    assert stored.hits == 5


def test_r_reg_2_a_new_window_resets_the_count() -> None:
    assert hits_allowed("signup-ip", "203.0.113.7", 2, attempts=3, now=START + timedelta(minutes=59)) == 2
    assert hits_allowed("signup-ip", "203.0.113.7", 2, attempts=3, now=START + timedelta(minutes=60)) == 2


def test_r_reg_2_subjects_and_scopes_are_counted_apart() -> None:
    assert hits_allowed("signup-ip", "203.0.113.7", 1, attempts=2) == 1
    assert hits_allowed("signup-ip", "203.0.113.8", 1, attempts=2) == 1
    assert hits_allowed("signup-email", "203.0.113.7", 1, attempts=2) == 1


@pytest.mark.parametrize(
    ("now", "retry_after"),
    [
        (START, 3600),
        (START + timedelta(minutes=59, seconds=30), 30),
        (START + timedelta(minutes=59, seconds=59, microseconds=500_000), 1),
        (START + timedelta(minutes=20, microseconds=1), 2400),
    ],
)
def test_r_reg_2_retry_after_is_the_rest_of_the_window(now: datetime, retry_after: int) -> None:
    hit("signup-ip", "203.0.113.7", 1, HOUR, now, SETTINGS)
    with pytest.raises(RateLimited) as caught:
        hit("signup-ip", "203.0.113.7", 1, HOUR, now, SETTINGS)
    assert caught.value.headers["Retry-After"] == str(retry_after)
    response = problem_for(caught.value)
    assert (response.status_code, response.headers["Retry-After"]) == (429, str(retry_after))
    assert json.loads(str(response.body))["code"] == "rate_limited"


def test_r_reg_2_counter_expires_a_minute_after_its_window() -> None:
    hit("signup-ip", "203.0.113.7", 5, HOUR, START + timedelta(minutes=10), SETTINGS)
    (stored,) = list(RateCounter.scan())
    assert stored.expires_at == START + timedelta(hours=1, seconds=60)


def test_r_reg_2_stored_keys_hold_no_ip_or_email_in_clear(tables: Settings) -> None:
    check_signup_limits("203.0.113.7", "Ana.Petrova+deal@Example.com", tables, START)
    items = list(RateCounter.scan())
    assert len(items) == 2
    dumped = json.dumps([item.to_simple_dict() for item in items], default=str).lower()
    for personal in ("203.0.113.7", "203", "ana", "petrova", "example"):
        assert personal not in dumped
    window = Window.at(START, tables.signup_window_seconds).index
    assert {item.key.rsplit(":", 1)[0] for item in items} == {f"{SIGNUP_IP}:{window}", f"{SIGNUP_EMAIL}:{window}"}
    assert all(len(item.key.rsplit(":", 1)[1]) == 32 for item in items)


def test_r_reg_2_signup_limits_apply_per_ip_and_per_email() -> None:
    settings = Settings(signup_limit_per_ip=3, signup_limit_per_email=2)
    check_signup_limits("203.0.113.7", "ana@example.com", settings, START)
    check_signup_limits("203.0.113.8", "ana+2@example.com", settings, START)
    # The third try for Ana's address is over the email limit whatever the IP or tag.
    with pytest.raises(RateLimited):
        check_signup_limits("203.0.113.9", "ANA+3@example.com", settings, START)
    check_signup_limits("203.0.113.7", "bob@example.com", settings, START)
    check_signup_limits("203.0.113.7", "carol@example.com", settings, START)
    # The IP's fourth signup is refused before Eve's email counter is touched:
    with pytest.raises(RateLimited):
        check_signup_limits("203.0.113.7", "eve@example.com", settings, START)
    # so Eve still has both her tries from elsewhere, and no third.
    check_signup_limits("203.0.113.10", "eve@example.com", settings, START)
    check_signup_limits("203.0.113.11", "eve@example.com", settings, START)
    with pytest.raises(RateLimited):
        check_signup_limits("203.0.113.12", "eve@example.com", settings, START)


def test_r_reg_2_ipv6_is_counted_per_64_and_mapped_ipv4_as_ipv4() -> None:
    assert ip_subject("2001:db8:1:2:aaaa::1") == ip_subject("2001:DB8:1:2:ffff:0:0:9") == "2001:db8:1:2::/64"
    assert ip_subject("2001:db8:1:3::1") != ip_subject("2001:db8:1:2::1")
    assert ip_subject("::ffff:203.0.113.7") == ip_subject(" 203.0.113.7 ") == "203.0.113.7"
    assert ip_subject("not-an-ip") == "not-an-ip"


def test_r_reg_2_email_is_counted_by_its_canonical_form() -> None:
    assert email_subject("Ana+x@Example.com") == email_subject("ana@example.com") == "ana@example.com"
    assert email_subject(" Not An Email ") == "not an email"


def test_r_reg_2_windows_need_aware_instants() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        hit("signup-ip", "203.0.113.7", 1, HOUR, datetime(2026, 11, 25, 12, 0), SETTINGS)

"""Money, clock, settings and caller claims: the shared basics every rule relies on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from lifecycle.core import clock
from lifecycle.core.auth import Principal, principal_from_claims, require_member, require_staff
from lifecycle.core.errors import Forbidden, NotFound, Unauthorized
from lifecycle.core.money import Money, div_round_half_up
from lifecycle.core.settings import Settings


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [(5, 2, 3), (4, 2, 2), (7, 3, 2), (8, 3, 3), (-5, 2, -3), (0, 7, 0), (3900 * 1, 2, 1950), (1, 3, 0)],
)
def test_division_rounds_half_up_in_integers(numerator: int, denominator: int, expected: int) -> None:
    assert div_round_half_up(numerator, denominator) == expected


def test_division_by_zero_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        div_round_half_up(1, 0)


def test_money_adds_in_one_currency_only() -> None:
    assert Money(amount=3900) + Money(amount=100) == Money(amount=4000, currency="USD")
    with pytest.raises(ValueError, match="cannot mix"):
        Money(amount=1) + Money(amount=1, currency="EUR")


def test_money_refuses_floats_and_bad_currencies() -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - pydantic's ValidationError subclasses it
        Money(amount=39.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):  # noqa: PT011
        Money(amount=1, currency="usd")


def test_clock_stands_still_when_set_and_returns_to_real_time() -> None:
    instant = datetime(2019, 11, 30, 23, 59, 59, tzinfo=UTC)
    clock.set_now(instant)
    try:
        assert clock.now() == instant
        assert clock.is_set()
    finally:
        clock.set_now(None)
    assert not clock.is_set()
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=5)


def test_clock_refuses_naive_instants_and_normalises_offsets() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.set_now(datetime(2020, 1, 1))
    sofia = timezone(timedelta(hours=2))
    clock.set_now(datetime(2020, 1, 1, 2, 0, tzinfo=sofia))
    try:
        assert clock.to_iso(clock.now()) == "2020-01-01T00:00:00Z"
    finally:
        clock.set_now(None)


def test_clock_parses_iso_instants_only() -> None:
    assert clock.parse_iso("2026-11-25T10:00:00Z") == datetime(2026, 11, 25, 10, tzinfo=UTC)
    with pytest.raises(ValueError, match="no offset"):
        clock.parse_iso("2026-11-25T10:00:00")


def test_settings_come_from_the_environment_with_the_terms_defaults() -> None:
    settings = Settings.from_env({"ACCOUNTS_TABLE": "a", "TRIAL_DAYS": "7"})
    assert settings.accounts_table == "a"
    assert settings.trial_days == 7
    assert Settings.from_env({}).trial_days == 14


def test_settings_refuse_a_trial_longer_than_the_terms_allow() -> None:
    """R-PAY-2: a free trial of up to 14 days."""
    with pytest.raises(ValueError):  # noqa: PT011
        Settings.from_env({"TRIAL_DAYS": "30"})


def test_claims_become_a_principal() -> None:
    assert principal_from_claims({"sub": "u1", "account_id": "a1", "role": "owner"}) == Principal("u1", "a1", "owner")
    assert principal_from_claims({"sub": "s1", "role": "staff"}).is_staff


@pytest.mark.parametrize(
    "claims",
    [None, {}, {"sub": "u1", "role": "owner"}, {"sub": "u1", "account_id": "a", "role": "root"}, {"role": "staff"}],
)
def test_missing_or_malformed_claims_are_unauthorized(claims: dict[str, str] | None) -> None:
    with pytest.raises(Unauthorized):
        principal_from_claims(claims)


def test_a_token_of_one_account_never_sees_another() -> None:
    owner = Principal("u1", "a1", "owner")
    with pytest.raises(NotFound):
        require_member(owner, "a2")
    require_member(owner, "a1")


def test_roles_are_checked_within_the_account() -> None:
    agent = Principal("u2", "a1", "agent")
    with pytest.raises(Forbidden):
        require_member(agent, "a1", roles=("owner",))
    with pytest.raises(Forbidden):
        require_staff(agent)
    require_staff(Principal("s1", None, "staff"))


def test_a_cognito_id_tokens_custom_attributes_name_the_caller_not_its_sub() -> None:
    claims = {
        "sub": "4955b37c-0016-4d3d-8003-29eaccd801b1",  # Cognito's id of the person
        "token_use": "id",
        "cognito:username": "4955b37c-0016-4d3d-8003-29eaccd801b1",
        "custom:user_id": "usr_1",
        "custom:account_id": "acc_1",
        "custom:role": "admin",
    }
    assert principal_from_claims(claims) == Principal("usr_1", "acc_1", "admin")
    staff = {"sub": "x", "custom:user_id": "staff_1", "custom:role": "staff"}
    assert principal_from_claims(staff) == Principal("staff_1", None, "staff")


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "x", "custom:role": "owner", "custom:user_id": "usr_1"},  # no account
        {"sub": "x", "custom:role": "emperor", "custom:user_id": "usr_1", "custom:account_id": "acc_1"},
        {"sub": "x", "custom:role": "owner", "custom:account_id": "acc_1"},  # no user id: sub is not ours
        {"sub": "x", "token_use": "access", "client_id": "c"},  # an access token carries no role
    ],
)
def test_a_cognito_token_without_the_services_attributes_is_401(claims: dict[str, str]) -> None:
    with pytest.raises(Unauthorized):
        principal_from_claims(claims)

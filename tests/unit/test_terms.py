"""Terms versions over moto: publication by staff, the current version, acceptance at
signup (R-TERMS-1) and by continued use (R-TERMS-3).

Each test goes through the function the template routes the request to.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lifecycle.accounts import terms
from lifecycle.core import clock
from lifecycle.core.settings import Settings
from lifecycle.storage import Account, AuditEvent, TermsVersion
from lifecycle.storage.terms import TERMS_OF_SERVICE
from tests.support import STAFF, Reply, call, member
from tests.unit.test_signup import TRIAL

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


pytestmark = pytest.mark.usefixtures("world")


def publish(version: str, at: datetime | None = None, claims: dict[str, Any] | None = STAFF) -> Reply:
    if at is not None:
        clock.set_now(at)
    return call("POST", "/admin/terms", body={"version": version}, claims=claims)


def sign_up(n: int, user_agent: str = "Mozilla/5.0 signup") -> dict[str, Any]:
    body = {**TRIAL, "email": f"owner{n}@example.com", "subdomain": f"company-{n}"}
    reply = call("POST", "/signups", body=body, headers={"user-agent": user_agent})
    assert reply.status == 201, reply.body
    return dict(reply.body)


def activity(account: dict[str, Any], user_agent: str = "Mozilla/5.0 desk") -> Reply:
    claims = member(account["id"], "owner", sub=account["owner_id"])
    return call(
        "POST",
        f"/accounts/{account['id']}/sessions",
        body={"device_id": "laptop-1"},
        claims=claims,
        headers={"user-agent": user_agent},
    )


def terms_events(account_id: str) -> list[AuditEvent]:
    return [event for event in AuditEvent.query(account_id) if event.type == "terms_accepted"]


# ---------------------------------------------------------------- R-TERMS-1


def test_r_terms_1_a_signup_records_the_settings_default_before_any_publication(tables: Settings) -> None:
    account = sign_up(1)
    stored = Account.get(account["id"])
    assert (stored.terms_version, stored.terms_acceptance) == (tables.terms_version, "explicit")


def test_r_terms_1_a_signup_records_the_published_current_version() -> None:
    assert publish("2026-11-01", at=NOW - timedelta(days=1)).status == 201
    clock.set_now(NOW)
    stored = Account.get(sign_up(1)["id"])
    assert (stored.terms_version, stored.terms_acceptance, stored.terms_accepted_at) == ("2026-11-01", "explicit", NOW)


# ---------------------------------------------------------------- R-TERMS-3: publishing


def test_r_terms_3_staff_publish_a_version_that_is_current_from_then_on(tables: Settings) -> None:
    reply = publish("v2")
    assert reply.status == 201, reply.body
    assert reply.body == {"version": "v2", "published_at": "2026-11-25T12:00:00Z", "published_by": "staff-1"}
    assert terms.current_version(NOW) == "v2"
    # Published at NOW: not yet current a moment before (a clock set back asks again).
    assert terms.current_version(NOW - timedelta(seconds=1)) == tables.terms_version


def test_r_terms_3_publishing_is_staff_only() -> None:
    owner = publish("v2", claims=member("acc_1", "owner"))
    assert (owner.status, owner.code) == (403, "forbidden")
    anonymous = publish("v2", claims=None)
    assert (anonymous.status, anonymous.code) == (401, "unauthorized")
    listed = call("GET", "/admin/terms", claims=member("acc_1", "owner"))
    assert (listed.status, listed.code) == (403, "forbidden")
    assert list(TermsVersion.query(TERMS_OF_SERVICE)) == []


def test_r_terms_3_a_version_string_is_published_once() -> None:
    assert publish("2026-12").status == 201
    again = publish("2026-12", at=NOW + timedelta(days=1))
    assert (again.status, again.code) == (409, "terms_version_exists")
    assert [item["version"] for item in call("GET", "/admin/terms", claims=STAFF).body["items"]] == ["2026-12"]


@pytest.mark.parametrize("version", ["", "has space", "x" * 41, "v2/../x", "ünï"])
def test_r_terms_3_a_version_is_1_to_40_letters_digits_dots_dashes_underscores(version: str) -> None:
    reply = publish(version)
    assert (reply.status, reply.code) == (422, "validation_error")
    assert [error["field"] for error in reply.body["errors"]] == ["version"]


def test_r_terms_3_staff_list_the_published_versions_newest_first() -> None:
    publish("v1", at=NOW)
    publish("v2", at=NOW + timedelta(days=30))
    reply = call("GET", "/admin/terms", claims=STAFF)
    assert reply.status == 200
    assert reply.body == {
        "items": [
            {"version": "v2", "published_at": "2026-12-25T12:00:00Z", "published_by": "staff-1"},
            {"version": "v1", "published_at": "2026-11-25T12:00:00Z", "published_by": "staff-1"},
        ]
    }


def test_r_terms_3_the_current_version_is_cached_for_a_minute_per_container(tables: Settings) -> None:
    """Another container's publication (written here directly) is seen within 60 s."""
    assert terms.current_version(NOW) == tables.terms_version
    TermsVersion(TERMS_OF_SERVICE, NOW + timedelta(seconds=1), version="v2", published_by="staff-2").save()
    assert terms.current_version(NOW + timedelta(seconds=59)) == tables.terms_version
    assert terms.current_version(NOW + timedelta(seconds=60)) == "v2"


# ---------------------------------------------------------------- R-TERMS-3: continued use = acceptance


def test_r_terms_3_the_first_activity_after_a_publication_accepts_it_by_continued_use() -> None:
    publish("v1", at=NOW - timedelta(days=10))
    clock.set_now(NOW)
    account = sign_up(1)
    assert Account.get(account["id"]).terms_version == "v1"

    published = NOW + timedelta(days=1)
    publish("v2", at=published)
    used = published + timedelta(hours=1)
    clock.set_now(used)
    reply = activity(account, user_agent="Mozilla/5.0 next-day")
    assert reply.status == 201, reply.body
    assert reply.body["terms_version"] == "v2"

    stored = Account.get(account["id"])
    assert (stored.terms_version, stored.terms_acceptance) == ("v2", "continued_use")
    assert (stored.terms_accepted_at, stored.terms_accepted_ip) == (used, "127.0.0.1")
    assert stored.terms_accepted_user_agent == "Mozilla/5.0 next-day"
    (event,) = terms_events(account["id"])
    assert (event.actor, event.at, event.details.as_dict()) == (
        account["owner_id"],
        used,
        {"version": "v2", "how": "continued_use"},
    )


def test_r_terms_3_later_activities_record_no_further_acceptance() -> None:
    account = sign_up(1)
    publish("v2", at=NOW + timedelta(days=1))
    first = NOW + timedelta(days=1, hours=1)
    clock.set_now(first)
    activity(account)
    clock.set_now(first + timedelta(hours=2))
    second = activity(account, user_agent="Other/1.0")
    assert (second.status, second.body["terms_version"]) == (201, "v2")
    stored = Account.get(account["id"])
    assert (stored.terms_accepted_at, stored.terms_accepted_user_agent) == (first, "Mozilla/5.0 desk")
    assert len(terms_events(account["id"])) == 1


def test_r_terms_3_an_activity_without_a_new_version_records_no_acceptance() -> None:
    account = sign_up(1)
    assert activity(account).status == 201
    stored = Account.get(account["id"])
    assert (stored.terms_acceptance, stored.terms_accepted_user_agent) == ("explicit", "Mozilla/5.0 signup")
    assert terms_events(account["id"]) == []


def test_r_terms_3_a_container_with_a_stale_cache_never_records_an_older_version() -> None:
    """Another container published v2 and the account accepted it; this container still
    holds v1 in its cache, so it looks again instead of accepting v1 over v2."""
    publish("v1", at=NOW - timedelta(days=1))
    clock.set_now(NOW)
    account = sign_up(1)
    assert terms.current_version(NOW) == "v1"  # cached here at NOW
    TermsVersion(TERMS_OF_SERVICE, NOW + timedelta(seconds=1), version="v2", published_by="staff-2").save()
    Account(account["id"]).update(
        actions=[Account.terms_version.set("v2"), Account.terms_accepted_at.set(NOW + timedelta(seconds=2))]
    )
    clock.set_now(NOW + timedelta(seconds=10))
    reply = activity(account)
    assert (reply.status, reply.body["terms_version"]) == (201, "v2")
    assert Account.get(account["id"]).terms_version == "v2"
    assert terms_events(account["id"]) == []


def test_r_terms_3_two_versions_cannot_share_one_publication_instant() -> None:
    """Only a clock stood still (the local runtime's) can try it; the second is a conflict."""
    assert publish("v2").status == 201
    same_instant = publish("v3")
    assert (same_instant.status, same_instant.code) == (409, "conflict")
    assert terms.current_version(NOW) == "v2"
    assert [item.version for item in TermsVersion.query(terms.VERSION_CLAIM + "v3")] == []

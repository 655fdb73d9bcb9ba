"""Consent records on DynamoDB Local: recorded in the signup's transaction with ``history``
appended by ``list_append`` (R-GDPR-1), concurrent unsubscribes withdrawing once (R-GDPR-9),
and the retention sweep telling a customer from a non-customer through the Users
``by-email`` index (R-GDPR-2)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from lifecycle.core import clock
from lifecycle.core.settings import get_settings
from lifecycle.entry.sweeps import SweepRequest
from lifecycle.privacy import consents, privacy
from lifecycle.privacy.retention import add_years, erase_due
from lifecycle.storage import Account, Consent, RetentionItem
from tests.support import call
from tests.unit.test_signup import NOW, TRIAL

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("world")]

SIX_YEARS_AGO = NOW.replace(year=NOW.year - 6)


def key(email: str) -> str:
    return privacy.person_key(email, get_settings())


def signed_up(email: str, subdomain: str) -> dict[str, str]:
    body = {**TRIAL, "email": email, "subdomain": subdomain, "consents": ["marketing", "profiling"]}
    reply = call("POST", "/signups", body=body)
    assert reply.status == 201, reply.body
    return dict(reply.body)


def test_r_gdpr_1_the_signups_transaction_records_the_consents_and_the_retention() -> None:
    account = signed_up("maria@example.com", "maria")

    found = {item.purpose: item for item in Consent.query(key("maria@example.com"), consistent_read=True)}
    assert set(found) == {"marketing", "profiling"}
    assert (found["marketing"].account_id, found["marketing"].given_source) == (account["id"], "signup")
    assert [step["action"] for step in found["marketing"].history] == ["given"]
    scheduled = RetentionItem.get("person#" + key("maria@example.com"), consistent_read=True)
    assert scheduled.erase_at == add_years(NOW, 5)


def test_r_gdpr_9_concurrent_unsubscribes_withdraw_once() -> None:
    signed_up("maria@example.com", "maria")
    token = privacy.sign("unsubscribe", key("maria@example.com"), None, get_settings())
    later = NOW + timedelta(days=1)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda _: consents.unsubscribe(token, later, get_settings()), range(8)))

    marketing = Consent.get(key("maria@example.com"), "marketing", consistent_read=True)
    assert [step["action"] for step in marketing.history] == ["given", "withdrawn"]
    assert (marketing.withdrawn_at, marketing.withdrawn_how) == (later, "unsubscribe")


def test_r_gdpr_2_a_customers_consents_are_kept_an_ex_customers_erased() -> None:
    clock.set_now(SIX_YEARS_AGO)
    signed_up("maria@example.com", "maria")
    ended = signed_up("ivan@example.com", "ivan")
    Account(ended["id"]).update(actions=[Account.status.set("terminated")])
    clock.set_now(NOW)

    summary = erase_due(SweepRequest(), NOW, lambda: 10**9, get_settings())

    assert (summary.examined, summary.changed, summary.items) == (
        2,
        1,
        {"consents": 2, "notifications": 0, "privacy_requests": 0},
    )
    assert len(list(Consent.query(key("maria@example.com"), consistent_read=True))) == 2
    assert list(Consent.query(key("ivan@example.com"), consistent_read=True)) == []
    kept = RetentionItem.get("person#" + key("maria@example.com"), consistent_read=True)
    assert (kept.erase_at, kept.erased_at) == (add_years(NOW, 5), None)

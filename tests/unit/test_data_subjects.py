"""Who a data subject is and what is held about them (R-GDPR-3, R-GDPR-4, R-GDPR-5, R-GDPR-7):
``data_subjects.find`` and ``holdings`` over moto, with accounts made through the API.

The world: Maria signs up her own account (billing details, an invoice, notices, sessions,
an agent Petar), is an agent of Ivan's account (whose billing details name her address), and
``maria+deal@`` owns a third account, which is another mailbox and not Maria's. She has
consent records and a data subject request as a person.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from pynamodb.connection import Connection
from pynamodb.models import Model

from lifecycle.core import clock
from lifecycle.core.settings import get_settings
from lifecycle.privacy import data_subjects, privacy
from lifecycle.privacy.data_subjects import Held
from lifecycle.storage import (
    Account,
    BillingDetailsVersion,
    Claim,
    Consent,
    Invoice,
    Notification,
    PrivacyRequest,
    Session,
    User,
)
from tests.support import call, member, ok, owner_of, pay, session
from tests.unit.test_signup import NOW, TRIAL, person

MARIA = "maria@example.com"
PETAR = {"full_name": "Petar Georgiev", "email": "agent1@example.com", "role": "agent"}
IVAN = person(full_name="Ivan Petrov", email="ivan@example.com", company_name="Beta Ltd")
TAGGED = person(full_name="Maria Ivanova", email="maria+deal@example.com", company_name="Gamma Ltd")


@dataclass(frozen=True)
class World:
    """Ids of what the scenario made."""

    own: dict[str, Any]  # Maria's account (she is its owner)
    other: dict[str, Any]  # Ivan's account (Maria is an agent there)
    tagged: dict[str, Any]  # maria+deal@'s account
    maria_in_other: str  # Maria's user id in Ivan's account
    petar: str  # Petar's user id in Maria's account
    request_id: str  # Maria's data subject request


pytestmark = pytest.mark.usefixtures("world")


def at(minutes: int) -> datetime:
    instant = NOW + timedelta(minutes=minutes)
    clock.set_now(instant)
    return instant


def privacy_request(email: str, type_: str = "access", **values: Any) -> PrivacyRequest:
    """A verified request, saved as privacy_requests would save it."""
    settings = get_settings()
    now = clock.now()
    request = PrivacyRequest(
        f"dsr_{uuid.uuid4().hex[:20]}",
        type=type_,
        status="in_progress",
        email=email,
        person_key=privacy.person_key(email, settings),
        received_at=now - timedelta(days=1),
        due_at=now + timedelta(days=29),
        verified_at=now - timedelta(hours=20),
        verified_by="email_link",
        started_at=now,
        history=[],
        **values,
    )
    request.save()
    return request


def consent(email: str, purpose: str, given_at: datetime, account_id: str | None = None) -> Consent:
    item = Consent(
        privacy.person_key(email, get_settings()),
        purpose,
        email=email,
        account_id=account_id,
        given_at=given_at,
        given_source="signup",
        text_version="2019-09-01",
        history=[{"at": clock.to_iso(given_at), "action": "given", "source": "signup"}],
    )
    item.save()
    return item


def person_notice(email: str, at_: datetime) -> Notification:
    key = privacy.person_key(email, get_settings())
    notice = Notification(
        privacy.PERSON_NOTICES + key,
        f"{at_.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}#ntf_person",
        id="ntf_person",
        type="privacy_request_verification",
        to=email,
        subject="Confirm your request",
        body="Confirm your request by following the link.",
        created_at=at_,
        sent_at=at_,
    )
    notice.save()
    return notice


def maria_world() -> World:
    """Everything the module docstring describes, made through the API where there is one."""
    own = ok(call("POST", "/signups", body=TRIAL), 201)
    path = f"/accounts/{own['id']}"
    petar = ok(call("POST", f"{path}/users", body=PETAR, claims=owner_of(own)), 201)["user_id"]
    at(1)
    session(own["id"], owner_of(own), "laptop", "203.0.113.10")
    session(own["id"], member(own["id"], "agent", sub=petar), "petar-pc", "198.51.100.7")
    at(5)
    ok(pay(own), 200)  # billing details, the first invoice, the receipt notice

    other = ok(call("POST", "/signups", body={**TRIAL, **IVAN}), 201)
    agent = {"full_name": "Maria Ivanova", "email": MARIA, "role": "agent"}
    maria_in_other = ok(call("POST", f"/accounts/{other['id']}/users", body=agent, claims=owner_of(other)), 201)[
        "user_id"
    ]
    at(7)
    session(other["id"], member(other["id"], "agent", sub=maria_in_other), "maria-phone", "192.0.2.44")
    session(other["id"], owner_of(other), "ivan-laptop", "203.0.113.99")
    ok(pay(other, email=MARIA, first_name="Ivan", last_name="Petrov"), 200)  # Ivan's billing names Maria's address

    tagged = ok(call("POST", "/signups", body={**TRIAL, **TAGGED}), 201)
    at(10)
    consent(MARIA, "marketing", NOW, own["id"])
    consent(MARIA, "customer_service", NOW, own["id"])
    consent(TAGGED["email"], "marketing", NOW, tagged["id"])
    person_notice(MARIA, at(11))
    request = privacy_request(MARIA)
    return World(own, other, tagged, maria_in_other, petar, request.id)


def held_by_table(held: list[Held]) -> Counter[str]:
    return Counter(h.model.__name__ for h in held)


def _no_scan(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("a data subject is found through Queries and keys, never a Scan")


# ---------------------------------------------------------------- find


def test_r_gdpr_3_find_resolves_the_owned_account_and_both_memberships() -> None:
    world = maria_world()
    subject = data_subjects.find("  Maria@Example.COM ", get_settings())

    assert subject.email == MARIA
    assert subject.person_key == privacy.person_key(MARIA, get_settings())
    assert [account.id for account in subject.owned] == [world.own["id"]]
    memberships = {(user.account_id, user.user_id) for user in subject.memberships}
    assert memberships == {(world.own["id"], world.own["owner_id"]), (world.other["id"], world.maria_in_other)}
    assert subject.account_ids == {world.own["id"], world.other["id"]}


def test_r_gdpr_3_a_tagged_address_is_another_subject() -> None:
    world = maria_world()
    maria = data_subjects.find(MARIA, get_settings())
    tagged = data_subjects.find(TAGGED["email"], get_settings())

    assert world.tagged["id"] not in maria.account_ids
    assert [account.id for account in tagged.owned] == [world.tagged["id"]]
    assert tagged.account_ids == {world.tagged["id"]}
    tagged_consents = [h.item for h in data_subjects.holdings(tagged) if h.model is Consent]
    assert [c.email for c in tagged_consents] == [TAGGED["email"]]
    assert all(h.item.attribute_values.get("account_id") != world.tagged["id"] for h in data_subjects.holdings(maria))


def test_r_gdpr_3_an_unknown_address_holds_nothing() -> None:
    maria_world()
    subject = data_subjects.find("nobody@example.com", get_settings())
    assert (subject.owned, subject.memberships) == ((), ())
    assert list(data_subjects.holdings(subject)) == []


def test_r_gdpr_3_an_index_entry_that_no_longer_names_the_address_is_not_a_membership() -> None:
    """The by-email index lags behind writes: the consistent read decides (a rectified address)."""
    world = maria_world()
    user = User.get(world.other["id"], world.maria_in_other, consistent_read=True)
    stale = User(world.other["id"], world.maria_in_other)
    with pytest.MonkeyPatch.context() as patched:
        # The index still answers with the old key while the item now holds another address.
        patched.setattr(User.by_email, "query", lambda *a, **k: iter([stale]))
        user.update(actions=[User.email.set("maria.new@example.com")])
        subject = data_subjects.find(MARIA, get_settings())
    assert subject.memberships == ()


# ---------------------------------------------------------------- holdings


def test_r_gdpr_3_holdings_yield_every_table_of_the_subject_and_nothing_of_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = maria_world()
    subject = data_subjects.find(MARIA, get_settings())
    with monkeypatch.context() as patched:
        patched.setattr(Connection, "scan", _no_scan)
        held = list(data_subjects.holdings(subject))

    tables = held_by_table(held)
    assert tables["Account"] == 1
    assert tables["User"] == 2
    assert tables["Session"] == 2  # her own two; Petar's and Ivan's are theirs
    assert tables["BillingDetailsVersion"] == 2  # her account's, and Ivan's naming her address
    assert tables["Invoice"] == 2
    assert tables["Consent"] == 2
    assert tables["PrivacyRequest"] == 1
    assert tables["Claim"] == 2  # her owner-email claim and her user-email claim in Ivan's account
    assert tables["Notification"] >= 2  # her receipt and the person notice
    assert tables["AuditEvent"] >= 1  # the account_created event she caused

    for h in held:
        values = h.item.attribute_values
        assert values.get("user_id") not in {world.petar, world.other["owner_id"]}, h
        assert "agent1@example.com" not in str(values), h  # Petar's address
        if h.model is User:
            assert values["email"] == MARIA
        if h.model is Notification:
            assert values["to"] == MARIA
    relations = {(h.model.__name__, h.relation) for h in held}
    assert ("Account", "owner") in relations
    assert ("BillingDetailsVersion", "addressee") in relations  # Ivan's, naming her address
    assert ("Invoice", "owner") in relations
    assert ("Consent", "person") in relations
    assert ("Notification", "person") in relations


def test_r_gdpr_3_ivans_account_and_invoice_are_held_only_where_they_name_her() -> None:
    world = maria_world()
    held = list(data_subjects.holdings(data_subjects.find(MARIA, get_settings())))
    in_other = [h for h in held if h.item.attribute_values.get("account_id") == world.other["id"]]
    kinds = Counter((h.model.__name__, h.relation) for h in in_other)
    assert kinds[("Account", "owner")] == 0  # not her account
    assert kinds[("BillingDetailsVersion", "addressee")] == 1
    assert kinds[("Invoice", "addressee")] == 1
    assert kinds[("User", "user")] == 1
    (invoice,) = [h.item for h in in_other if h.model is Invoice]
    assert invoice.billing_details["email"] == MARIA


def test_r_gdpr_3_holdings_yield_each_item_once() -> None:
    maria_world()
    held = list(data_subjects.holdings(data_subjects.find(MARIA, get_settings())))
    keys = [(h.model.__name__, _key(h.item)) for h in held]
    assert len(keys) == len(set(keys))


def _key(item: Model) -> tuple[Any, ...]:
    hash_key = type(item)._hash_key_attribute().attr_name
    range_attr = type(item)._range_key_attribute()
    values = item.attribute_values
    return (values[hash_key], values.get(range_attr.attr_name) if range_attr is not None else None)


def test_r_gdpr_5_an_erased_owner_address_does_not_break_finding_others() -> None:
    """A masked address ("erased") on an account found through the index is skipped, not an error."""
    world = maria_world()
    account = Account.get(world.tagged["id"], consistent_read=True)
    account.update(actions=[Account.owner_email.set("erased")])
    subject = data_subjects.find(TAGGED["email"], get_settings())
    assert subject.owned == ()
    # And Maria's own account, found through the same canonical index entry, still is hers.
    assert [a.id for a in data_subjects.find(MARIA, get_settings()).owned] == [world.own["id"]]


def test_r_gdpr_3_the_sessions_of_her_own_account_are_hers_only() -> None:
    world = maria_world()
    held = list(data_subjects.holdings(data_subjects.find(MARIA, get_settings())))
    sessions = [h.item for h in held if h.model is Session]
    assert {(s.account_id, s.user_id) for s in sessions} == {
        (world.own["id"], world.own["owner_id"]),
        (world.other["id"], world.maria_in_other),
    }
    all_sessions = list(Session.scan())
    assert len(all_sessions) == 4  # Petar's and Ivan's exist, and were not yielded


def test_r_gdpr_3_claims_yielded_are_hers() -> None:
    world = maria_world()
    held = list(data_subjects.holdings(data_subjects.find(MARIA, get_settings())))
    claims = sorted(h.item.claim for h in held if h.model is Claim)
    assert claims == sorted([f"owner-email#{MARIA}", f"user-email#{world.other['id']}#{MARIA}"])


def test_r_gdpr_3_billing_details_of_her_account_are_all_versions() -> None:
    world = maria_world()
    at(30)
    ok(pay(world.own, email="accounts@example.com"), 200)  # a second version, another address
    held = list(data_subjects.holdings(data_subjects.find(MARIA, get_settings())))
    own_versions = [h.item for h in held if h.model is BillingDetailsVersion and h.item.account_id == world.own["id"]]
    assert len(own_versions) == 2  # an owner's billing details are hers whichever address they name

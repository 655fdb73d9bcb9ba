"""Rectification over moto (R-GDPR-4): full name, company name and email corrected wherever
the service uses them; issued invoices keep their billing details snapshot and the result
says so; invalid corrections are 422; a retry changes nothing.

The world is test_data_subjects': Maria owns an account (an agent Petar, billing details, an
invoice, notices), is an agent of Ivan's account (whose billing details name her address), and
has consents, a person notice and a request.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pynamodb.exceptions import DoesNotExist

from lifecycle.core import clock, errors
from lifecycle.core.settings import get_settings
from lifecycle.privacy import data_subjects, privacy, retention
from lifecycle.requests import rectification
from lifecycle.storage import Account, Claim, Consent, Invoice, Notification, PrivacyRequest, RetentionItem, User
from lifecycle.storage.base import shard_of
from tests.unit.test_data_subjects import MARIA, TAGGED, World, consent, maria_world, privacy_request
from tests.unit.test_signup import NOW

NEW = "maria.new@example.com"


pytestmark = pytest.mark.usefixtures("world")


def rectify(corrections: dict[str, Any], request: PrivacyRequest | None = None) -> dict[str, Any]:
    request = request or privacy_request(MARIA, "rectification", corrections=corrections)
    return rectification.complete(
        privacy.Completing(request, clock.now(), get_settings(), "stf_1", corrections=corrections)
    )


def user(account_id: str, user_id: str) -> User:
    return User.get(account_id, user_id, consistent_read=True)


def account(account_id: str) -> Account:
    return Account.get(account_id, consistent_read=True)


def claim_owner(key: str) -> str | None:
    try:
        return str(Claim.get(key, consistent_read=True).account_id)
    except DoesNotExist:
        return None


def invoice_details(account_id: str) -> list[dict[str, Any]]:
    return [dict(invoice.billing_details) for invoice in Invoice.query(account_id, consistent_read=True)]


def kept_tables(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["table"]: entry for entry in result["kept"]}


# ---------------------------------------------------------------- names


def test_r_gdpr_4_the_full_name_is_corrected_on_every_user_item_of_hers_only() -> None:
    world = maria_world()
    result = rectify({"full_name": "  Maria   Petrova "})

    assert user(world.own["id"], world.own["owner_id"]).full_name == "Maria Petrova"
    assert user(world.other["id"], world.maria_in_other).full_name == "Maria Petrova"
    assert user(world.own["id"], world.petar).full_name == "Petar Georgiev"
    assert user(world.other["id"], world.other["owner_id"]).full_name == "Ivan Petrov"
    assert user(world.tagged["id"], world.tagged["owner_id"]).full_name == "Maria Ivanova"  # another mailbox
    assert result["changed"] == {"users": 2}
    assert result["fields"] == ["full_name"]
    assert result["summary"].startswith("We corrected your full name in 2 records")


def test_r_gdpr_4_the_company_name_is_corrected_on_the_accounts_she_owns_and_the_subdomain_stays() -> None:
    world = maria_world()
    result = rectify({"company_name": "Ясен АД"})

    own = account(world.own["id"])
    assert (own.company_name, own.subdomain) == ("Ясен АД", world.own["subdomain"])
    assert account(world.other["id"]).company_name == "Beta Ltd"  # Ivan's: she is an agent there
    assert account(world.tagged["id"]).company_name == "Gamma Ltd"
    assert result["changed"] == {"accounts": 1}
    assert any("subdomain" in note for note in result["notes"])


def test_r_gdpr_4_issued_invoices_keep_their_snapshot_and_the_result_says_so() -> None:
    world = maria_world()
    before = invoice_details(world.own["id"]) + invoice_details(world.other["id"])
    result = rectify({"full_name": "Maria Petrova", "company_name": "Ясен АД", "email": NEW})

    assert invoice_details(world.own["id"]) + invoice_details(world.other["id"]) == before  # R-PAY-14
    kept = kept_tables(result)
    assert kept["invoices"]["items"] == 2
    assert "accounting law" in kept["invoices"]["why"]
    assert "R-PAY-14" in kept["invoices"]["why"]
    assert "PUT /accounts/{id}/billing-details" in kept["invoices"]["why"]
    assert "next invoice" in kept["invoices"]["why"]
    assert kept["billing_details"]["items"] == 2
    assert "record of what was sent" in kept["notifications"]["why"]
    assert kept["privacy_requests"]["items"] >= 1
    assert "invoices" in result["summary"]


def test_r_gdpr_4_a_retry_finds_the_values_correct_and_changes_nothing() -> None:
    maria_world()
    corrections = {"full_name": "Maria Petrova", "company_name": "Ясен АД", "email": NEW}
    request = privacy_request(MARIA, "rectification", corrections=corrections)
    first = rectify(corrections, request)
    retried = rectify(corrections, request)

    assert first["changed"]["users"] == 2
    assert retried["changed"] == {}
    assert retried["summary"].startswith("Your company name, email and full name needed no change")


@pytest.mark.parametrize(
    ("corrections", "field"),
    [
        ({"full_name": "Maria"}, "full_name"),  # one word is not a legal full name
        ({"full_name": "Maria 2nd"}, "full_name"),
        ({"company_name": "   "}, "company_name"),
        ({"company_name": "x" * 201}, "company_name"),
        ({"email": "not-an-address"}, "email"),
        ({"email": 42}, "email"),
        ({"birth_date": "1990-01-01"}, "birth_date"),
        ({}, "corrections"),
    ],
)
def test_r_gdpr_4_unknown_fields_and_invalid_values_are_422_and_change_nothing(
    corrections: dict[str, Any], field: str
) -> None:
    world = maria_world()
    with pytest.raises(errors.InvalidField) as raised:
        rectify({"full_name": "Maria Petrova", **corrections} if field != "corrections" else corrections)
    assert raised.value.status == 422
    assert raised.value.extra["errors"][0]["field"] == field
    assert user(world.own["id"], world.own["owner_id"]).full_name == "Maria Ivanova"


def test_r_gdpr_4_the_subjects_own_corrections_are_used_when_staff_give_none() -> None:
    world = maria_world()
    request = privacy_request(MARIA, "rectification", corrections={"full_name": "Maria Petrova"})
    rectification.complete(privacy.Completing(request, clock.now(), get_settings(), "stf_1"))
    assert user(world.own["id"], world.own["owner_id"]).full_name == "Maria Petrova"


# ---------------------------------------------------------------- email


def test_r_gdpr_4_the_email_is_corrected_on_users_accounts_and_claims() -> None:
    world = maria_world()
    result = rectify({"email": " Maria.New@Example.COM "})

    assert user(world.own["id"], world.own["owner_id"]).email == NEW
    assert user(world.other["id"], world.maria_in_other).email == NEW
    own = account(world.own["id"])
    assert (own.owner_email, own.owner_email_canonical) == (NEW, NEW)
    assert claim_owner(f"owner-email#{MARIA}") is None
    assert claim_owner(f"owner-email#{NEW}") == world.own["id"]
    assert claim_owner(f"user-email#{world.other['id']}#{MARIA}") is None
    assert claim_owner(f"user-email#{world.other['id']}#{NEW}") == world.other["id"]
    assert account(world.tagged["id"]).owner_email == TAGGED["email"]  # another mailbox
    assert result["changed"]["users"] == 2
    assert result["changed"]["accounts"] == 1
    assert result["changed"]["claims"] == 2


def test_r_gdpr_4_after_an_email_correction_the_new_address_finds_her_records() -> None:
    world = maria_world()
    before = data_subjects.find(MARIA, get_settings())
    rectify({"email": NEW})

    after = data_subjects.find(NEW, get_settings())
    assert after.account_ids == before.account_ids == {world.own["id"], world.other["id"]}
    assert [a.id for a in after.owned] == [world.own["id"]]
    gone = data_subjects.find(MARIA, get_settings())
    assert (gone.owned, gone.memberships) == ((), ())


def test_r_gdpr_4_consents_and_person_notices_move_to_the_new_person_key() -> None:
    maria_world()
    settings = get_settings()
    old_key, new_key = privacy.person_key(MARIA, settings), privacy.person_key(NEW, settings)
    request = privacy_request(MARIA, "rectification", corrections={"email": NEW})
    result = rectify({"email": NEW}, request)

    assert list(Consent.query(old_key, consistent_read=True)) == []
    moved = {c.purpose: c for c in Consent.query(new_key, consistent_read=True)}
    assert set(moved) == {"marketing", "customer_service"}
    marketing = moved["marketing"]
    assert marketing.email == NEW
    assert marketing.given_at == NOW
    assert marketing.given_source == "signup"
    assert marketing.history[0]["action"] == "given"
    assert marketing.history[-1] == {
        "at": clock.to_iso(clock.now()),
        "action": "email_rectified",
        "how": f"request:{request.id}",
    }
    assert list(Notification.query(privacy.PERSON_NOTICES + old_key, consistent_read=True)) == []
    (notice,) = Notification.query(privacy.PERSON_NOTICES + new_key, consistent_read=True)
    assert notice.to == MARIA  # what was sent, to whom, stays
    assert result["changed"]["consents"] == 2
    # Requests keep the address and person key they were made with.
    assert PrivacyRequest.get(request.id, consistent_read=True).person_key == old_key


def test_r_gdpr_4_r_gdpr_2_the_retention_schedule_moves_with_the_consents() -> None:
    maria_world()
    settings = get_settings()
    old_key, new_key = privacy.person_key(MARIA, settings), privacy.person_key(NEW, settings)
    scheduled = retention.schedule_non_customer(old_key, NOW, clock.now(), settings)
    rectify({"email": NEW})

    assert RetentionItem.count(f"person#{old_key}", consistent_read=True) == 0
    moved = RetentionItem.get(f"person#{new_key}", consistent_read=True)
    assert (moved.erase_at, moved.kind) == (scheduled.erase_at, scheduled.kind)
    assert moved.retention_shard == shard_of(f"person#{new_key}", settings.sweep_shards)


def test_r_gdpr_4_a_consent_the_new_address_has_already_is_kept_apart_and_reported() -> None:
    maria_world()
    settings = get_settings()
    consent(NEW, "marketing", NOW - timedelta(days=3))
    result = rectify({"email": NEW})

    kept = kept_tables(result)
    assert kept["consents"]["items"] == 1
    assert "reconcile" in kept["consents"]["why"]
    (left,) = Consent.query(privacy.person_key(MARIA, settings), consistent_read=True)
    assert (left.purpose, left.email) == ("marketing", MARIA)
    new_marketing = Consent.get(privacy.person_key(NEW, settings), "marketing", consistent_read=True)
    assert new_marketing.given_at == NOW - timedelta(days=3)  # not overwritten


def _nothing_changed(world: World) -> None:
    assert user(world.own["id"], world.own["owner_id"]).email == MARIA
    assert user(world.other["id"], world.maria_in_other).email == MARIA
    assert account(world.own["id"]).owner_email == MARIA
    assert claim_owner(f"owner-email#{MARIA}") == world.own["id"]


@pytest.mark.parametrize(
    "taken",
    [
        TAGGED["email"],  # owns an account: the owner-email claim is taken
        "agent1@example.com",  # Petar, a user of the account she owns
        "ivan@example.com",  # the owner of the account she is an agent of
    ],
)
def test_r_gdpr_4_an_address_that_is_someone_elses_is_409_email_taken_and_nothing_changes(taken: str) -> None:
    world = maria_world()
    with pytest.raises(errors.EmailTaken) as raised:
        rectify({"email": taken})
    assert raised.value.status == 409
    _nothing_changed(world)


def test_r_gdpr_4_a_claim_taken_between_the_check_and_the_write_is_still_409() -> None:
    """The claim's ``attribute_not_exists`` decides, not the read before it."""
    world = maria_world()
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(rectification, "_refuse_taken", lambda subject, new: None)
        Claim(f"owner-email#{NEW}", account_id="acc_someone_else", claimed_at=NOW).save()
        with pytest.raises(errors.EmailTaken):
            rectify({"email": NEW})
    _nothing_changed(world)


def test_r_gdpr_4_a_disposable_address_is_refused_as_at_signup() -> None:
    maria_world()
    settings = get_settings().model_copy(update={"disposable_email_domains": "mailinator.com"})
    request = privacy_request(MARIA, "rectification")
    with pytest.raises(errors.InvalidField):
        rectification.complete(
            privacy.Completing(request, clock.now(), settings, "stf_1", corrections={"email": "m@mailinator.com"})
        )


def test_r_gdpr_4_an_email_correction_stopped_half_way_is_finished_by_the_retry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = maria_world()
    request = privacy_request(MARIA, "rectification", corrections={"email": NEW})
    moved_members = rectification._move_member

    def crash(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the Lambda timed out")

    with monkeypatch.context() as patched:
        patched.setattr(rectification, "_move_member", crash)
        with pytest.raises(RuntimeError):
            rectify({"email": NEW}, request)
    assert account(world.own["id"]).owner_email == NEW  # the owned account moved first
    assert user(world.other["id"], world.maria_in_other).email == MARIA

    assert rectification._move_member is moved_members
    retried = rectify({"email": NEW}, request)
    assert user(world.other["id"], world.maria_in_other).email == NEW
    assert retried["changed"]["users"] == 1
    assert "accounts" not in retried["changed"]
    assert rectify({"email": NEW}, request)["changed"] == {}


def test_r_gdpr_4_the_same_address_is_no_change() -> None:
    maria_world()
    result = rectify({"email": "MARIA@example.com"})
    assert result["changed"] == {}
    assert "needed no change" in result["summary"]

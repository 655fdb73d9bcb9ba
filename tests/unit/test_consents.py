"""Consent records and what they allow, over moto: consents given at signup and redemption
(R-GDPR-1), withdrawal by request and by the one-click unsubscribe (R-GDPR-9), objection
(R-GDPR-8) and restriction (R-GDPR-6) stopping marketing and profiling, and a
non-customer's records erased by the retention sweep (R-GDPR-2)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from pynamodb.exceptions import DoesNotExist

from lifecycle import notifications
from lifecycle.core import clock, errors
from lifecycle.core.settings import Settings, get_settings
from lifecycle.entry.sweeps import SweepRequest
from lifecycle.privacy import consents, privacy, retention
from lifecycle.privacy.privacy import Completing, Purpose
from lifecycle.privacy.retention import add_years, erase_due
from lifecycle.storage import Account, Consent, DeletionCertificate, Notification, PrivacyRequest, RetentionItem
from tests.support import STAFF, call, except_welcome, outbox_items
from tests.unit.test_signup import NOW, TRIAL, add_voucher, person

EMAIL = "maria@example.com"
LATER = NOW + timedelta(days=3)
NEWS = {"headline": "Chat widgets are here", "news": "Your help desk can now answer chats."}


pytestmark = pytest.mark.usefixtures("world")


def key(email: str = EMAIL) -> str:
    return privacy.person_key(email, get_settings())


def item(purpose: str, email: str = EMAIL) -> Consent:
    return Consent.get(key(email), purpose, consistent_read=True)


def items(email: str = EMAIL) -> dict[str, Consent]:
    return {found.purpose: found for found in Consent.query(key(email), consistent_read=True)}


def signed_up(**changes: Any) -> dict[str, Any]:
    reply = call("POST", "/signups", body={**TRIAL, **changes})
    assert reply.status == 201, reply.body
    return dict(reply.body)


def completing(request_type: str, purposes: tuple[Purpose, ...] = privacy.PURPOSES, at: datetime = LATER) -> Completing:
    request = PrivacyRequest(
        "dsr_1",
        type=request_type,
        status="in_progress",
        email=EMAIL,
        person_key=key(),
        received_at=NOW,
        due_at=NOW + timedelta(days=30),
    )
    return Completing(request=request, now=at, settings=get_settings(), staff_id="staff-1", purposes=purposes)


def unsubscribe_token(email: str = EMAIL) -> str:
    return privacy.sign("unsubscribe", key(email), None, get_settings())


def _forever() -> int:
    return 10**9


# ---------------------------------------------------------------- R-GDPR-1: records


def test_r_gdpr_1_signup_records_the_consents_ticked_with_time_source_text_version_and_account() -> None:
    account = signed_up(consents=["marketing", "profiling"])

    found = items()
    assert set(found) == {"marketing", "profiling"}  # customer_service was not ticked
    marketing = found["marketing"]
    assert (marketing.given_at, marketing.given_source, marketing.account_id) == (NOW, "signup", account["id"])
    assert marketing.text_version == get_settings().consent_text_version
    assert (marketing.email, marketing.withdrawn_at, marketing.objected_at) == (EMAIL, None, None)
    assert marketing.history == [
        {
            "at": "2026-11-25T12:00:00Z",
            "action": "given",
            "source": "signup",
            "text_version": get_settings().consent_text_version,
            "account_id": account["id"],
        }
    ]


def test_r_gdpr_1_nothing_is_pre_ticked_a_signup_without_consents_records_none() -> None:
    signed_up()
    assert items() == {}
    with pytest.raises(DoesNotExist):
        RetentionItem.get("person#" + key())


@pytest.mark.parametrize("given", [["marketing", "marketing"], ["newsletters"]])
def test_r_gdpr_1_a_purpose_given_twice_or_unknown_is_a_validation_error(given: list[str]) -> None:
    reply = call("POST", "/signups", body={**TRIAL, "consents": given})
    assert (reply.status, reply.code) == (422, "validation_error")
    assert "consents" in {error["field"].split(".")[0] for error in reply.body["errors"]}
    assert items() == {}


def test_r_gdpr_1_redemption_records_the_consents_with_the_new_account() -> None:
    add_voucher("LTD-CONSENT-1")
    reply = call("POST", "/redemptions", body=person(code="LTD-CONSENT-1", consents=["customer_service"]))
    assert reply.status == 201, reply.body

    given = item("customer_service")
    assert (given.given_source, given.account_id, given.given_at) == ("redemption", reply.body["id"], NOW)


def test_r_gdpr_1_a_failed_signup_records_no_consent() -> None:
    signed_up(consents=["marketing"])
    again = call("POST", "/signups", body={**TRIAL, "subdomain": "other", "consents": ["profiling"]})
    assert (again.status, again.code) == (409, "email_taken")
    assert set(items()) == {"marketing"}


def test_r_gdpr_1_r_gdpr_2_every_consent_given_schedules_the_persons_retention() -> None:
    signed_up(consents=["marketing"])
    scheduled = RetentionItem.get("person#" + key())
    assert (scheduled.kind, scheduled.ended_at, scheduled.erase_at) == ("non_customer", NOW, add_years(NOW, 5))

    consents.give(EMAIL, ["profiling"], "privacy_request", None, LATER, get_settings())
    assert RetentionItem.get("person#" + key()).erase_at == add_years(LATER, 5)  # moved on


def test_r_gdpr_1_a_withdrawal_shows_when_and_how_and_history_keeps_every_step() -> None:
    account = signed_up(consents=["marketing"])
    assert consents.withdraw(key(), ["marketing"], "unsubscribe", LATER) == ["marketing"]

    marketing = item("marketing")
    assert (marketing.given_at, marketing.withdrawn_at, marketing.withdrawn_how) == (NOW, LATER, "unsubscribe")
    assert [step["action"] for step in marketing.history] == ["given", "withdrawn"]
    assert marketing.history[1] == {"at": "2026-11-28T12:00:00Z", "action": "withdrawn", "how": "unsubscribe"}

    (view,) = consents.status_of(key())
    assert view["purpose"] == "marketing"
    assert (view["given_at"], view["given_source"], view["account_id"]) == (
        "2026-11-25T12:00:00Z",
        "signup",
        account["id"],
    )
    assert (view["withdrawn_at"], view["withdrawn_how"]) == ("2026-11-28T12:00:00Z", "unsubscribe")
    assert len(view["history"]) == 2


def test_r_gdpr_1_a_consent_given_again_ends_the_withdrawal_and_history_keeps_both() -> None:
    consents.give(EMAIL, ["marketing"], "privacy_request", None, NOW, get_settings())
    consents.withdraw(key(), ["marketing"], "unsubscribe", NOW + timedelta(hours=1))
    consents.give(EMAIL, ["marketing"], "privacy_request", None, LATER, get_settings())

    marketing = item("marketing")
    assert (marketing.given_at, marketing.withdrawn_at) == (LATER, None)
    assert [step["action"] for step in marketing.history] == ["given", "withdrawn", "given"]
    assert consents.may_send(EMAIL, "marketing", get_settings())


# ---------------------------------------------------------------- R-GDPR-9: withdrawal


def test_r_gdpr_9_a_withdrawal_request_is_effective_only_for_the_purposes_named() -> None:
    signed_up(consents=["marketing", "profiling", "customer_service"])

    result = consents.complete_withdrawal(completing("withdraw_consent", ("marketing",)))

    assert result["purposes"] == {"marketing": "2026-11-28T12:00:00Z"}
    assert "marketing" in result["summary"]
    assert "other choices are unchanged" in result["summary"]
    found = items()
    assert (found["marketing"].withdrawn_at, found["marketing"].withdrawn_how) == (LATER, "request:dsr_1")
    assert found["profiling"].withdrawn_at is None
    assert found["customer_service"].withdrawn_at is None
    assert not consents.may_send(EMAIL, "marketing", get_settings())
    assert consents.may_send(EMAIL, "profiling", get_settings())


def test_r_gdpr_9_completing_a_withdrawal_again_changes_nothing() -> None:
    signed_up(consents=["marketing", "profiling"])
    first = consents.complete_withdrawal(completing("withdraw_consent", ("marketing", "profiling")))
    again = consents.complete_withdrawal(
        completing("withdraw_consent", ("marketing", "profiling"), LATER + timedelta(1))
    )

    assert again == first
    assert [step["action"] for step in item("profiling").history] == ["given", "withdrawn"]
    # A withdrawn profiling consent stops profiling too: no switching to another basis.
    assert consents.why_not(EMAIL, "profiling", get_settings()) == "withdrawn"


def test_r_gdpr_9_withdrawing_a_consent_never_given_says_so_and_records_nothing() -> None:
    signed_up(consents=["marketing"])
    result = consents.complete_withdrawal(completing("withdraw_consent", ("profiling", "customer_service")))

    assert result["purposes"] == {"profiling": None, "customer_service": None}
    assert "nothing to withdraw" in result["summary"]
    assert "Customer service messages continue" in result["summary"]
    assert set(items()) == {"marketing"}


def test_r_gdpr_9_unsubscribe_withdraws_the_marketing_consent_and_a_second_click_changes_nothing() -> None:
    signed_up(consents=["marketing", "profiling"])
    token = unsubscribe_token()

    consents.unsubscribe(token, LATER, get_settings())
    consents.unsubscribe(token, LATER + timedelta(days=1), get_settings())

    marketing = item("marketing")
    assert (marketing.withdrawn_at, marketing.withdrawn_how) == (LATER, "unsubscribe")
    assert [step["action"] for step in marketing.history] == ["given", "withdrawn"]
    assert item("profiling").withdrawn_at is None  # the link is for marketing only


def test_r_gdpr_9_an_unsubscribe_link_of_a_person_without_records_creates_none() -> None:
    consents.unsubscribe(unsubscribe_token("nobody@example.com"), LATER, get_settings())
    assert items("nobody@example.com") == {}


def test_r_gdpr_9_a_tampered_expired_or_other_use_token_is_refused() -> None:
    signed_up(consents=["marketing"])
    settings = get_settings()
    token = unsubscribe_token()
    payload, _, mac = token.partition(".")
    tampered = privacy.sign("unsubscribe", key("other@example.com"), None, settings).split(".")[0] + "." + mac
    expired = privacy.sign("unsubscribe", key(), NOW - timedelta(seconds=1), settings)
    other_use = privacy.sign("verify", key(), None, settings)

    for bad in (tampered, expired, other_use, payload, "", "not-a-token"):
        with pytest.raises(errors.InvalidToken):
            consents.unsubscribe(bad, NOW, settings)
    assert item("marketing").withdrawn_at is None


def test_r_gdpr_9_post_privacy_unsubscribe_with_the_links_token_answers_204() -> None:
    signed_up(consents=["marketing"])

    reply = call("POST", f"/privacy/unsubscribe?token={unsubscribe_token()}")

    assert reply.status == 204, reply.body
    assert (item("marketing").withdrawn_at, item("marketing").withdrawn_how) == (NOW, "unsubscribe")
    assert call("POST", f"/privacy/unsubscribe?token={unsubscribe_token()}").status == 204  # again: no change
    assert len(item("marketing").history) == 2


def test_r_gdpr_9_the_token_may_come_in_a_json_body() -> None:
    signed_up(consents=["marketing"])
    reply = call("POST", "/privacy/unsubscribe", body={"token": unsubscribe_token()})
    assert reply.status == 204, reply.body
    assert item("marketing").withdrawn_how == "unsubscribe"


def test_r_gdpr_9_a_mail_clients_rfc_8058_one_click_post_unsubscribes() -> None:
    """RFC 8058: the client POSTs ``List-Unsubscribe=One-Click`` as a form to the header's URL."""
    signed_up(consents=["marketing"])
    reply = call(
        "POST",
        f"/privacy/unsubscribe?token={unsubscribe_token()}",
        raw_body=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert reply.status == 204, reply.body
    assert item("marketing").withdrawn_how == "unsubscribe"


def test_r_gdpr_9_an_invalid_token_over_http_is_400_invalid_token() -> None:
    signed_up(consents=["marketing"])
    other_use = privacy.sign("verify", key(), None, get_settings())
    for token in (other_use, unsubscribe_token()[:-2] + "xx"):
        reply = call("POST", f"/privacy/unsubscribe?token={token}")
        assert (reply.status, reply.code) == (400, "invalid_token")
    assert item("marketing").withdrawn_at is None


# ---------------------------------------------------------------- R-GDPR-6, R-GDPR-8, R-GDPR-9: marketing


def person_notices(email: str = EMAIL) -> list[Notification]:
    return list(Notification.query(privacy.PERSON_NOTICES + key(email), consistent_read=True))


def test_r_gdpr_9_marketing_to_a_consenting_person_carries_the_one_click_link_and_rfc_8058_headers(
    outbox: Path,
) -> None:
    signed_up(consents=["marketing"])
    clock.set_now(LATER)

    record = notifications.notify_marketing(EMAIL, "product_news", LATER, **NEWS)

    assert record is not None
    link = consents.unsubscribe_link(key(), get_settings())
    assert link.startswith(get_settings().public_base_url + "/privacy/unsubscribe?token=")
    (sent,) = except_welcome(outbox_items(outbox))
    (stored,) = person_notices()
    assert (stored.id, stored.to, stored.type, stored.sent_at) == (record.id, EMAIL, "product_news", LATER)
    assert link in stored.body
    assert (sent["id"], sent["to"], sent["subject"]) == (record.id, EMAIL, NEWS["headline"])
    assert sent["headers"] == {"List-Unsubscribe": f"<{link}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    # The link in the email unsubscribes.
    assert call("POST", link.removeprefix(get_settings().public_base_url)).status == 204
    assert notifications.notify_marketing(EMAIL, "product_news", LATER, **NEWS) is None


@pytest.mark.parametrize("state", ["never_consented", "unsubscribed", "objected", "restricted"])
def test_r_gdpr_6_r_gdpr_8_r_gdpr_9_marketing_is_refused_and_nothing_is_sent(outbox: Path, state: str) -> None:
    signed_up(consents=[] if state == "never_consented" else ["marketing"])
    if state == "unsubscribed":
        consents.unsubscribe(unsubscribe_token(), NOW, get_settings())
    elif state == "objected":
        consents.complete_objection(completing("objection", ("marketing",), NOW))
    elif state == "restricted":
        consents.complete_restriction(completing("restriction", at=NOW))

    assert notifications.notify_marketing(EMAIL, "product_news", LATER, **NEWS) is None
    assert except_welcome(outbox_items(outbox)) == []
    assert person_notices() == []


def test_marketing_never_bypasses_the_consent_check() -> None:
    with pytest.raises(ValueError, match="notify_marketing"):
        notifications.notify("acc_1", "product_news", EMAIL, NOW, unsubscribe_url="x", **NEWS)
    with pytest.raises(ValueError, match="not marketing"):
        notifications.notify_marketing(EMAIL, "welcome", NOW, subdomain="yasen", plan="ticket")
    with pytest.raises(KeyError, match="unsubscribe_url"):
        notifications.notify_marketing(EMAIL, "product_news", NOW, unsubscribe_url="https://elsewhere", **NEWS)


def test_r_gdpr_9_ses_sends_marketing_with_the_rfc_8058_headers(outbox: Path) -> None:
    signed_up(consents=["marketing"])
    record = notifications.notify_marketing(EMAIL, "product_news", LATER, **NEWS)
    assert record is not None
    link = consents.unsubscribe_link(key(), get_settings())
    sender = notifications.SesSender("help@helpdesk.example")
    sender._client = boto3.client("sesv2", region_name="eu-central-1")
    expected = {
        "FromEmailAddress": "help@helpdesk.example",
        "Destination": {"ToAddresses": [EMAIL]},
        "Content": {
            "Simple": {
                "Subject": {"Data": NEWS["headline"], "Charset": "UTF-8"},
                "Body": {"Text": {"Data": record.body, "Charset": "UTF-8"}},
                "Headers": [
                    {"Name": "List-Unsubscribe", "Value": f"<{link}>"},
                    {"Name": "List-Unsubscribe-Post", "Value": "List-Unsubscribe=One-Click"},
                ],
            }
        },
    }
    with Stubber(sender._client) as stub:
        stub.add_response("send_email", {"MessageId": "m-1"}, expected)
        assert sender.send(notifications.view_of(record), LATER) == "m-1"
        stub.assert_no_pending_responses()
    welcome = notifications.compose(
        "acc_1", "welcome", EMAIL, NOW, subdomain="yasen", plan="ticket", sign_in="Sign in."
    )
    assert type(notifications.view_of(welcome)) is notifications.NotificationView  # no headers on service notices


# ---------------------------------------------------------------- R-GDPR-6, R-GDPR-8: restriction and objection


def test_r_gdpr_6_restriction_stops_marketing_and_profiling_not_customer_service() -> None:
    signed_up(consents=["marketing", "profiling", "customer_service"])
    settings = get_settings()

    result = consents.complete_restriction(completing("restriction"))
    again = consents.complete_restriction(completing("restriction", at=LATER + timedelta(days=1)))

    assert again == result
    assert (result["restricted_at"], result["stopped"]) == ("2026-11-28T12:00:00Z", ["marketing", "profiling"])
    assert "restricted" in result["summary"]
    restriction = item(consents.RESTRICTION)
    assert (restriction.restricted_at, restriction.restricted_how) == (LATER, "request:dsr_1")
    assert [step["action"] for step in restriction.history] == ["restricted"]
    assert consents.why_not(EMAIL, "marketing", settings) == "restricted"
    assert consents.why_not(EMAIL, "profiling", settings) == "restricted"
    assert consents.may_send(EMAIL, "customer_service", settings)
    # Their retention (R-GDPR-2) is the request's completion's, in its transaction (test_privacy_requests).


def test_r_gdpr_8_an_objection_stops_the_purposes_objected_to_only() -> None:
    signed_up(consents=["marketing"])
    settings = get_settings()
    assert consents.may_send(EMAIL, "profiling", settings)  # legitimate interest: no consent needed

    result = consents.complete_objection(completing("objection", ("profiling", "customer_service")))

    assert result["purposes"] == {"profiling": "2026-11-28T12:00:00Z", "customer_service": "2026-11-28T12:00:00Z"}
    assert result["stopped"] == ["profiling"]
    assert "profiling" in result["summary"]
    assert "Customer service messages continue" in result["summary"]
    assert consents.why_not(key(), "profiling", settings) == "objected"
    assert consents.may_send(EMAIL, "marketing", settings)  # not objected to
    assert consents.may_send(EMAIL, "customer_service", settings)  # the contract's
    assert item("profiling").objected_how == "request:dsr_1"
    assert consents.complete_objection(completing("objection", ("profiling", "customer_service"))) == result


def test_r_gdpr_8_r_pay_10_an_owner_who_objected_to_profiling_is_not_flagged_for_an_enterprise_offer(
    tables: Settings,
) -> None:
    objecting = signed_up(consents=[], plan="free", subdomain="objecting")
    other = signed_up(plan="free", email="ivan@example.com", subdomain="other")
    consents.complete_objection(completing("objection", ("profiling",), NOW))

    for account in (objecting, other):
        reply = call(
            "POST",
            f"/admin/accounts/{account['id']}/usage",
            body={"end_users": tables.enterprise_end_users},
            claims=STAFF,
        )
        assert reply.status == 200, reply.body
        assert reply.body["flagged"] == ([] if account is objecting else ["enterprise"])
    flags = call("GET", "/admin/usage-flags?kind=enterprise", claims=STAFF).body["items"]
    assert [flag["account_id"] for flag in flags] == [other["id"]]


def test_r_gdpr_6_r_pay_10_a_restricted_owner_is_not_profiled(tables: Settings) -> None:
    account = signed_up(plan="free")
    consents.complete_restriction(completing("restriction", at=NOW))
    body = {"end_users": tables.enterprise_end_users}
    reply = call("POST", f"/admin/accounts/{account['id']}/usage", body=body, claims=STAFF)
    assert reply.body["flagged"] == []


# ---------------------------------------------------------------- R-GDPR-2: non-customers' records erased


SIX_YEARS_AGO = NOW.replace(year=NOW.year - 6)


def person_records(email: str = EMAIL) -> None:
    """A person who consented six years ago and was sent marketing then."""
    consents.give(email, ["marketing", "profiling"], "privacy_request", None, SIX_YEARS_AGO, get_settings())
    consents.object_to(key(email), ["profiling"], "request:dsr_0", SIX_YEARS_AGO)
    assert notifications.notify_marketing(email, "product_news", SIX_YEARS_AGO, **NEWS) is not None


def test_r_gdpr_2_a_non_customers_records_are_erased_five_years_after_the_consent(outbox: Path) -> None:
    person_records()
    erase_at = RetentionItem.get("person#" + key()).erase_at
    assert erase_at == add_years(SIX_YEARS_AGO, 5)
    assert erase_due(SweepRequest(), erase_at - timedelta(seconds=1), _forever, get_settings()).examined == 0

    summary = erase_due(SweepRequest(), NOW, _forever, get_settings())

    assert (summary.changed, summary.items) == (1, {"consents": 2, "notifications": 1, "privacy_requests": 0})
    assert items() == {}
    assert person_notices() == []
    scheduled = RetentionItem.get("person#" + key())
    assert (scheduled.erased_at, scheduled.retention_shard) == (NOW, None)
    cert = DeletionCertificate.get(scheduled.certificate_id)
    assert (cert.reason, cert.account_id, cert.deleted, cert.kept) == (
        "retention",
        None,
        {"consents": 2, "notifications": 1, "privacy_requests": 0},
        [],
    )
    assert EMAIL not in str(cert.to_simple_dict())


def test_r_gdpr_2_an_ex_customers_consents_are_erased_when_due(outbox: Path) -> None:
    clock.set_now(SIX_YEARS_AGO)
    account = signed_up(consents=["marketing"])
    Account(account["id"]).update(actions=[Account.status.set("cancelled")])  # ended since
    clock.set_now(NOW)

    summary = erase_due(SweepRequest(), NOW, _forever, get_settings())

    assert (summary.changed, summary.items) == (1, {"consents": 1, "notifications": 0, "privacy_requests": 0})
    assert items() == {}


def test_r_gdpr_2_a_current_customers_consents_are_kept_and_the_date_moves_on(outbox: Path) -> None:
    clock.set_now(SIX_YEARS_AGO)
    signed_up(consents=["marketing"])
    clock.set_now(NOW)

    preview = erase_due(SweepRequest(dry_run=True), NOW, _forever, get_settings())
    assert (preview.changed, preview.items) == (0, {})
    assert RetentionItem.get("person#" + key()).erase_at == add_years(SIX_YEARS_AGO, 5)  # a dry run moves nothing

    summary = erase_due(SweepRequest(), NOW, _forever, get_settings())

    assert (summary.examined, summary.changed, summary.items) == (1, 0, {})
    assert set(items()) == {"marketing"}
    scheduled = RetentionItem.get("person#" + key())
    assert (scheduled.erase_at, scheduled.erased_at, scheduled.certificate_id) == (add_years(NOW, 5), None, None)
    assert list(DeletionCertificate.scan()) == []


def test_r_gdpr_2_a_dry_run_counts_a_non_customers_records_and_erases_nothing(outbox: Path) -> None:
    person_records()
    preview = erase_due(SweepRequest(dry_run=True), NOW, _forever, get_settings())
    assert (preview.changed, preview.items) == (0, {"consents": 2, "notifications": 1, "privacy_requests": 0})
    assert len(items()) == 2
    assert len(person_notices()) == 1
    assert RetentionItem.get("person#" + key()).retention_shard is not None


def budget_of(checks: int) -> Callable[[], int]:
    """Lambda time for ``checks`` looks at the clock, then none."""
    counter = iter(range(10**6))
    return lambda: 10**9 if next(counter) < checks else 0


def test_r_gdpr_2_an_erasure_out_of_time_is_finished_by_the_next_run_with_exact_counts(outbox: Path) -> None:
    person_records()
    for stop_after in range(1, 12):  # the first budget that stops between the first and the last delete
        first = erase_due(SweepRequest(), NOW, budget_of(stop_after), get_settings())
        if len(items()) + len(person_notices()) < 3:
            break
    assert (first.changed, first.unfinished) == (0, 1)
    assert 0 < len(items()) + len(person_notices()) < 3

    rest = erase_due(SweepRequest(), NOW, _forever, get_settings())

    assert (rest.changed, rest.items) == (1, {"consents": 2, "notifications": 1, "privacy_requests": 0})
    assert items() == {}
    assert person_notices() == []


def test_r_gdpr_2_a_consent_given_again_during_the_erasure_stops_it(outbox: Path) -> None:
    person_records()
    due = RetentionItem.get("person#" + key())
    consents.give(EMAIL, ["marketing"], "privacy_request", None, NOW, get_settings())

    assert retention._still_due(due, NOW) is None  # the new consent moved the date on
    with pytest.raises(retention._Erased):
        retention._delete_consent(item("marketing"), due)
    assert item("marketing").given_at == NOW


def test_person_keys_hash_the_normalised_address_so_case_and_unicode_domains_are_one_person() -> None:
    assert key("Maria@Example.COM") == key(EMAIL)
    assert key("ana@bücher.de") == key("ana@xn--bcher-kva.de")
    assert key("maria+news@example.com") != key(EMAIL)


def test_an_unknown_purpose_is_refused() -> None:
    with pytest.raises(ValueError, match="purpose"):
        consents.withdraw(key(), ["newsletters"], "unsubscribe", NOW)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="purpose"):
        consents.may_send(EMAIL, "newsletters", get_settings())  # type: ignore[arg-type]


def test_consent_records_are_found_only_by_person_key_which_names_nobody() -> None:
    signed_up(consents=["marketing"])
    (found,) = Consent.scan()
    assert "@" not in found.person_key
    assert found.person_key == key()

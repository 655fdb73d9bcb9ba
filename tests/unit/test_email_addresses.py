"""R-REG-3 through HTTP over moto: email addresses by IDNA 2008 where people register and give
billing details, uniqueness of an owner's address without rewriting its domain, refusals as
problem+json with nothing written, and the ASCII form the mail provider (SES) is given.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from lifecycle import notifications
from lifecycle.core import clock
from lifecycle.core.settings import Settings, get_settings
from lifecycle.notifications import NotificationView, SesSender
from lifecycle.storage import Account, Claim, User
from tests.conftest import point_service_at
from tests.support import Reply, billing_details_body, call, outbox_items, owner_of
from tests.unit.test_signup import TRIAL

pytestmark = pytest.mark.usefixtures("world", "outbox")


def snapshot(settings: Settings) -> dict[str, list[str]]:
    """Every table's items but the idempotency store's (test-only Scans)."""
    client = boto3.client("dynamodb", region_name=settings.region)
    state = {}
    for name in client.list_tables()["TableNames"]:
        if name == settings.idempotency_table:
            continue
        pages = client.get_paginator("scan").paginate(TableName=name, ConsistentRead=True)
        state[name] = sorted(json.dumps(item, sort_keys=True) for page in pages for item in page["Items"])
    return state


def signup(email: str, tag: str) -> Reply:
    return call("POST", "/signups", body={**TRIAL, "email": email, "company_name": f"Company {tag}", "subdomain": tag})


def refused_email(reply: Reply, reason: str) -> None:
    assert (reply.status, reply.code) == (422, "validation_error"), reply.body
    assert reply.headers["content-type"].startswith("application/problem+json")
    messages = [error["message"] for error in reply.body["errors"] if error["field"] == "email"]
    assert messages, reply.body
    assert reason in messages[0]


def test_r_reg_3_anna_at_strasse_de_signs_up_as_herself_and_does_not_collide_with_anna_at_strasse_de() -> None:
    sharp = signup("Anna@Straße.DE", "anna-sharp")
    assert sharp.status == 201, sharp.body
    double = signup("anna@strasse.de", "anna-double")
    assert double.status == 201, double.body  # another domain, another person

    account = Account.get(sharp.body["id"])
    assert account.owner_email == "anna@straße.de"
    owner = User.get(account.id, sharp.body["owner_id"])
    assert owner.email == "anna@straße.de"
    # The claim is keyed by the domain's own ASCII form (IDNA 2008), never by "strasse.de".
    assert Claim.get("owner-email#anna@xn--strae-oqa.de").account_id == account.id
    assert Claim.get("owner-email#anna@strasse.de").account_id == double.body["id"]


@pytest.mark.parametrize("again", ["anna@straße.de", "ANNA@STRAßE.DE", "anna@xn--strae-oqa.de"])
def test_r_reg_3_the_same_address_in_another_case_or_form_is_email_taken(again: str) -> None:
    assert signup("anna@Straße.de", "anna-first").status == 201
    taken = signup(again, "anna-again")
    assert (taken.status, taken.code) == (409, "email_taken")


def test_r_reg_3_the_welcome_goes_to_the_stored_unicode_address(outbox: Path) -> None:
    assert signup("ana@Bücher.de", "ana-books").status == 201
    (welcome,) = [item for item in outbox_items(outbox) if item["type"] == "welcome"]
    assert welcome["to"] == "ana@bücher.de"


@pytest.mark.parametrize(
    ("email", "reason"),
    [
        ("ana@mail.test", "special-use or reserved"),
        ("ana@mail.invalid", "special-use or reserved"),
        ("ana@app.localhost", "special-use or reserved"),
        ("анна@example.com", "SMTPUTF8"),
        ("bot@0815.ru", "disposable"),  # from the maintained disposable-email-domains list
        ("bot@mail.wegwerf.example", "disposable"),  # from the setting
        ("ana@exa_mple.com", "invalid characters"),
    ],
)
def test_r_reg_3_a_refused_address_is_422_naming_email_and_nothing_is_written(
    email: str, reason: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_service_at({"DISPOSABLE_EMAIL_DOMAINS": "wegwerf.example"}, monkeypatch)
    settings = get_settings()
    before = snapshot(settings)
    refused_email(signup(email, "refused-co"), reason)
    refused_email(call("POST", "/redemptions", body={**TRIAL, "email": email, "code": "LIFE-0000-AAAA"}), reason)
    assert snapshot(settings) == before


def test_r_reg_3_the_documentation_domains_sign_up() -> None:
    for n, domain in enumerate(["example.com", "example.net", "example.org"]):
        reply = signup(f"Ana{n}@EXAMPLE.{domain.split('.')[1].upper()}", f"doc-{n}")
        assert reply.status == 201, reply.body
        assert Account.get(reply.body["id"]).owner_email == f"ana{n}@{domain}"


@pytest.fixture
def account() -> dict[str, Any]:
    reply = call("POST", "/signups", body=TRIAL)
    assert reply.status == 201, reply.body
    return dict(reply.body)


def put_details(account: dict[str, Any], email: str) -> Reply:
    body = billing_details_body(email=email)
    return call("PUT", f"/accounts/{account['id']}/billing-details", body=body, claims=owner_of(account))


def test_r_reg_3_billing_details_keep_an_internationalised_domain(account: dict[str, Any]) -> None:
    reply = put_details(account, "Rechnung@Faß.DE")
    assert reply.status == 200, reply.body
    assert reply.body["email"] == "rechnung@faß.de"


@pytest.mark.parametrize(("email", "reason"), [("billing@mail.invalid", "special-use"), ("b@0815.ru", "disposable")])
def test_r_reg_3_billing_details_refuse_an_address_with_422_and_write_nothing(
    account: dict[str, Any], email: str, reason: str
) -> None:
    settings = get_settings()
    before = snapshot(settings)
    refused_email(put_details(account, email), reason)
    assert snapshot(settings) == before


def test_r_reg_3_ses_is_given_an_internationalised_domain_in_its_ascii_form() -> None:
    """SES (API v2) does not accept SMTPUTF8: a destination's domain goes as Punycode. The
    expected A-label is UTS #46's conformance data for faß.de (IdnaTestV2.txt)."""
    sender = SesSender("notices@helpdesk.example", region="eu-central-1")
    client = boto3.client("sesv2", region_name="eu-central-1")
    sender._client = client
    notice = NotificationView(
        id="ntf_1",
        type="welcome",
        to="anna@faß.de",
        account_id="acc_1",
        subject="Welcome",
        body="Hello",
        created_at="2026-11-25T12:00:00Z",
        sent_at=None,
    )
    with Stubber(client) as stub:
        stub.add_response(
            "send_email",
            {"MessageId": "m-1"},
            {
                "FromEmailAddress": "notices@helpdesk.example",
                "Destination": {"ToAddresses": ["anna@xn--fa-hia.de"]},
                "Content": ANY,
            },
        )
        assert sender.send(notice, clock.now()) == "m-1"
        stub.assert_no_pending_responses()
    assert notifications.ses_address("ana@example.com") == "ana@example.com"

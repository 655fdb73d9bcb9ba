"""R-REG-3 and R-GDPR-9 over HTTP against the local runtime: email addresses by IDNA 2008 at
signup and in billing details (refusals are problem+json and write nothing, checked on DynamoDB
Local's tables), and RFC 8058's one-click unsubscribe requests as mail clients send them.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import boto3
import pytest
import requests

from lifecycle.core.settings import get_settings
from lifecycle.privacy import consents, privacy
from local_runtime import template
from local_runtime.dynamodb_local import LOCAL_AWS_ENV
from tests.e2e.conftest import Runtime
from tests.rfc_8058 import MULTIPART as RFC_8058_MULTIPART
from tests.rfc_8058 import MULTIPART_TYPE as RFC_8058_MULTIPART_TYPE
from tests.rfc_8058 import URLENCODED as RFC_8058_URLENCODED
from tests.rfc_8058 import URLENCODED_TYPE as URLENCODED
from tests.rfc_8058 import multipart
from tests.route_examples import billing_details, registrant


def _dynamodb(runtime: Runtime) -> Any:
    """A client of the runtime's DynamoDB Local (its endpoint is on the runtime's "DynamoDB" line)."""
    found = re.search(r"^DynamoDB\s+(\S+)", runtime.output(), re.MULTILINE)
    assert found, runtime.output()
    return boto3.client(
        "dynamodb",
        endpoint_url=found.group(1),
        region_name=template.LOCAL_REGION,
        aws_access_key_id=LOCAL_AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    )


def snapshot(runtime: Runtime) -> dict[str, list[str]]:
    """Every table of the runtime's stack but the idempotency store and the rate-limit counters
    (test-only Scans): a public route counts every request, refused ones too, by design, and
    other tests on the same runtime count theirs meanwhile. Taken once the stream consumers have
    delivered what earlier tests committed (the outbox waits for them): the notifier marking an
    earlier notice sent between two snapshots is not a change made by the request between them."""
    runtime.get("/_local/outbox").raise_for_status()
    client = _dynamodb(runtime)
    state = {}
    for name in client.list_tables()["TableNames"]:
        if not name.startswith(template.LOCAL_STACK_NAME) or name.endswith(("IdempotencyTable", "RateLimitsTable")):
            continue
        pages = client.get_paginator("scan").paginate(TableName=name, ConsistentRead=True)
        state[name] = sorted(json.dumps(item, sort_keys=True) for page in pages for item in page["Items"])
    return state


def _tag(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def refused_email(answer: requests.Response, reason: str) -> None:
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem = answer.json()
    assert problem["code"] == "validation_error"
    messages = [error["message"] for error in problem["errors"] if error["field"] == "email"]
    assert messages, problem
    assert reason in messages[0], problem


def test_r_reg_3_anna_at_strasse_de_over_http_keeps_her_domain_and_does_not_collide(runtime: Runtime) -> None:
    tag = _tag("idn")
    sharp = runtime.post("/signups", json=registrant(f"{tag}-s", email=f"{tag}@Straße.DE", plan="ticket"))
    assert sharp.status_code == 201, sharp.text
    double = runtime.post("/signups", json=registrant(f"{tag}-d", email=f"{tag}@strasse.de", plan="ticket"))
    assert double.status_code == 201, double.text  # another domain: another owner
    again = runtime.post("/signups", json=registrant(f"{tag}-a", email=f"{tag}@xn--strae-oqa.de", plan="ticket"))
    assert (again.status_code, again.json()["code"]) == (409, "email_taken")
    welcomes = [
        item["to"]
        for item in runtime.get("/_local/outbox").json()["items"]
        if item["type"] == "welcome" and item["account_id"] in {sharp.json()["id"], double.json()["id"]}
    ]
    assert sorted(welcomes) == sorted([f"{tag}@straße.de", f"{tag}@strasse.de"])


def test_r_reg_3_the_documentation_domains_are_accepted_in_any_case_over_http(runtime: Runtime) -> None:
    tag = _tag("doc")
    answer = runtime.post("/signups", json=registrant(tag, email=f"{tag}@EXAMPLE.ORG", plan="ticket"))
    assert answer.status_code == 201, answer.text


@pytest.mark.parametrize(
    ("domain", "reason"),
    [
        ("mail.test", "special-use or reserved"),
        ("mail.invalid", "special-use or reserved"),
        ("app.localhost", "special-use or reserved"),
        ("0815.ru", "disposable"),  # from the maintained disposable-email-domains list
    ],
)
def test_r_reg_3_a_refused_address_at_signup_is_422_and_writes_nothing(
    runtime: Runtime, domain: str, reason: str
) -> None:
    tag = _tag("refused")
    before = snapshot(runtime)
    refused_email(runtime.post("/signups", json=registrant(tag, email=f"{tag}@{domain}", plan="ticket")), reason)
    assert snapshot(runtime) == before


def test_r_reg_3_a_non_ascii_local_part_is_refused_with_the_reason(runtime: Runtime) -> None:
    tag = _tag("utf8")
    refused_email(runtime.post("/signups", json=registrant(tag, email="анна@example.com", plan="ticket")), "SMTPUTF8")


def test_r_reg_3_billing_details_over_http_keep_an_idn_and_refuse_a_special_use_name(runtime: Runtime) -> None:
    tag = _tag("bill")
    signed = runtime.post("/signups", json=registrant(tag, plan="ticket"))
    assert signed.status_code == 201, signed.text
    account = signed.json()
    owner = runtime.token(account["owner_id"], account["id"], "owner")
    path = f"/accounts/{account['id']}/billing-details"

    before = snapshot(runtime)
    refused_email(
        runtime.put(path, json=billing_details(tag, email="billing@mail.invalid"), token=owner), "special-use"
    )
    assert snapshot(runtime) == before

    given = runtime.put(path, json=billing_details(tag, email="Rechnung@Faß.DE"), token=owner)
    assert given.status_code == 200, given.text
    assert given.json()["email"] == "rechnung@faß.de"


# ---------------------------------------------------------------- R-GDPR-9, RFC 8058


def _marketing_subscriber(runtime: Runtime) -> tuple[str, str]:
    """A person who consented to marketing at signup, and the token of their one-click link
    (signed as the service signs it: the runtime and the tests share the template's secret)."""
    tag = _tag("news")
    answer = runtime.post("/signups", json=registrant(tag, plan="ticket", consents=["marketing"]))
    assert answer.status_code == 201, answer.text
    settings = get_settings()
    key = privacy.person_key(f"{tag}@example.com", settings)
    link = consents.unsubscribe_link(key, settings)
    return key, link.partition("token=")[2]


def _withdrawn_how(runtime: Runtime, person_key: str) -> str | None:
    table = template.Resolver(template.load()).table_name("ConsentsTable")
    item = _dynamodb(runtime).get_item(
        TableName=table, Key={"person_key": {"S": person_key}, "purpose": {"S": "marketing"}}, ConsistentRead=True
    )["Item"]
    return item.get("withdrawn_how", {}).get("S")


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (RFC_8058_MULTIPART, RFC_8058_MULTIPART_TYPE),  # RFC 8058 §8, byte for byte
        (RFC_8058_URLENCODED, URLENCODED),  # RFC 8058 §8, byte for byte
        multipart({"List-Unsubscribe": "One-Click"}),
    ],
)
def test_r_gdpr_9_a_mail_clients_one_click_post_over_http_unsubscribes_with_204(
    runtime: Runtime, body: bytes, content_type: str
) -> None:
    person_key, token = _marketing_subscriber(runtime)
    answer = runtime.post(f"/privacy/unsubscribe?token={token}", data=body, headers={"Content-Type": content_type})
    assert (answer.status_code, answer.content) == (204, b""), answer.text
    assert _withdrawn_how(runtime, person_key) == "unsubscribe"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"", "multipart/form-data; boundary=x"),
        (b"\x00\xffgarbled", "multipart/form-data; boundary=x"),
        (RFC_8058_MULTIPART, "multipart/form-data"),
        (RFC_8058_URLENCODED, URLENCODED),
    ],
)
def test_r_gdpr_9_a_missing_or_garbled_one_click_body_without_a_token_is_400_never_415(
    runtime: Runtime, body: bytes, content_type: str
) -> None:
    before = snapshot(runtime)
    answer = runtime.post("/privacy/unsubscribe", data=body, headers={"Content-Type": content_type})
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["code"] == "invalid_token"
    assert snapshot(runtime) == before

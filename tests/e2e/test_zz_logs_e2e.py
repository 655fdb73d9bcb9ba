"""Logs free of personal data and secrets (hardening): everything the session's local runtime
printed (every function's Powertools log lines, the runtime's own request lines, tracebacks)
holds no email address, no name the tests send, no payment token, no bearer JWT, no voucher
code, no signed link's token and none of the runtime's secrets.

It runs last in the e2e directory (``zz``), so in ``make test`` it scans the log of the whole
e2e session; run alone, it first drives a flow that handles every kind of personal data
(signup, a redeemed and a revoked code, a user, billing details, card tokens, a privacy request
and its verification link, an unsubscribe), so it never passes on an empty log.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from lifecycle.core import secrets as service_secrets
from lifecycle.core.settings import Settings
from local_runtime import tokens
from local_runtime.template import Resolver, function_environment, load
from tests import figures
from tests.e2e.conftest import Runtime
from tests.route_examples import registrant
from tests.support import billing_details_body

pytestmark = [pytest.mark.e2e, pytest.mark.hardening]

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
PAYMENT_TOKEN = re.compile(r"\btok_[A-Za-z0-9]+")
BEARER_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}")
# The signed links' tokens in emails (verification, export download, unsubscribe).
LINK_TOKEN = re.compile(r"[?&]token=[A-Za-z0-9._~%-]{16,}")
# Voucher codes as generated (lifecycle.vouchers.vouchers.generate_codes): bearer credentials, stored only hashed.
VOUCHER_CODE = re.compile(r"\b[2-9A-HJKMNP-Z]{4}(?:-[2-9A-HJKMNP-Z]{4}){3}\b")
# The names the e2e tests send, read from their source so a new test's names are looked for too.
NAME_FIELD = re.compile(r"\"(?:full_name|first_name|last_name)\": \"([^\"{}]+)\"")
TESTS = Path(__file__).parent
FIRST_NAMES = {"Maria", "Petar", "Ana"}


def names() -> list[str]:
    """Every literal full, first and last name in tests/e2e, tests/support.py and
    tests/route_examples.py (``registrant``), and each full
    name's surname; first names alone ("Maria") are too common a word to look for."""
    found: set[str] = set()
    for source in [*TESTS.glob("*.py"), TESTS.parent / "support.py", TESTS.parent / "route_examples.py"]:
        for name in NAME_FIELD.findall(source.read_text(encoding="utf-8")):
            found.add(name)
            found.add(name.split()[-1])
    return sorted(name for name in found if len(name) >= 5 and name not in FIRST_NAMES)


def secrets() -> dict[str, str]:
    """The runtime's secrets by name: each secret as lifecycle.core.secrets gives it to the
    runtime's functions (locally the settings' values: voucher pepper, link-signing secret,
    webhook secret, provider keys when set) and the JWT key."""
    settings = Settings.from_env(function_environment(load(), Resolver(load())))
    found = {name: getattr(service_secrets, name)(settings) for name in service_secrets.MIN_LENGTH}
    found = {name: value for name, value in found.items() if value}
    found[tokens.SECRET_ENV] = tokens.signing_secret()
    return found


def _personal_flow(runtime: Runtime) -> dict[str, Any]:
    """A short life of an account that touches every kind of personal data the service keeps."""
    tag = f"logs-{uuid.uuid4().hex[:10]}"
    email = f"{tag}@example.com"
    staff = runtime.token("staff-1", None, "staff")
    campaign_id = runtime.create_campaign("logs")
    generated = runtime.post(f"/admin/campaigns/{campaign_id}/codes", json={"count": 2}, token=staff)
    assert generated.status_code == 201, generated.text
    codes = generated.json()["codes"]
    redeemed = runtime.post("/redemptions", json=registrant(f"{tag}-deal", code=codes[0]))
    assert redeemed.status_code == 201, redeemed.text
    revoke = {"reason": "abuse", "evidence": "shared on a forum"}
    assert runtime.post(f"/admin/vouchers/{codes[1]}/revoke", json=revoke, token=staff).status_code == 200
    signed_up = runtime.post("/signups", json=registrant(tag, plan="ticket", billing_period="monthly"))
    assert signed_up.status_code == 201, signed_up.text
    account = signed_up.json()
    owner = runtime.token(account["owner_id"], account["id"], "owner")
    base = f"/accounts/{account['id']}"
    user = {"full_name": "Petar Georgiev", "email": f"{tag}-agent@example.com", "role": "agent"}
    added = runtime.post(f"{base}/users", json=user, token=owner, headers={"Idempotency-Key": f"{tag}-user"})
    assert added.status_code == 201, added.text
    details = runtime.put(
        f"{base}/billing-details", json=billing_details_body(email=f"{tag}-billing@example.com"), token=owner
    )
    assert details.status_code == 200, details.text
    declined = runtime.put(f"{base}/payment-method", json={"type": "card", "token": "tok_chargeDeclined"}, token=owner)
    assert declined.status_code == 402, declined.text
    paid = runtime.put(f"{base}/payment-method", json={"type": "card", "token": "tok_visa"}, token=owner)
    assert paid.status_code == 200, paid.text
    # Refused requests log too: an invalid email, a forged bearer token, a bad unsubscribe token.
    assert runtime.post("/signups", json=registrant(tag, email="not-an-email")).status_code == 422
    assert runtime.get(base, token="eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.bad").status_code == 401
    asked = runtime.post("/privacy/requests", json={"type": "access", "email": email})
    assert asked.status_code == 202, asked.text
    outbox = runtime.get("/_local/outbox").json()["items"]
    links = [link for item in outbox if item.get("to") == email for link in LINK_TOKEN.findall(item["body"])]
    assert links, "the privacy request sent no verification link"
    token = links[-1].split("=", 1)[1]
    verified = runtime.post(f"/privacy/requests/{asked.json()['id']}/verification", json={"token": token})
    assert verified.status_code in (200, 204), verified.text
    assert runtime.post("/privacy/unsubscribe", json={"token": "not-a-token"}).status_code == 400
    return {"email": email, "link_token": token, "codes": codes}


def test_logs_hold_no_personal_data_tokens_or_secrets(runtime: Runtime) -> None:
    flow = _personal_flow(runtime)
    log = runtime.output()
    lines = log.splitlines()
    assert len(lines) > 10, f"the runtime logged almost nothing: {log!r}"

    looked_for, hidden = names(), secrets()
    assert "Ivanova" in looked_for, looked_for
    findings: list[str] = []
    for number, line in enumerate(lines, 1):
        for kind, pattern in (("email", EMAIL), ("payment token", PAYMENT_TOKEN), ("JWT", BEARER_JWT)):
            findings += [f"line {number}: {kind} {hit!r}" for hit in pattern.findall(line)]
        findings += [f"line {number}: voucher code {hit!r}" for hit in VOUCHER_CODE.findall(line)]
        findings += [f"line {number}: voucher code {code!r}" for code in flow["codes"] if code in line]
        findings += [f"line {number}: name {name!r}" for name in looked_for if name in line]
        findings += [f"line {number}: secret {name}" for name, value in hidden.items() if value in line]
        if flow["link_token"] in line:
            findings.append(f"line {number}: a signed link's token")
    findings = list(dict.fromkeys(findings))
    figures.record(
        f"logs: {len(lines)} runtime log lines scanned for emails, {len(looked_for)} names, payment tokens, JWTs, "
        f"voucher codes, link tokens and {len(hidden)} secrets: {len(findings)} found"
    )
    assert not findings, "personal data or secrets in the logs:\n" + "\n".join(findings[:40])

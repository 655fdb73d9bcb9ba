"""Signing in at the local identity provider (API.md "Sign-in", ``GET /_local/identity``) and
calling the API with its ID token, which the local runtime checks as API Gateway's JWT
authorizer checks the stack's Cognito pool's tokens: signature (the pool's JWKS), issuer,
audience (the web client), expiry. The person is made here with the provider's admin API, as
the service makes its owners and users; the claims are the template's custom attributes.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from local_runtime.identity import cognito_client
from tests.e2e.conftest import Runtime
from tests.route_examples import registrant

PASSWORD = "correct horse battery staple"  # a test person's


def _identity(runtime: Runtime) -> dict[str, str]:
    answer = runtime.get("/_local/identity")
    assert answer.status_code == 200, answer.text
    found: dict[str, str] = answer.json()
    return found


def _person(identity: dict[str, str], email: str, user_id: str, account_id: str | None, role: str) -> None:
    """A person the identity provider knows, as the service records them (its admin API)."""
    cognito = cognito_client(identity["endpoint"], identity["region"])
    attributes = [
        {"Name": "email", "Value": email},
        {"Name": "email_verified", "Value": "true"},
        {"Name": "custom:user_id", "Value": user_id},
        {"Name": "custom:role", "Value": role},
    ]
    if account_id is not None:
        attributes.append({"Name": "custom:account_id", "Value": account_id})
    pool = identity["user_pool_id"]
    try:
        cognito.admin_create_user(UserPoolId=pool, Username=email, UserAttributes=attributes, MessageAction="SUPPRESS")
    except cognito.exceptions.UsernameExistsException:
        # The service made the owner at signup (invited): the test gives it its role and password.
        cognito.admin_update_user_attributes(UserPoolId=pool, Username=email, UserAttributes=attributes[2:])
    cognito.admin_set_user_password(UserPoolId=pool, Username=email, Password=PASSWORD, Permanent=True)


def _sign_in(identity: dict[str, str], email: str, password: str = PASSWORD) -> requests.Response:
    """Cognito's unsigned InitiateAuth, as a browser sends it."""
    return requests.post(
        identity["endpoint"] + "/",
        headers={
            "X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth",
            "Content-Type": "application/x-amz-json-1.1",
        },
        data=json.dumps(
            {
                "AuthFlow": "USER_PASSWORD_AUTH",
                "ClientId": identity["client_id"],
                "AuthParameters": {"USERNAME": email, "PASSWORD": password},
            }
        ),
        timeout=30,
    )


def _id_token(identity: dict[str, str], email: str) -> str:
    signed_in = _sign_in(identity, email)
    assert signed_in.status_code == 200, signed_in.text
    token: str = signed_in.json()["AuthenticationResult"]["IdToken"]
    return token


def _signup(runtime: Runtime, tag: str) -> dict[str, Any]:
    answer = runtime.post("/signups", json=registrant(tag, plan="ticket", billing_period="monthly"))
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_local_identity_names_its_endpoint_pool_and_web_client(runtime: Runtime) -> None:
    identity = _identity(runtime)
    assert set(identity) == {"endpoint", "region", "user_pool_id", "client_id"}
    assert identity["endpoint"].startswith("http://127.0.0.1:")
    assert identity["user_pool_id"].startswith(identity["region"] + "_")


def test_an_owner_signed_in_at_the_identity_provider_calls_the_api_with_its_token(runtime: Runtime) -> None:
    identity = _identity(runtime)
    account = _signup(runtime, "signin-owner")
    other = _signup(runtime, "signin-other")
    email = "signin-owner@example.com"
    _person(identity, email, account["owner_id"], account["id"], "owner")
    token = _id_token(identity, email)

    mine = runtime.get(f"/accounts/{account['id']}", token=token)
    theirs = runtime.get(f"/accounts/{other['id']}", token=token)

    assert mine.status_code == 200, mine.text
    assert mine.json()["owner_id"] == account["owner_id"]
    assert (theirs.status_code, theirs.json()["code"]) == (404, "not_found")


def test_a_wrong_password_gets_no_token_and_a_tampered_token_is_401(runtime: Runtime) -> None:
    identity = _identity(runtime)
    account = _signup(runtime, "signin-tamper")
    email = "signin-tamper@example.com"
    _person(identity, email, account["owner_id"], account["id"], "agent")

    assert _sign_in(identity, email, "not the password at all").status_code == 400
    header, payload, signature = _id_token(identity, email).split(".")
    # The same token claiming to be the owner: its signature no longer matches.
    claims = json.loads(_b64decode(payload))
    claims["custom:role"] = "owner"
    forged = ".".join([header, _b64encode(json.dumps(claims)), signature])

    answer = runtime.get(f"/accounts/{account['id']}", token=forged)

    assert (answer.status_code, answer.json()["code"]) == (401, "unauthorized")


def test_a_disabled_person_cannot_sign_in(runtime: Runtime) -> None:
    identity = _identity(runtime)
    account = _signup(runtime, "signin-disabled")
    email = "signin-disabled@example.com"
    _person(identity, email, account["owner_id"], account["id"], "owner")
    cognito_client(identity["endpoint"], identity["region"]).admin_disable_user(
        UserPoolId=identity["user_pool_id"], Username=email
    )

    refused = _sign_in(identity, email)

    assert refused.status_code == 400
    assert "disabled" in refused.text


@pytest.mark.parametrize("role", ["owner", "staff"])
def test_the_test_tokens_are_still_accepted_beside_the_providers(runtime: Runtime, role: str) -> None:
    account = _signup(runtime, f"signin-test-token-{role}")
    token = runtime.token(account["owner_id"], account["id"] if role == "owner" else None, role)
    assert runtime.get(f"/accounts/{account['id']}", token=token).status_code == 200


def _b64decode(part: str) -> str:
    import base64

    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode()


def _b64encode(text: str) -> str:
    import base64

    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def test_sign_in_an_owner_signed_up_with_a_password_signs_in_until_they_stop_the_account(runtime: Runtime) -> None:
    """API.md "Sign-in", R-TERM-1: the service made the identity; stopping the account ends sign-in."""
    identity = _identity(runtime)
    tag = "signin-lifecycle"
    answer = runtime.post(
        "/signups", json={**registrant(tag, plan="ticket", billing_period="monthly"), "password": PASSWORD}
    )
    assert answer.status_code == 201, answer.text
    account = answer.json()
    other = _signup(runtime, "signin-lifecycle-other")
    token = _id_token(identity, f"{tag}@example.com")

    mine = runtime.get(f"/accounts/{account['id']}", token=token)
    theirs = runtime.get(f"/accounts/{other['id']}", token=token)
    stopped = runtime.post(f"/accounts/{account['id']}/cancel", token=token)
    refused = _sign_in(identity, f"{tag}@example.com")

    assert mine.status_code == 200, mine.text
    assert (theirs.status_code, theirs.json()["code"]) == (404, "not_found")
    assert stopped.status_code == 200, stopped.text
    assert refused.status_code == 400
    assert "User is disabled." in refused.text

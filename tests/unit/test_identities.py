"""Sign-in identities follow the account's life (API.md "Sign-in", R-TERM-1, R-TERM-3, R-TERM-4,
R-USE-3): each state change tells the identity provider (moto's in-process Cognito, with the
template's user pool and web client) right after its commit, and a change the provider refused
stays pending until the ``identity-sync`` schedule applies it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError

from lifecycle.accounts import identities
from lifecycle.core import clock
from lifecycle.core.settings import Settings, get_settings
from lifecycle.privacy.privacy import Completing
from lifecycle.privacy.retention import certificate_id
from lifecycle.requests import erasure, rectification
from lifecycle.storage import DeletionCertificate, IdentityChange
from local_runtime import template
from local_runtime.identity import IdentityProvider, LocalIdentity
from tests.conftest import point_service_at
from tests.faults import FaultInjector
from tests.support import STAFF, Reply, call, outbox_items, owner_of, run_schedule
from tests.unit.test_data_subjects import privacy_request
from tests.unit.test_signup import TRIAL

PASSWORD = "correct horse battery staple"  # a test owner's


@pytest.fixture
def pool(world: Settings, outbox: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalIdentity]:
    """The template's user pool and web client in moto's Cognito, managed by the service."""
    document = template.load()
    made = IdentityProvider(document, template.Resolver(document))._provision(None)  # type: ignore[arg-type]
    identities._provider.cache_clear()
    point_service_at({"IDENTITY_USER_POOL_ID": made.user_pool_id, "LOCAL_OUTBOX_PATH": str(outbox)}, monkeypatch)
    yield made
    identities._provider.cache_clear()
    monkeypatch.delenv("IDENTITY_USER_POOL_ID")


def cognito() -> Any:
    return boto3.client("cognito-idp", region_name="eu-central-1")


def person(pool: LocalIdentity, email: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = cognito().admin_get_user(UserPoolId=pool.user_pool_id, Username=email)
    except cognito().exceptions.UserNotFoundException:
        return None
    return found


def attributes(found: dict[str, Any]) -> dict[str, str]:
    return {a["Name"]: a["Value"] for a in found["UserAttributes"]}


def sign_in(pool: LocalIdentity, email: str, password: str = PASSWORD) -> dict[str, Any]:
    answer: dict[str, Any] = cognito().initiate_auth(
        ClientId=pool.client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": email, "PASSWORD": password},
    )
    return answer


def pending() -> list[IdentityChange]:
    return list(IdentityChange.scan(consistent_read=True))


def signed_up(**changes: Any) -> dict[str, Any]:
    reply = call("POST", "/signups", body={**TRIAL, **changes})
    assert reply.status == 201, reply.body
    return reply.body


def add_agent(account: dict[str, Any], email: str = "agent1@example.com") -> dict[str, Any]:
    body = {"full_name": "Petar Georgiev", "email": email, "role": "agent"}
    reply = call("POST", f"/accounts/{account['id']}/users", body=body, claims=owner_of(account))
    assert reply.status == 201, reply.body
    return reply.body


def staff(account: dict[str, Any], verb: str) -> Reply:
    reason = "resolved" if verb == "reinstate" else "terms_violation"
    body = {"reason": reason, "details": "spam tickets"}
    reply = call("POST", f"/admin/accounts/{account['id']}/{verb}", body=body, claims=STAFF)
    assert reply.status == 200, reply.body
    return reply


# ---------------------------------------------------------------- created


def test_sign_in_an_owner_who_signed_up_with_a_password_signs_in_with_it(pool: LocalIdentity) -> None:
    account = signed_up(password=PASSWORD)

    tokens = sign_in(pool, TRIAL["email"])["AuthenticationResult"]
    found = person(pool, TRIAL["email"])

    assert tokens["IdToken"]
    assert found is not None
    assert (
        attributes(found).items()
        >= {
            "custom:user_id": account["owner_id"],
            "custom:account_id": account["id"],
            "custom:role": "owner",
            "email_verified": "true",
        }.items()
    )
    assert pending() == []


def test_sign_in_a_new_users_create_is_applied_without_reading_the_pending_changes(pool: LocalIdentity) -> None:
    """A create is its user's first change (the user id is made in the same transaction): nothing
    older can wait, so a signup and an added user read no pending change before telling the provider."""
    with FaultInjector() as seen:
        account = signed_up(password=PASSWORD)
        add_agent(account)

    on_changes = [c.operation for c in seen.calls if any(t.endswith("IdentityChangesTable") for t in c.tables)]
    # Each create recorded in its transaction and deleted once the provider took it; no Query.
    assert on_changes == ["TransactWriteItems", "DeleteItem", "TransactWriteItems", "DeleteItem"]
    assert person(pool, TRIAL["email"]) is not None
    assert person(pool, "agent1@example.com") is not None
    assert pending() == []


def test_sign_in_an_owner_without_a_password_is_invited_by_the_welcome(pool: LocalIdentity, outbox: Path) -> None:
    signed_up()

    found = person(pool, TRIAL["email"])
    (welcome,) = [n for n in outbox_items(outbox) if n["type"] == "welcome"]

    assert found is not None
    assert found["Enabled"]
    assert "Forgot password" in welcome["body"]
    assert TRIAL["email"] in welcome["body"]
    with pytest.raises(cognito().exceptions.NotAuthorizedException):
        sign_in(pool, TRIAL["email"])  # nobody knows the invited owner's password


def test_sign_in_a_password_shorter_than_12_characters_is_refused_and_nothing_is_written(pool: LocalIdentity) -> None:
    reply = call("POST", "/signups", body={**TRIAL, "password": "short pass"})

    assert (reply.status, reply.code) == (422, "validation_error")
    assert [error["field"] for error in reply.body["errors"]] == ["password"]
    assert "short pass" not in str(reply.body)
    assert person(pool, TRIAL["email"]) is None
    assert pending() == []


def test_r_use_3_an_added_user_is_invited_and_a_removed_one_deleted(pool: LocalIdentity, outbox: Path) -> None:
    account = signed_up(password=PASSWORD)
    user = add_agent(account)

    found = person(pool, "agent1@example.com")
    (invitation,) = [n for n in outbox_items(outbox) if n["type"] == "user_invited"]
    assert found is not None
    assert attributes(found)["custom:role"] == "agent"
    assert attributes(found)["custom:user_id"] == user["user_id"]
    assert invitation["to"] == "agent1@example.com"
    assert "Forgot password" in invitation["body"]

    removed = call("DELETE", f"/accounts/{account['id']}/users/{user['user_id']}", claims=owner_of(account))

    assert removed.status == 204
    assert person(pool, "agent1@example.com") is None
    assert pending() == []


# ---------------------------------------------------------------- disabled, enabled


def test_r_term_4_suspension_disables_every_user_and_reinstatement_enables_them(pool: LocalIdentity) -> None:
    account = signed_up(password=PASSWORD)
    add_agent(account)

    staff(account, "suspend")
    disabled = [person(pool, email) for email in (TRIAL["email"], "agent1@example.com")]
    with pytest.raises(cognito().exceptions.NotAuthorizedException, match="disabled"):
        sign_in(pool, TRIAL["email"])

    staff(account, "reinstate")

    assert [found is not None and found["Enabled"] for found in disabled] == [False, False]
    assert sign_in(pool, TRIAL["email"])["AuthenticationResult"]["IdToken"]
    assert pending() == []


def test_r_term_4_termination_disables_sign_in(pool: LocalIdentity) -> None:
    account = signed_up(password=PASSWORD)
    staff(account, "terminate")
    found = person(pool, TRIAL["email"])
    assert found is not None
    assert not found["Enabled"]


def test_r_term_1_the_owners_stop_ends_sign_in_at_once(pool: LocalIdentity) -> None:
    account = signed_up(password=PASSWORD)

    stopped = call("POST", f"/accounts/{account['id']}/cancel", claims=owner_of(account))

    assert stopped.status == 200, stopped.body
    with pytest.raises(cognito().exceptions.NotAuthorizedException, match="disabled"):
        sign_in(pool, TRIAL["email"])


# ---------------------------------------------------------------- deleted


def test_r_term_3_the_purge_deletes_every_identity_and_lists_the_provider(pool: LocalIdentity) -> None:
    account = signed_up(password=PASSWORD)
    add_agent(account)
    assert call("POST", f"/accounts/{account['id']}/cancel", claims=owner_of(account)).status == 200

    summary = run_schedule("purge-sweep")

    assert summary["changed"] == 1
    assert [person(pool, email) for email in (TRIAL["email"], "agent1@example.com")] == [None, None]
    cert = DeletionCertificate.get(certificate_id(account["id"]), consistent_read=True)
    assert {"processor": identities.IDENTITY_PROVIDER, "record": "users", "outcome": "deleted"} in (
        cert.processors or []
    )
    assert pending() == []


# ---------------------------------------------------------------- the provider failing


def test_sign_in_a_provider_failure_keeps_the_change_for_identity_sync(
    pool: LocalIdentity, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = identities.IdentityProvider.client
    failures = [EndpointConnectionError(endpoint_url="https://cognito-idp.eu-central-1.amazonaws.com")]

    def flaky(self: identities.IdentityProvider) -> Any:
        if failures:
            raise failures.pop()
        return real(self)

    monkeypatch.setattr(identities.IdentityProvider, "client", flaky)

    account = signed_up(password=PASSWORD)

    (waiting,) = pending()
    assert (waiting.action, waiting.user_id, waiting.attempts) == ("create", account["owner_id"], 1)
    assert waiting.last_error == "EndpointConnectionError"
    assert PASSWORD not in str(waiting.attribute_values)  # a password is never stored
    assert person(pool, TRIAL["email"]) is None

    clock.set_now(clock.now() + timedelta(minutes=5))
    summary = run_schedule("identity-sync")

    assert (summary["examined"], summary["changed"], summary["errors"]) == (1, 1, 0)
    found = person(pool, TRIAL["email"])
    assert found is not None
    assert attributes(found)["custom:user_id"] == account["owner_id"]
    assert pending() == []


def test_sign_in_identity_sync_applies_a_users_changes_oldest_first(
    pool: LocalIdentity, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A create refused, then a suspension's disable recorded behind it: the disable waits, and the
    sync applies both in order (the person ends disabled)."""
    real = identities.IdentityProvider.client
    down = [True]

    def flaky(self: identities.IdentityProvider) -> Any:
        if down[0]:
            raise EndpointConnectionError(endpoint_url="https://cognito-idp.eu-central-1.amazonaws.com")
        return real(self)

    monkeypatch.setattr(identities.IdentityProvider, "client", flaky)
    account = signed_up(password=PASSWORD)
    clock.set_now(clock.now() + timedelta(seconds=1))
    down[0] = False
    staff(account, "suspend")

    assert sorted(change.action for change in pending()) == ["create", "disable"]
    clock.set_now(clock.now() + timedelta(minutes=5))
    summary = run_schedule("identity-sync")

    assert summary["changed"] == 2
    found = person(pool, TRIAL["email"])
    assert found is not None
    assert not found["Enabled"]
    assert pending() == []


def test_sign_in_without_a_user_pool_nothing_is_recorded(world: Settings) -> None:
    signed_up(password=PASSWORD)
    assert pending() == []
    assert run_schedule("identity-sync") == {"examined": 0, "changed": 0, "errors": 0, "next": None}


# ---------------------------------------------------------------- data protection (R-GDPR-4, R-GDPR-5)


def test_r_gdpr_4_a_rectified_email_is_the_new_sign_in(pool: LocalIdentity) -> None:
    account = signed_up(password=PASSWORD)
    new = "maria.new@example.com"
    request = privacy_request(TRIAL["email"], "rectification", corrections={"email": new})

    rectification.complete(Completing(request, clock.now(), get_settings(), "stf_1", corrections={"email": new}))

    assert person(pool, TRIAL["email"]) is None
    found = person(pool, new)
    assert found is not None
    assert attributes(found)["custom:user_id"] == account["owner_id"]
    assert sign_in(pool, new)["AuthenticationResult"]["IdToken"]
    assert pending() == []


def test_r_gdpr_5_an_erased_agent_loses_their_identity_and_the_certificate_lists_the_provider(
    pool: LocalIdentity,
) -> None:
    account = signed_up(password=PASSWORD)
    add_agent(account, "agent1@example.com")
    assert person(pool, "agent1@example.com") is not None
    request = privacy_request("agent1@example.com", "erasure", details="Erase everything about me")

    result = erasure.complete(Completing(request, clock.now(), get_settings(), "stf_1"))

    assert person(pool, "agent1@example.com") is None
    assert person(pool, TRIAL["email"]) is not None  # the owner of the account she worked in signs in still
    assert result["processors"] == [
        {"processor": identities.IDENTITY_PROVIDER, "record": "user", "outcome": "deleted", "account_id": account["id"]}
    ]
    assert "sign-in at the identity provider was deleted" in result["summary"]
    assert pending() == []

"""The local runtime's outside services as processes of their own, and the runtime without them.

The identity provider (moto's Cognito) serves from its own process, as Cognito is a service of
its own in AWS: its work does not hold the runtime's interpreter lock. ``--no-identity`` runs
the service as a stack without a user pool (the throughput benchmark's runtime): accounts are
made, nobody is given a sign-in.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from local_runtime import template
from local_runtime.identity import IdentityProvider, cognito_client
from tests.e2e.conftest import Runtime, start_runtime
from tests.route_examples import registrant


def test_the_identity_provider_serves_the_templates_pool_from_a_process_of_its_own() -> None:
    document = template.load()
    provider = IdentityProvider(document, template.Resolver(document))
    identity = provider.start()
    server = provider.pid
    try:
        assert server is not None
        assert server != os.getpid()
        pools = cognito_client(identity.endpoint).list_user_pools(MaxResults=10)["UserPools"]
        assert [pool["Id"] for pool in pools] == [identity.user_pool_id]
    finally:
        provider.stop()
    with pytest.raises(ProcessLookupError):  # stopped and waited for
        os.kill(server, 0)


@pytest.fixture(scope="module")
def without_identity(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    with start_runtime(tmp_path_factory.mktemp("no-identity"), options=("--no-identity", "--no-streams")) as started:
        yield started


def test_without_an_identity_provider_accounts_are_made_and_nobody_gets_a_sign_in(without_identity: Runtime) -> None:
    assert "Identity  none" in without_identity.output()
    assert without_identity.get("/_local/identity").status_code == 404
    redeemed = without_identity.post(
        "/redemptions", json=registrant(uuid.uuid4().hex[:12], code=_code(without_identity))
    )
    assert redeemed.status_code == 201, redeemed.text
    assert redeemed.json()["status"] == "active"


def _code(runtime: Runtime) -> str:
    campaign_id = runtime.create_campaign("no-identity")
    staff = runtime.token("staff-1", None, "staff")
    generated = runtime.post(f"/admin/campaigns/{campaign_id}/codes", json={"count": 1}, token=staff)
    assert generated.status_code in (200, 201), generated.text
    return str(generated.json()["codes"][0])

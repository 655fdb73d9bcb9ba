"""The local identity provider: Cognito's API, served by moto's server mode, with template.yaml's
user pool and web client (API.md "Sign-in", ``GET /_local/identity``).

Why moto and not the npm ``cognito-local`` (shared/TOOLING.md compares both): it is Python, in
the dev requirements already, starts in about a second, takes the pool's own settings
(custom attributes, email usernames), and signs ID tokens with RS256 under a JWKS it serves, which the local authorizer
verifies exactly as API Gateway's JWT authorizer does (issuer, audience, expiry). Its gap:
a refresh token still works for a disabled user (AWS refuses), so locally a disabled user keeps
refreshing until the tokens expire; AWS does not.

The pool and the client are made from the template's ``UserPool`` and ``WebClient`` properties
(the names CloudFormation uses are the API's); the client allows ``USER_PASSWORD_AUTH``, the
unsigned password sign-in API.md names and the portal uses (moto has no SRP; the template's
client allows it too, and it is added here should it ever not). Users are kept in memory: a
restart of ``make run`` forgets them.

moto serves from a process of its own (``python -m moto.server``), as Cognito is a service of its
own in AWS: its work (user records, token signing) does not hold the runtime's interpreter lock,
which the functions' requests need, and the runtime reaches it over HTTP either way.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import IO, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from local_runtime.dynamodb_local import free_port
from local_runtime.template import LOCAL_REGION, Resolver

log = logging.getLogger("local_runtime.identity")

POOL = "UserPool"
CLIENT = "WebClient"
# AWS::Cognito::UserPool properties CreateUserPool takes under the same name (UserPoolName is
# PoolName there; EnabledMfas is SetUserPoolMfaConfig's, which moto does not need for sign-in).
POOL_PROPERTIES = (
    "AliasAttributes",
    "UsernameAttributes",
    "UsernameConfiguration",
    "AutoVerifiedAttributes",
    "AdminCreateUserConfig",
    "Policies",
    "MfaConfiguration",
    "AccountRecoverySetting",
    "UserPoolAddOns",
    "DeletionProtection",
    "Schema",
)
CLIENT_PROPERTIES = (
    "ClientName",
    "GenerateSecret",
    "ExplicitAuthFlows",
    "PreventUserExistenceErrors",
    "EnableTokenRevocation",
    "ReadAttributes",
    "WriteAttributes",
    "IdTokenValidity",
    "AccessTokenValidity",
    "RefreshTokenValidity",
    "TokenValidityUnits",
)
LOCAL_AUTH_FLOW = "ALLOW_USER_PASSWORD_AUTH"
# moto checks no signature; boto3 only needs some credentials to sign with.
ACCESS_KEY = SECRET_KEY = "local"  # noqa: S105
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 5.0


class IdentityProviderError(RuntimeError):
    """The local identity provider did not start."""


def cognito_client(endpoint: str, region: str = LOCAL_REGION, **config: Any) -> Any:
    return boto3.client(
        "cognito-idp",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(**config) if config else None,
    )


@dataclass(frozen=True)
class LocalIdentity:
    """Where the local identity provider is and which pool and client it serves."""

    endpoint: str
    region: str
    user_pool_id: str
    client_id: str

    @property
    def issuer(self) -> str:
        """The ``iss`` of its tokens: Cognito's, as in AWS (not resolvable here: keys come from ``jwks_url``)."""
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.user_pool_id}"

    @property
    def jwks_url(self) -> str:
        return f"{self.endpoint}/{self.user_pool_id}/.well-known/jwks.json"

    def as_json(self) -> dict[str, str]:
        return {
            "endpoint": self.endpoint,
            "region": self.region,
            "user_pool_id": self.user_pool_id,
            "client_id": self.client_id,
        }

    def client(self) -> Any:
        """A boto3 Cognito client of this provider (for the service's admin calls and tests)."""
        return cognito_client(self.endpoint, self.region)


class IdentityProvider:
    """moto's Cognito in a process of its own (``start``/``stop``), with the template's pool and client."""

    def __init__(self, template: dict[str, Any], resolver: Resolver) -> None:
        self._template = template
        self._resolver = resolver
        self._process: subprocess.Popen[bytes] | None = None
        self._output: IO[bytes] | None = None
        self.identity: LocalIdentity | None = None

    @property
    def pid(self) -> int | None:
        """The server's process, while it runs."""
        return self._process.pid if self._process is not None else None

    def command(self, host: str, port: int) -> list[str]:
        return [sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)]

    def start(self, host: str = "127.0.0.1", port: int = 0) -> LocalIdentity:
        """Start moto's server, wait until it answers, and make the pool and the client."""
        port = port or free_port()
        endpoint = f"http://{host}:{port}"
        # A file, not a pipe: nobody reads the server's output while it runs; a full pipe would block it.
        self._output = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self._process = subprocess.Popen(self.command(host, port), stdout=self._output, stderr=subprocess.STDOUT)
        try:
            self._wait_until_ready(endpoint)
            self.identity = self._provision(endpoint)
        except BaseException:
            self.stop()
            raise
        return self.identity

    def _wait_until_ready(self, endpoint: str) -> None:
        probe = cognito_client(endpoint, connect_timeout=1, read_timeout=2, retries={"max_attempts": 1})
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            assert self._process is not None
            if self._process.poll() is not None:
                raise IdentityProviderError(f"moto's server exited with {self._process.returncode}:\n{self.output()}")
            with contextlib.suppress(BotoCoreError, ClientError):
                probe.list_user_pools(MaxResults=1)
                return
            if time.monotonic() > deadline:
                raise IdentityProviderError(
                    f"moto's server did not answer within {START_TIMEOUT_SECONDS:.0f} s:\n{self.output()}"
                )
            time.sleep(0.1)

    def output(self) -> str:
        """What moto's server has printed so far."""
        if self._output is None:
            return ""
        self._output.flush()
        self._output.seek(0)
        return self._output.read().decode("utf-8", errors="replace")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._output is not None:
            self._output.close()
            self._output = None

    def _provision(self, endpoint: str) -> LocalIdentity:
        resources = self._template.get("Resources", {})
        pool_props = self._resolver.resolve(resources[POOL]["Properties"])
        # UserPoolId (a Ref to the pool) is the pool just made: the rest is resolved as written.
        written = resources[CLIENT]["Properties"]
        client_props = self._resolver.resolve({name: written[name] for name in CLIENT_PROPERTIES if name in written})
        cognito = cognito_client(endpoint)
        pool = cognito.create_user_pool(
            PoolName=pool_props["UserPoolName"],
            **{name: pool_props[name] for name in POOL_PROPERTIES if name in pool_props},
        )["UserPool"]
        flows = client_props.get("ExplicitAuthFlows", [])
        client_props["ExplicitAuthFlows"] = flows if LOCAL_AUTH_FLOW in flows else [*flows, LOCAL_AUTH_FLOW]
        client = cognito.create_user_pool_client(UserPoolId=pool["Id"], **client_props)["UserPoolClient"]
        log.info("local identity provider: pool %s, client %s", pool["Id"], client["ClientId"])
        return LocalIdentity(endpoint, LOCAL_REGION, pool["Id"], client["ClientId"])

"""Local bearer tokens, and the check the API's JWT authorizer makes on them.

In AWS an identity provider signs tokens (RS256, keys published at the issuer) and API
Gateway validates them before a handler runs. Locally two kinds are accepted, each checked as
the authorizer checks (signature, expiry, ``iss``, ``aud``): the ID tokens of the local identity
provider (``local_runtime.identity``: RS256 under its JWKS, its pool's issuer, its web client as
audience, as the stack's Cognito pool is trusted in AWS), and test tokens minted by
``POST /_local/token``, signed with one shared secret (HS256) under template.yaml's
``JwtIssuer``/``JwtAudience`` defaults (an external issuer's form).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

import jwt

from local_runtime.template import Resolver, load

ALGORITHM = "HS256"
SECRET_ENV = "LOCAL_JWT_SECRET"  # noqa: S105 - the variable's name, not a secret
# Local only, public on purpose: nothing deployed trusts it. 32+ bytes, as HS256 wants.
DEV_SECRET = "helpdesk-local-runtime-dev-secret-not-for-aws"  # noqa: S105 - see above
LIFETIME_SECONDS = 12 * 3600


class TokenError(Exception):
    """The request would not pass the JWT authorizer."""


@dataclass(frozen=True)
class Issuer:
    """A trusted RS256 issuer: its ``iss``, the ``aud`` it must carry and where its keys are."""

    issuer: str
    audience: str
    jwks_url: str

    @cached_property
    def keys(self) -> jwt.PyJWKClient:
        return jwt.PyJWKClient(self.jwks_url, cache_keys=True)


_trusted: list[Issuer] = []


def trust(issuer: Issuer) -> None:
    """Accept ``issuer``'s tokens too (the local identity provider's)."""
    _trusted.append(issuer)


@lru_cache(maxsize=1)
def _issuer_and_audience() -> tuple[str, str]:
    resolver = Resolver(load())
    return resolver.parameter("JwtIssuer"), resolver.parameter("JwtAudience")


def issuer() -> str:
    return _issuer_and_audience()[0]


def audience() -> str:
    return _issuer_and_audience()[1]


def signing_secret() -> str:
    return os.environ.get(SECRET_ENV) or DEV_SECRET


def mint(
    sub: str,
    account_id: str | None,
    role: str,
    *,
    secret: str | None = None,
    issued_at: float | None = None,
    lifetime: int = LIFETIME_SECONDS,
) -> str:
    """A signed token for ``sub``; staff tokens (``account_id`` None) carry no ``account_id`` claim.

    Times are real time, not the settable clock: the authorizer is AWS infrastructure and
    checks ``exp`` against its own clock, so a token works whatever the clock is set to.
    """
    now = int(time.time() if issued_at is None else issued_at)
    claims: dict[str, Any] = {
        "iss": issuer(),
        "aud": audience(),
        "sub": sub,
        "role": role,
        "iat": now,
        "exp": now + lifetime,
    }
    if account_id is not None:
        claims["account_id"] = account_id
    return jwt.encode(claims, secret or signing_secret(), algorithm=ALGORITHM)


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization`` header; API Gateway accepts it with or without ``Bearer``."""
    scheme, _, rest = (authorization or "").strip().partition(" ")
    value = rest.strip() if scheme.lower() == "bearer" else scheme
    if not value:
        raise TokenError("A bearer token is required")
    return value


def verify(authorization: str | None, *, secret: str | None = None) -> dict[str, Any]:
    """The claims of a valid token in the ``Authorization`` header; ``TokenError`` otherwise."""
    token = bearer_token(authorization)
    try:
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError as error:
        raise TokenError(f"The token is not valid: {error}") from error
    trusted = next((known for known in _trusted if known.issuer == unverified.get("iss")), None)
    if trusted is not None:
        return _verified_by(trusted, token)
    return _test_token(token, secret)


def _verified_by(trusted: Issuer, token: str) -> dict[str, Any]:
    """An identity provider's token: signed by one of its keys, its ID token for the web client."""
    try:
        key = trusted.keys.get_signing_key_from_jwt(token)
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=["RS256"],
            audience=trusted.audience,
            issuer=trusted.issuer,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
    except jwt.ExpiredSignatureError as error:
        raise TokenError("The token has expired") from error
    except (jwt.InvalidTokenError, jwt.PyJWKClientError) as error:
        raise TokenError(f"The token is not valid: {error}") from error
    return claims


def _test_token(token: str, secret: str | None) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret or signing_secret(),
            algorithms=[ALGORITHM],
            audience=audience(),
            issuer=issuer(),
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
    except jwt.ExpiredSignatureError as error:
        raise TokenError("The token has expired") from error
    except jwt.InvalidSignatureError as error:
        raise TokenError("The token's signature is not valid") from error
    except jwt.InvalidIssuerError as error:
        raise TokenError("The token's issuer is not accepted") from error
    except jwt.InvalidAudienceError as error:
        raise TokenError("The token's audience is not accepted") from error
    except jwt.InvalidTokenError as error:
        raise TokenError(f"The token is not valid: {error}") from error
    return claims

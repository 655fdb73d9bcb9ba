"""Local tokens and the JWT authorizer's checks the local runtime makes on them."""

from __future__ import annotations

import time

import jwt
import pytest

from local_runtime import tokens
from local_runtime.template import Resolver, load

OTHER_SECRET = "another-secret-of-at-least-32-bytes!!"


def test_issuer_and_audience_are_the_templates() -> None:
    resolver = Resolver(load())
    assert tokens.issuer() == resolver.parameter("JwtIssuer")
    assert tokens.audience() == resolver.parameter("JwtAudience")


def test_minted_token_verifies_with_its_claims() -> None:
    claims = tokens.verify("Bearer " + tokens.mint("u1", "acc-1", "owner"))
    assert (claims["sub"], claims["account_id"], claims["role"]) == ("u1", "acc-1", "owner")
    assert claims["iss"] == tokens.issuer()
    assert claims["aud"] == tokens.audience()
    assert claims["exp"] - claims["iat"] == 12 * 3600


def test_staff_token_has_no_account_id() -> None:
    claims = tokens.verify("Bearer " + tokens.mint("s1", None, "staff"))
    assert "account_id" not in claims
    assert claims["role"] == "staff"


def test_bearer_prefix_is_optional_and_case_insensitive() -> None:
    token = tokens.mint("u1", "acc-1", "agent")
    assert tokens.verify(token)["sub"] == "u1"
    assert tokens.verify(f"bearer {token}")["sub"] == "u1"


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer   "])
def test_missing_token_is_rejected(header: str | None) -> None:
    with pytest.raises(tokens.TokenError, match="required"):
        tokens.verify(header)


def test_expired_token_is_rejected() -> None:
    token = tokens.mint("u1", "acc-1", "owner", issued_at=time.time() - 13 * 3600)
    with pytest.raises(tokens.TokenError, match="expired"):
        tokens.verify(f"Bearer {token}")


def test_token_signed_with_another_secret_is_rejected() -> None:
    token = tokens.mint("u1", "acc-1", "owner", secret=OTHER_SECRET)
    with pytest.raises(tokens.TokenError, match="signature"):
        tokens.verify(f"Bearer {token}")


def _signed(**overrides: object) -> str:
    now = int(time.time())
    claims = {"iss": tokens.issuer(), "aud": tokens.audience(), "sub": "u1", "role": "owner", "exp": now + 60}
    claims.update(overrides)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, tokens.signing_secret(), "HS256")


def test_wrong_issuer_is_rejected() -> None:
    with pytest.raises(tokens.TokenError, match="issuer"):
        tokens.verify(_signed(iss="https://elsewhere.example/"))


def test_wrong_audience_is_rejected() -> None:
    with pytest.raises(tokens.TokenError, match="audience"):
        tokens.verify(_signed(aud="another-api"))


def test_token_without_expiry_is_rejected() -> None:
    with pytest.raises(tokens.TokenError):
        tokens.verify(_signed(exp=None))


def test_other_algorithms_are_rejected() -> None:
    unsigned = jwt.encode({"sub": "u1", "iss": tokens.issuer(), "aud": tokens.audience()}, "", algorithm="none")
    with pytest.raises(tokens.TokenError):
        tokens.verify(unsigned)


def test_garbage_is_rejected() -> None:
    with pytest.raises(tokens.TokenError):
        tokens.verify("Bearer not.a.token")


def test_secret_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(tokens.SECRET_ENV, OTHER_SECRET)
    token = tokens.mint("u1", "acc-1", "owner")
    assert tokens.verify(token)["sub"] == "u1"
    monkeypatch.delenv(tokens.SECRET_ENV)
    with pytest.raises(tokens.TokenError, match="signature"):
        tokens.verify(token)

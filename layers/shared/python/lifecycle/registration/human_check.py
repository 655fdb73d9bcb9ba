"""R-REG-2: registrations by bots are refused.

A pluggable verifier answers "is this token a human's?": Cloudflare Turnstile in AWS,
a deterministic one locally (API.md "Human check": the token ``"human"`` passes).
``check_human`` adds the honeypot field and turns a "no" into 403 ``bot_suspected``.
The per-IP and per-email limits are ``lifecycle.registration.rate_limit``'s.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Protocol

from lifecycle.core import secrets
from lifecycle.core.errors import BotSuspected, HumanCheckUnavailable
from lifecycle.core.observability import logger
from lifecycle.core.settings import Settings

LOCAL_HUMAN_TOKEN = "human"  # noqa: S105  # the public local token of API.md, not a secret
TURNSTILE_ENDPOINT = "https://challenges.cloudflare.com/turnstile/v0/siteverify"
# Turnstile tokens are at most 2048 characters; longer ones cannot pass, so skip the call.
_TOKEN_MAX = 2048


class HumanVerifier(Protocol):
    """R-REG-2: answers whether a human check token was solved by a human."""

    def verify(self, token: str, remote_ip: str | None) -> bool: ...


class LocalVerifier:
    """R-REG-2 for the local runtime and tests: exactly ``"human"`` passes, nothing else."""

    def verify(self, token: str, remote_ip: str | None) -> bool:
        return token == LOCAL_HUMAN_TOKEN


@dataclass(frozen=True)
class TurnstileVerifier:
    """R-REG-2 in AWS: Cloudflare Turnstile's siteverify API.

    A network failure or an unreadable answer raises ``HumanCheckUnavailable`` (503):
    refusing a human as a bot because the provider is down would be wrong, and
    letting the request through would switch the check off for anyone who can make
    the call fail.
    """

    # repr=False: the secret must never reach a log line through a repr.
    secret: str = field(repr=False)
    endpoint: str = TURNSTILE_ENDPOINT
    timeout: float = 5

    def verify(self, token: str, remote_ip: str | None) -> bool:
        if not token or len(token) > _TOKEN_MAX:
            return False
        answer = self._siteverify(token, remote_ip)
        if answer.get("success") is True:
            return True
        logger.info("human check refused", extra={"error_codes": answer.get("error-codes", [])})
        return False

    def _siteverify(self, token: str, remote_ip: str | None) -> dict[str, Any]:
        form = {"secret": self.secret, "response": token}
        if remote_ip:
            form["remoteip"] = remote_ip
        request = urllib.request.Request(  # noqa: S310  # the endpoint is ours, https, never user input
            self.endpoint,
            data=urllib.parse.urlencode(form).encode("ascii"),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310  # as above
                answer = json.loads(response.read())
        except (OSError, ValueError) as exc:
            # OSError covers URLError, HTTPError and timeouts; ValueError bad JSON or bytes.
            # Only the exception's type is logged: its text could quote the request.
            logger.warning("human check provider unavailable", extra={"error": type(exc).__name__})
            raise HumanCheckUnavailable("The human check could not be completed; retry shortly") from exc
        if not isinstance(answer, dict):
            logger.warning("human check provider answered something else than an object")
            raise HumanCheckUnavailable("The human check could not be completed; retry shortly")
        return answer


def verifier_for(settings: Settings) -> HumanVerifier:
    """R-REG-2: the verifier the ``human_check_provider`` setting names."""
    if settings.human_check_provider == "turnstile":
        secret = secrets.human_check_secret(settings)
        if not secret:
            raise ValueError("human_check_provider 'turnstile' needs human_check_secret")
        return TurnstileVerifier(secret=secret)
    return LocalVerifier()


def check_human(verifier: HumanVerifier, token: str, remote_ip: str | None, honeypot: str | None) -> None:
    """R-REG-2: raise ``BotSuspected`` unless the honeypot is empty and the verifier passes the token.

    The honeypot is looked at first so an obvious bot costs no call to the provider.
    Both refusals read the same, so a bot cannot tell which check caught it.
    """
    if honeypot or not verifier.verify(token, remote_ip):
        raise BotSuspected("The human check failed; solve it and try again")

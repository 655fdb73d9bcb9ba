"""What the data protection modules share (R-GDPR-1, R-GDPR-3..10): who a person is (``person_key``, an
HMAC of the normalised address), the purposes and request types, signed links (``verify`` refuses a
token for another use, tampered or expired alike: 400 ``invalid_token``) and what completing a request
is given.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

from lifecycle.core import errors, secrets
from lifecycle.core.settings import Settings
from lifecycle.registration import registration
from lifecycle.storage import PrivacyRequest

Purpose = Literal["marketing", "customer_service", "profiling"]
PURPOSES: tuple[Purpose, ...] = get_args(Purpose)
RequestType = Literal[
    "access", "rectification", "erasure", "restriction", "portability", "objection", "withdraw_consent"
]
REQUEST_TYPES: tuple[RequestType, ...] = get_args(RequestType)
RequestStatus = Literal["received", "verified", "in_progress", "completed", "rejected"]
OPEN_STATUSES: tuple[RequestStatus, ...] = ("received", "verified", "in_progress")
LinkUse = Literal["verify", "export", "unsubscribe"]
# Notifications of a person (not of an account) are kept under this key prefix.
PERSON_NOTICES = "person#"


def normalised(email: str) -> str:
    """The address as a person is known by: lower case, its domain in Unicode form (``registration``)."""
    return registration.normalise_email(email)


def person_key(email: str, settings: Settings) -> str:
    """The keyed hash a person's consent and request records are found by: of the address's
    ``email_key`` (ASCII domain), so the keys of addresses stored before stay theirs."""
    digest = hmac.new(
        secrets.link_signing_secret(settings).encode(), registration.email_key(email).encode(), hashlib.sha256
    )
    return digest.hexdigest()[:40]


# ---------------------------------------------------------------- signed links


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(payload: str, settings: Settings) -> str:
    return _b64(hmac.new(secrets.link_signing_secret(settings).encode(), payload.encode(), hashlib.sha256).digest())


def sign(use: LinkUse, subject: str, expires_at: datetime | None, settings: Settings) -> str:
    """A token for ``use`` naming ``subject`` (a request id, a person key), valid until ``expires_at``
    (``None``: does not expire, as an unsubscribe link in a sent email must keep working)."""
    body = {"u": use, "s": subject, "e": int(expires_at.timestamp()) if expires_at is not None else None}
    payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
    return f"{payload}.{_mac(payload, settings)}"


def verify(token: str, use: LinkUse, now: datetime, settings: Settings) -> str:
    """The subject a valid, unexpired token for ``use`` names; ``InvalidToken`` otherwise."""
    # A token this service signed is ASCII (base64url and a dot); anything else is refused
    # before compare_digest, which raises TypeError on non-ASCII text (a 500, found by fuzzing).
    if not token.isascii():
        raise errors.InvalidToken()
    payload, _, mac = token.partition(".")
    if not payload or not mac or not hmac.compare_digest(mac, _mac(payload, settings)):
        raise errors.InvalidToken()
    try:
        body = json.loads(_unb64(payload))
    except (ValueError, binascii.Error) as exc:
        raise errors.InvalidToken() from exc
    if not isinstance(body, dict) or body.get("u") != use or not isinstance(body.get("s"), str):
        raise errors.InvalidToken()
    expires = body.get("e")
    if expires is not None and (not isinstance(expires, int) or now.timestamp() > expires):
        raise errors.InvalidToken()
    return str(body["s"])


def link(path: str, token: str, settings: Settings) -> str:
    """An absolute link to ``path`` of the public API carrying ``token``."""
    return f"{settings.public_base_url.rstrip('/')}{path}?token={token}"


# ---------------------------------------------------------------- completing a request


@dataclass(frozen=True)
class Completing:
    """What a request's action is given when staff complete it (lifecycle.requests.privacy_requests).

    ``corrections`` (rectification) and ``purposes`` (objection, withdrawal) are the
    subject's, or staff's where they gave them on completion.
    """

    request: PrivacyRequest
    now: datetime
    settings: Settings
    staff_id: str
    corrections: dict[str, Any] = field(default_factory=dict)
    purposes: tuple[Purpose, ...] = PURPOSES
    # The Lambda time left (ms): a long action stops in time and is finished by a retry.
    remaining_ms: Callable[[], int] = lambda: 60_000


# An action does the request's work and returns its result document (stored on the request,
# shown to staff; ``summary`` is told to the subject). It must be idempotent: a completion that
# failed half-way is retried by calling it again.
Action = Callable[[Completing], dict[str, Any]]

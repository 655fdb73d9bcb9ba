"""What the data protection modules share (R-GDPR-1, R-GDPR-3..10): who a person is (``person_key``, an
HMAC of the normalised address under the person key secret), the purposes and request types, signed
links (``verify`` refuses a token for another use, tampered, expired or signed with a key it does not
know alike: 400 ``invalid_token``) and what completing a request is given.

Links are signed with the link signing secret's current key and name its key id, so the key can be
rotated without voiding the links already sent (docs/ARCHITECTURE.md "Secrets").
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
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
        secrets.person_key_secret(settings).encode(), registration.email_key(email).encode(), hashlib.sha256
    )
    return digest.hexdigest()[:40]


# ---------------------------------------------------------------- signed links


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# The key id of a link signing secret stored as one plain key (as the stack generates it), and
# the key a link without a key id (signed before links carried one) is verified with.
LEGACY_KEY_ID = "legacy"
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_MIN_KEY_LENGTH = 16


def signing_keys(settings: Settings) -> dict[str, str]:
    """The link signing keys by key id: the secret's JSON object, or its one plain key as ``legacy``.

    A malformed object is the deployment's error, never a caller's: ``RuntimeError``.
    """
    stored = secrets.link_signing_secret(settings)
    if not stored.lstrip().startswith("{"):
        return {LEGACY_KEY_ID: stored}
    try:
        keys = json.loads(stored)
    except ValueError as exc:
        raise RuntimeError("the link signing secret is neither a plain key nor a JSON object") from exc
    if not isinstance(keys, dict) or not keys:
        raise RuntimeError("the link signing secret's JSON must be a non-empty object of key id -> key")
    for key_id, key in keys.items():
        if not _KEY_ID.match(key_id) or not isinstance(key, str) or len(key) < _MIN_KEY_LENGTH:
            raise RuntimeError(
                f"each link signing key id is 1-32 of [A-Za-z0-9_-] and each key at least {_MIN_KEY_LENGTH} characters"
            )
    return keys


def _mac(key: str, payload: str) -> str:
    return _b64(hmac.new(key.encode(), payload.encode(), hashlib.sha256).digest())


def sign(use: LinkUse, subject: str, expires_at: datetime | None, settings: Settings) -> str:
    """A token for ``use`` naming ``subject`` (a request id, a person key), valid until ``expires_at``
    (``None``: does not expire, as an unsubscribe link in a sent email must keep working), signed
    with the current key (``link_signing_key_id``), whose id it carries."""
    key_id = settings.link_signing_key_id
    key = signing_keys(settings).get(key_id)
    if key is None:
        raise RuntimeError(f"the link signing secret has no key {key_id!r} (LINK_SIGNING_KEY_ID)")
    body = {"u": use, "s": subject, "e": int(expires_at.timestamp()) if expires_at is not None else None, "k": key_id}
    payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
    return f"{payload}.{_mac(key, payload)}"


def verify(token: str, use: LinkUse, now: datetime, settings: Settings) -> str:
    """The subject a valid, unexpired token for ``use`` names; ``InvalidToken`` otherwise.

    The token is verified with the key its id names (one without an id, signed before links
    carried one, with the ``legacy`` key): any key still in the secret, not only the current one.
    """
    # A token this service signed is ASCII (base64url and a dot); anything else is refused
    # before compare_digest, which raises TypeError on non-ASCII text (a 500, found by fuzzing).
    if not token.isascii():
        raise errors.InvalidToken()
    payload, _, mac = token.partition(".")
    if not payload or not mac:
        raise errors.InvalidToken()
    # The payload is read before its MAC is checked, only to learn which key to check it with;
    # nothing in it is trusted until the MAC matches.
    try:
        body = json.loads(_unb64(payload))
    except (ValueError, binascii.Error, RecursionError) as exc:  # RecursionError: forged deep nesting
        raise errors.InvalidToken() from exc
    if not isinstance(body, dict):
        raise errors.InvalidToken()
    key_id = body.get("k", LEGACY_KEY_ID)
    key = signing_keys(settings).get(key_id) if isinstance(key_id, str) else None
    if key is None or not hmac.compare_digest(mac, _mac(key, payload)):
        raise errors.InvalidToken()
    if body.get("u") != use or not isinstance(body.get("s"), str):
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

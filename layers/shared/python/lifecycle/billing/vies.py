"""The VAT ID confirmation port (R-PAY-14): does the EU's VIES service confirm a VAT ID valid, and with
which consultation reference (the evidence of the check). Adapters: ``LocalChecker`` (the local
runtime's and tests' stand-in, API.md "VAT IDs and company numbers") and ``ViesChecker`` (VIES's REST
API). A VIES that does not answer is ``Unavailable``, never an invalid ID. docs/ARCHITECTURE.md "Billing".
"""

from __future__ import annotations

import hashlib
import http.client
import json
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from lifecycle.core import clock
from lifecycle.core.observability import logger
from lifecycle.core.settings import Settings

# The Commission's REST service. Its contract ("Vies on-the-Web Endpoint", swagger 2.0, published by
# the Commission with the service and mirrored in conedevelopment/vies-php openapi.yml): POST a
# CheckVatRequest {countryCode, vatNumber, requesterMemberStateCode, requesterNumber}; 200 answers a
# CheckVatResponse {countryCode, vatNumber, requestDate, valid, requestIdentifier, name, address, …},
# where requestIdentifier (the consultation number) is given only to a request that names the
# requester; 400 and 500 answer a CommonResponse {actionSucceed: false, errorWrappers: [{error, message}]}.
VIES_CHECK_URL = "https://ec.europa.eu/taxation_customs/vies/rest-api/check-vat-number"
# VIES's error code for a number it refuses to look up as malformed: an answer (not valid), not an
# outage. Every other code (MS_UNAVAILABLE, SERVICE_UNAVAILABLE, TIMEOUT, MS_MAX_CONCURRENT_REQ, …)
# means the member state's register did not answer.
INVALID_INPUT = "INVALID_INPUT"

Outcome = Literal["confirmed", "invalid", "unavailable"]


@dataclass(frozen=True)
class Confirmation:
    """VIES confirmed ``vat_id`` valid at ``checked_at``; ``reference`` is its consultation number
    (None only when VIES gave none)."""

    vat_id: str
    checked_at: datetime
    reference: str | None

    def as_json(self) -> dict[str, str | None]:
        """API.md "Invoice" ``vat_check``, as it is stored on the invoice."""
        return {"vat_id": self.vat_id, "checked_at": clock.to_iso(self.checked_at), "reference": self.reference}


class Unavailable(Exception):
    """VIES, or the member state's register behind it, did not answer."""


class VatChecker(Protocol):
    def check(self, vat_id: str, now: datetime) -> Confirmation | None:
        """A confirmation if VIES says ``vat_id`` (with its prefix) is valid, None if it says it is
        not; ``Unavailable`` when there is no answer. One attempt, never retried."""
        ...


def confirms(confirmation: Confirmation | None, vat_id: str, now: datetime, settings: Settings) -> bool:
    """R-PAY-14: whether ``confirmation`` is of ``vat_id`` and at most ``vies_confirmation_max_age_days``
    old at ``now`` (a check dated after ``now``, by a clock set back, does not count)."""
    if confirmation is None or confirmation.vat_id != vat_id:
        return False
    age = now - confirmation.checked_at
    return timedelta(0) <= age <= timedelta(days=settings.vies_confirmation_max_age_days)


def ask(vat_id: str, now: datetime, settings: Settings, account_id: str) -> Confirmation | None:
    """Ask the configured checker about ``vat_id`` once: its confirmation, or None when VIES says it
    is not valid or does not answer (neither ever blocks what asked). Logged with ids only."""
    outcome: Outcome
    try:
        found = checker_for(settings).check(vat_id, now)
        outcome = "confirmed" if found is not None else "invalid"
    except Unavailable:
        found, outcome = None, "unavailable"
    logger.info("VAT ID checked with VIES", extra={"account_id": account_id, "outcome": outcome})
    return found


# ---------------------------------------------------------------- the local stand-in


_local_lock = threading.Lock()
_local_available = True


def set_local_available(available: bool) -> None:
    """Switch the local stand-in on or off (the local runtime's ``PUT /_local/vies``, tests)."""
    global _local_available
    with _local_lock:
        _local_available = available


def local_available() -> bool:
    with _local_lock:
        return _local_available


class LocalChecker:
    """The local runtime's and tests' VIES: it confirms every VAT ID it is asked about, because the
    IDs that reach it passed their national check digits when the billing details were saved, with
    a reference derived from the ID alone (deterministic, so a retried request keeps what the first
    attempt would have). Switched off it is ``Unavailable``, as VIES when a register is down."""

    def check(self, vat_id: str, now: datetime) -> Confirmation | None:
        if not local_available():
            raise Unavailable("the local VIES stand-in is switched off")
        return Confirmation(vat_id, now, "LOCAL" + hashlib.sha256(vat_id.encode()).hexdigest()[:12].upper())


# ---------------------------------------------------------------- VIES


@dataclass(frozen=True)
class ViesChecker:
    """R-PAY-14 in AWS: VIES's REST API (contract above), JSON over HTTPS with the stdlib. The
    vendor's own VAT ID is the requester, so a confirmation carries its consultation reference.
    The instant checked is this service's clock's (``now``), as every other instant it keeps."""

    requester_vat_id: str
    url: str = VIES_CHECK_URL
    timeout: float = 3.0

    def check(self, vat_id: str, now: datetime) -> Confirmation | None:
        body = {
            "countryCode": vat_id[:2],
            "vatNumber": vat_id[2:],
            "requesterMemberStateCode": self.requester_vat_id[:2],
            "requesterNumber": self.requester_vat_id[2:],
        }
        answer = self._post(body)
        valid = answer.get("valid")
        if not isinstance(valid, bool):
            logger.warning("VIES answered without a verdict")
            raise Unavailable("VIES answered without a verdict")
        if not valid:
            return None
        reference = answer.get("requestIdentifier")
        return Confirmation(vat_id, now, reference if isinstance(reference, str) and reference else None)

    def _post(self, body: dict[str, str]) -> dict[str, Any]:
        request = urllib.request.Request(  # noqa: S310  # the URL is configuration, https, never user input
            self.url,
            data=json.dumps(body).encode("utf-8"),
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310  # as above
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            status, errors = exc.code, _error_codes(exc)
            exc.close()
            if INVALID_INPUT in errors:
                return {"valid": False}
            # Status and VIES's error codes only: the request body holds the VAT IDs.
            logger.warning("VIES unavailable", extra={"status": status, "errors": errors})
            raise Unavailable(f"VIES answered {status}") from None
        except (OSError, ValueError, http.client.HTTPException) as exc:
            # OSError covers URLError and timeouts, HTTPException a broken answer (IncompleteRead,
            # BadStatusLine), ValueError bad JSON. Only the type is logged.
            logger.warning("VIES unavailable", extra={"error": type(exc).__name__})
            raise Unavailable("VIES could not be reached") from exc
        if not isinstance(answer, dict):
            raise Unavailable("VIES answered something else than an object")
        if answer.get("actionSucceed") is False:
            # A CommonResponse on a 200: the same refusal as on a 400 or 500.
            errors = _codes(answer)
            if INVALID_INPUT in errors:
                return {"valid": False}
            logger.warning("VIES unavailable", extra={"status": 200, "errors": errors})
            raise Unavailable("VIES did not succeed")
        return answer


def _error_codes(exc: urllib.error.HTTPError) -> list[str]:
    """The ``error`` codes of a CommonResponse body, or none when the body is not one."""
    try:
        body = json.loads(exc.read())
    except (OSError, ValueError):
        return []
    return _codes(body) if isinstance(body, dict) else []


def _codes(body: dict[str, Any]) -> list[str]:
    wrappers = body.get("errorWrappers")
    if not isinstance(wrappers, list):
        return []
    return [str(item["error"]) for item in wrappers if isinstance(item, dict) and isinstance(item.get("error"), str)]


# ---------------------------------------------------------------- choosing


_LOCAL = LocalChecker()


def checker_for(settings: Settings) -> VatChecker:
    """R-PAY-14: the checker ``vat_checker`` names; "vies" needs ``vies_requester_vat_id``."""
    if settings.vat_checker == "vies":
        if not settings.vies_requester_vat_id:
            raise ValueError("vat_checker 'vies' needs vies_requester_vat_id")
        return ViesChecker(settings.vies_requester_vat_id, timeout=settings.vies_timeout_seconds)
    return _LOCAL

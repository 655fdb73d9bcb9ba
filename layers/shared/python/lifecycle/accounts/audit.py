"""Audit events: lifecycle events and staff access, per account (R-USE-4).

Events carry ids and outcome codes, never personal data: the owner reads them as is,
except the details only staff may read (``STAFF_ONLY_DETAILS``, e.g. the evidence
behind a revocation).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from lifecycle.core import clock
from lifecycle.core.auth import Principal, require_member
from lifecycle.storage import AuditEvent
from lifecycle.storage import audit as audit_events

LIST_LIMIT = 200
STAFF_ACCESS = "staff_access"
# Kept for staff (R-VOUCH-11 evidence); left out of what the owner is shown.
STAFF_ONLY_DETAILS = frozenset({"evidence"})


def event(account_id: str, type_: str, actor: str, at: datetime, **details: Any) -> AuditEvent:
    """A new audit item, to be saved alone or inside a transaction."""
    return AuditEvent(
        account_id,
        f"{at.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}#{uuid.uuid4().hex}",
        type=type_,
        actor=actor,
        at=at,
        details=details,
    )


def record_staff_access(principal: Principal, account_id: str, resource: str, now: datetime) -> None:
    """R-USE-4: support staff reading an account's data leave a ``staff_access`` event the
    owner sees; members' own reads are not recorded. Call it where staff read account data."""
    if principal.is_staff:
        event(account_id, STAFF_ACCESS, principal.user_id, now, resource=resource).save()


class AuditEntry(BaseModel):
    type: str
    actor: str
    at: str
    details: dict[str, Any]

    @classmethod
    def of(cls, item: AuditEvent, for_staff: bool = False) -> AuditEntry:
        details = item.details.as_dict() if item.details is not None else {}  # type: ignore[no-untyped-call]
        if not for_staff:
            details = {key: value for key, value in details.items() if key not in STAFF_ONLY_DETAILS}
        return cls(type=item.type, actor=item.actor, at=clock.to_iso(item.at), details=details)


class AuditList(BaseModel):
    items: list[AuditEntry]


def list_for(account_id: str, limit: int = LIST_LIMIT, for_staff: bool = False) -> list[AuditEntry]:
    """The account's audit events, newest first, at most ``limit``."""
    found = audit_events.newest(account_id, limit)
    return [AuditEntry.of(item, for_staff) for item in found]


def read_for(principal: Principal, account_id: str, now: datetime) -> AuditList:
    """``GET /accounts/{id}/audit`` (R-USE-4): the owner's view of staff accesses and lifecycle
    events. Staff may read it too, and that read is itself recorded."""
    require_member(principal, account_id, roles=("owner",))
    record_staff_access(principal, account_id, "audit", now)
    return AuditList(items=list_for(account_id, for_staff=principal.is_staff))

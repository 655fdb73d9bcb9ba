"""Audit events: lifecycle events and staff access, per account (R-USE-4).

Events carry ids and outcome codes, never personal data: the owner reads them as is.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from lifecycle.storage import AuditEvent


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

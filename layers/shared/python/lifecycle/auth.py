"""Who is calling: the JWT claims the API's authorizer has already verified.

Handlers read only ``sub``, ``account_id`` and ``role`` (API.md). A token of one
account never sees another: membership failures are 404, not 403, so account ids
cannot be probed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from lifecycle.errors import Forbidden, NotFound, Unauthorized

Role = Literal["owner", "admin", "agent", "staff"]
ROLES: tuple[Role, ...] = ("owner", "admin", "agent", "staff")


@dataclass(frozen=True)
class Principal:
    user_id: str
    account_id: str | None
    role: Role

    @property
    def is_staff(self) -> bool:
        return self.role == "staff"


def principal_from_claims(claims: dict[str, Any] | None) -> Principal:
    """The caller, or 401 when the claims are missing or malformed."""
    if not claims:
        raise Unauthorized("A bearer token is required")
    sub, role, account_id = claims.get("sub"), claims.get("role"), claims.get("account_id")
    if not isinstance(sub, str) or not sub or role not in ROLES:
        raise Unauthorized("The token lacks the claims this API needs")
    if role != "staff" and (not isinstance(account_id, str) or not account_id):
        raise Unauthorized("The token names no account")
    return Principal(user_id=sub, account_id=account_id or None, role=role)


def require_staff(principal: Principal) -> None:
    if not principal.is_staff:
        raise Forbidden("This route is for the vendor's support staff")


def require_member(principal: Principal, account_id: str, roles: tuple[Role, ...] = ROLES) -> None:
    """The caller belongs to ``account_id`` (404 otherwise) and holds one of ``roles`` (403)."""
    if principal.is_staff:
        return
    if principal.account_id != account_id:
        raise NotFound("No such account")
    if principal.role not in roles:
        raise Forbidden(f"This action needs the role {' or '.join(roles)}")

"""Who is calling: the JWT claims the API's authorizer has already verified.

Handlers read only ``sub``, ``account_id`` and ``role`` (API.md). A token of one
account never sees another: membership failures are 404, not 403, so account ids
cannot be probed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from lifecycle.core.errors import Forbidden, NotFound, Unauthorized

Role = Literal["owner", "admin", "agent", "staff"]
ROLES: tuple[Role, ...] = ("owner", "admin", "agent", "staff")

# Who may call a route is declared on the route as its OpenAPI ``security`` (OpenAPI 3.1 lets
# a bearer scheme list role names), so clients read it in the document and the authorization
# matrix test (tests/e2e/test_authorization_matrix_e2e.py) holds every route's code to it.
SecurityRequirement = list[dict[str, list[str]]]
# The empty requirement: no token needed (the API's default authorizer is off for the route).
PUBLIC: SecurityRequirement = [{}]


def allowed(*roles: Role) -> SecurityRequirement:
    """The ``security`` of a route only these roles may call; ``staff`` only where support
    staff may (R-USE-4: staff read any account, audited; they do not act as its owner)."""
    return [{"bearerAuth": list(roles)}]


@dataclass(frozen=True)
class Principal:
    user_id: str
    account_id: str | None
    role: Role

    @property
    def is_staff(self) -> bool:
        return self.role == "staff"


# The claims of a Cognito ID token (the stack's user pool): the service's own ids are custom
# attributes only the service writes; ``sub`` there is Cognito's id of the person, not ours.
COGNITO_CLAIMS = ("custom:user_id", "custom:role", "custom:account_id")
# The claims an external issuer puts in its tokens, and the local runtime's test tokens.
PLAIN_CLAIMS = ("sub", "role", "account_id")


def principal_from_claims(claims: dict[str, Any] | None) -> Principal:
    """The caller, or 401 when the claims are missing or malformed: a Cognito ID token's
    ``custom:`` attributes when it has them, else ``sub``, ``role``, ``account_id``
    (docs/ARCHITECTURE.md "Sign-in")."""
    if not claims:
        raise Unauthorized("A bearer token is required")
    names = COGNITO_CLAIMS if "custom:role" in claims else PLAIN_CLAIMS
    sub, role, account_id = (claims.get(name) for name in names)
    if not isinstance(sub, str) or not sub or role not in ROLES:
        raise Unauthorized("The token lacks the claims this API needs")
    if role != "staff" and (not isinstance(account_id, str) or not account_id):
        raise Unauthorized("The token names no account")
    return Principal(user_id=sub, account_id=account_id or None, role=role)


def require_staff(principal: Principal) -> None:
    if not principal.is_staff:
        raise Forbidden("This route is for the vendor's support staff")


def require_member(
    principal: Principal, account_id: str, roles: tuple[Role, ...] = ROLES, *, staff: bool = True
) -> None:
    """The caller belongs to ``account_id`` (404 otherwise) and holds one of ``roles`` (403).
    Support staff pass unless ``staff`` is False (a change only the account's own people make)."""
    if principal.is_staff:
        if not staff:
            raise Forbidden("Support staff do not act for the account's own people")
        return
    if principal.account_id != account_id:
        raise NotFound("No such account")
    if principal.role not in roles:
        raise Forbidden(f"This action needs the role {' or '.join(roles)}")

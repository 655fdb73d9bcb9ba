"""The OpenAPI document's ``security`` of each operation agrees with the template.

Every operation declares who may call it (lifecycle.core.auth.allowed / PUBLIC); the template
decides which routes API Gateway's JWT authorizer guards. A public operation must be a
public route and an authenticated one an authorized route, or the document would tell
clients something API Gateway does not do. The roles themselves are held to the code by
tests/e2e/test_authorization_matrix_e2e.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from local_runtime import template

DOCUMENT = Path(__file__).resolve().parents[2] / "functions" / "docs" / "openapi.json"
ROLES = {"owner", "admin", "agent", "staff"}


def _operations() -> dict[str, Any]:
    document = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    return {
        f"{method.upper()} {path}": operation
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }


def _route_keys(public: bool) -> set[str]:
    # The template writes path parameters as {name}, as OpenAPI does.
    return {route.route_key for route in template.routes(template.load()) if route.public == public}


def test_every_operation_declares_who_may_call_it() -> None:
    undeclared = [key for key, operation in _operations().items() if "security" not in operation]
    assert undeclared == []


def test_public_operations_are_exactly_the_public_routes() -> None:
    public = {key for key, operation in _operations().items() if operation["security"] == [{}]}
    documented_public_routes = {key for key in _route_keys(public=True) if key in _operations()}
    assert public == documented_public_routes


def test_authenticated_operations_name_known_roles_and_are_authorized_routes() -> None:
    authorized = _route_keys(public=False)
    for key, operation in _operations().items():
        if operation["security"] == [{}]:
            continue
        ((scheme, roles),) = operation["security"][0].items()
        assert scheme == "bearerAuth", key
        assert roles, key
        assert set(roles) <= ROLES, key
        assert key in authorized, key
        if re.match(r"[A-Z]+ /admin/", key):
            assert roles == ["staff"], key

"""template.yaml as the infrastructure tests see it, read with the local runtime's own loader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from local_runtime.template import ROOT, Resolver, load, resources

SPEC_DIR = ROOT.parent / "shared" / "spec"


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    return load()


@pytest.fixture(scope="session")
def resolver(template: dict[str, Any]) -> Resolver:
    return Resolver(template)


@pytest.fixture(scope="session")
def globals_env(template: dict[str, Any]) -> dict[str, Any]:
    """The unresolved Globals environment (``{"Ref": "AccountsTable"}``, not a table name)."""
    variables: dict[str, Any] = (
        template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    )
    return variables


@pytest.fixture(scope="session")
def env_tables(template: dict[str, Any], globals_env: dict[str, Any]) -> dict[str, str]:
    """Globals env var → logical ID of the table it holds, for every ``VAR: !Ref <Table>``."""
    tables = resources(template, "AWS::DynamoDB::Table")
    return {
        name: value["Ref"]
        for name, value in globals_env.items()
        if isinstance(value, dict) and value.get("Ref") in tables
    }


@pytest.fixture(scope="session")
def api_md() -> str:
    path = SPEC_DIR / "API.md"
    assert path.is_file(), f"API.md not found at {path}: check out the shared spec beside the clone (../shared)"
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def api_additions() -> str:
    """docs/API-ADDITIONS.md: the routes and schedules the project adds to API.md, with why."""
    return (ROOT / "docs" / "API-ADDITIONS.md").read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT

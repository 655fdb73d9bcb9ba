"""Rewriting template.yaml changes nothing deployed: the SAM-transformed template still has the
resources of the baseline (template_baseline.json, see sam_view.py), the same routes, schedules
and function settings, and no function may do more than it could in the baseline.

Managed policies (``AWS::IAM::ManagedPolicy``) may be added: statements shared by several
functions are written once; what each function may do is compared after attaching them.
Regenerate the baseline only for a change meant to alter the deployment:
``python -m tests.infrastructure.sam_view --revision <git rev>``.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest

from tests.infrastructure import sam_view

ADDABLE = "AWS::IAM::ManagedPolicy"


@cache
def baseline() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(sam_view.BASELINE.read_text(encoding="utf-8"))
    return document


@cache
def current() -> dict[str, Any]:
    return sam_view.view(sam_view.deployed())


def test_same_resources_and_types() -> None:
    """Only managed policies may be added; nothing removed, renamed or retyped, and every
    resource but the roles (compared by permission below) has the properties it had."""
    now = {name: spec for name, spec in current()["resources"].items() if spec["type"] != ADDABLE}
    before = {name: spec for name, spec in baseline()["resources"].items() if spec["type"] != ADDABLE}
    assert sorted(now.keys() - before.keys()) == [], "resources added"
    assert sorted(before.keys() - now.keys()) == [], "resources removed"
    changed = {name: (before[name], spec) for name, spec in now.items() if spec != before[name]}
    assert not changed, f"resources whose type or properties changed (baseline, now): {changed}"


def test_same_routes() -> None:
    assert current()["routes"] == baseline()["routes"]


def test_same_schedules() -> None:
    assert current()["schedules"] == baseline()["schedules"]


def test_same_functions() -> None:
    assert sorted(current()["functions"]) == sorted(baseline()["functions"])


@pytest.mark.parametrize("logical_id", sorted(baseline()["functions"]))
def test_same_function_settings(logical_id: str) -> None:
    def settings(view: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in view["functions"][logical_id].items() if key != "permissions"}

    assert settings(current()) == settings(baseline())


@pytest.mark.parametrize("logical_id", sorted(baseline()["functions"]))
def test_function_may_do_no_more_than_in_the_baseline(logical_id: str) -> None:
    """Every (action, resource) the function's role allows, inline or through an attached managed
    policy, was allowed in the baseline."""
    now = set(current()["functions"][logical_id]["permissions"])
    before = set(baseline()["functions"][logical_id]["permissions"])
    assert sorted(now - before) == [], f"{logical_id} may do more than in the baseline"


def test_the_view_sees_permissions() -> None:
    """The comparison above is not vacuous: the baseline's roles grant table actions and reads of
    secrets (so a grant of another secret is "more than in the baseline")."""
    granted = [pair for spec in baseline()["functions"].values() for pair in spec["permissions"]]
    assert sum(pair.startswith("dynamodb:") for pair in granted) > 100
    assert sum(pair.startswith("secretsmanager:GetSecretValue ") for pair in granted) > 10
    assert baseline()["routes"]
    assert baseline()["schedules"]

"""scripts/check_deployable.py: a template whose tables cannot reach AWS in one stack update from
the last release is refused (DynamoDB: one GSI created or deleted per table per update; a new
key schema replaces the table). The comparison on small made-up templates, then the check on
this repository."""

from __future__ import annotations

import copy
import subprocess
import sys
from typing import Any

import pytest

from local_runtime.template import ROOT
from scripts import check_deployable
from scripts.check_deployable import refusals


def gsi(name: str, hash_key: str, range_key: str | None = None, projection: str = "KEYS_ONLY") -> dict[str, Any]:
    schema = [{"AttributeName": hash_key, "KeyType": "HASH"}]
    if range_key:
        schema.append({"AttributeName": range_key, "KeyType": "RANGE"})
    return {"IndexName": name, "KeySchema": schema, "Projection": {"ProjectionType": projection}}


def template(*indexes: dict[str, Any], key: str = "id") -> dict[str, Any]:
    return {
        "Resources": {
            "AccountsTable": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {
                    "BillingMode": "PAY_PER_REQUEST",
                    "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}],
                    **({"GlobalSecondaryIndexes": list(indexes)} if indexes else {}),
                },
            },
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": {}},
        }
    }


RELEASED = template(gsi("trial-due", "trial_sweep", "trial_ends_at"))


def released_gsis() -> list[dict[str, Any]]:
    return copy.deepcopy(RELEASED["Resources"]["AccountsTable"]["Properties"]["GlobalSecondaryIndexes"])


def test_one_gsi_added_is_deployable() -> None:
    assert refusals(RELEASED, template(*released_gsis(), gsi("purge-due", "purge_shard", "purge_after"))) == []


def test_two_gsis_added_in_one_update_are_refused() -> None:
    after = template(*released_gsis(), gsi("purge-due", "purge_shard"), gsi("billing-due", "billing_shard"))
    (reason,) = refusals(RELEASED, after)
    assert reason.startswith("AccountsTable: 2 GSI creations or deletions"), reason
    assert "+billing-due" in reason
    assert "+purge-due" in reason


def test_one_gsi_removed_is_deployable_and_one_removed_with_one_added_is_refused() -> None:
    assert refusals(RELEASED, template()) == []
    (reason,) = refusals(RELEASED, template(gsi("purge-due", "purge_shard")))
    assert "+purge-due, -trial-due" in reason, reason


def test_a_gsi_changed_under_its_own_name_is_refused() -> None:
    (reason,) = refusals(RELEASED, template(gsi("trial-due", "trial_sweep", "trial_ends_at", projection="ALL")))
    assert "GSI trial-due changes its key schema or projection" in reason, reason


def test_a_key_change_is_refused_as_it_replaces_the_table() -> None:
    (reason,) = refusals(RELEASED, template(*released_gsis(), key="account_id"))
    assert reason == "AccountsTable: its key schema changes, which replaces the table (a new, empty one)"


def test_a_new_table_may_come_with_all_its_gsis_and_other_changes_are_not_its_business() -> None:
    before = {"Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {}}}}
    after = template(gsi("a", "a"), gsi("b", "b"), gsi("c", "c"))
    after["Resources"]["AccountsTable"]["Properties"]["BillingMode"] = "PROVISIONED"
    assert refusals(before, after) == []
    unchanged = template(*released_gsis())
    unchanged["Resources"]["AccountsTable"]["Properties"]["TimeToLiveSpecification"] = {"AttributeName": "x"}
    assert refusals(RELEASED, unchanged) == []


def test_with_no_release_tag_the_check_says_so_and_passes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(check_deployable, "last_release", lambda: None)
    assert check_deployable.main([]) == 0
    assert "no release yet" in capsys.readouterr().out


def test_this_template_is_deployable_from_the_last_release() -> None:
    """What ``make template`` runs: against the newest v* tag, or "no release yet"."""
    result = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, str(ROOT / "scripts" / "check_deployable.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("deployable:"), result.stdout

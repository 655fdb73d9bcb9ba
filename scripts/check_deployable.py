"""Can template.yaml's tables reach AWS in one stack update from the last release? (``make template``)

DynamoDB creates or deletes at most one global secondary index per table in one CloudFormation
update, and a changed key schema (or local secondary indexes, fixed at creation) replaces the
table: a new, empty one. This compares each table of the working tree's template.yaml with the
same logical id in the last release, the newest git tag matching ``v*`` (``--against REV`` to
compare with another revision, e.g. what is deployed), and fails when a table gains or loses
more than one GSI, changes a GSI in place, or changes its key schema or LSIs. With no release
tag yet it says so and passes. docs/OPERATIONS.md "Several indexes on one table" stages them.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from local_runtime.template import load, load_at, resources  # noqa: E402 - after the path is set

TABLE = "AWS::DynamoDB::Table"


def _indexes(properties: dict[str, Any], key: str) -> dict[str, Any]:
    return {index["IndexName"]: index for index in properties.get(key, [])}


def _gsi_shape(index: dict[str, Any]) -> tuple[Any, Any]:
    """What CloudFormation cannot update in place: the key schema and the projection."""
    return index["KeySchema"], index.get("Projection")


def refusals(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Why ``after`` (a template) cannot be deployed over ``before`` in one update; empty if it can.

    Only tables in both are compared: a new table is created with all its indexes at once, and
    a removed one is deleted (or kept, with DeletionPolicy Retain) as a whole.
    """
    found = []
    old_tables = resources(before, TABLE)
    for name, table in sorted(resources(after, TABLE).items()):
        if name not in old_tables:
            continue
        old, new = old_tables[name].get("Properties", {}), table.get("Properties", {})
        if old.get("KeySchema") != new.get("KeySchema"):
            found.append(f"{name}: its key schema changes, which replaces the table (a new, empty one)")
        if _indexes(old, "LocalSecondaryIndexes") != _indexes(new, "LocalSecondaryIndexes"):
            found.append(f"{name}: its local secondary indexes change, which replaces the table")
        old_gsis = _indexes(old, "GlobalSecondaryIndexes")
        new_gsis = _indexes(new, "GlobalSecondaryIndexes")
        added, removed = sorted(new_gsis.keys() - old_gsis.keys()), sorted(old_gsis.keys() - new_gsis.keys())
        reshaped = sorted(
            index
            for index in new_gsis.keys() & old_gsis.keys()
            if _gsi_shape(new_gsis[index]) != _gsi_shape(old_gsis[index])
        )
        if reshaped:
            found.append(
                f"{name}: GSI {', '.join(reshaped)} changes its key schema or projection, which CloudFormation "
                "cannot update in place: add an index of another name, then remove this one, in two deployments"
            )
        if len(added) + len(removed) > 1:
            changes = [f"+{index}" for index in added] + [f"-{index}" for index in removed]
            found.append(
                f"{name}: {len(changes)} GSI creations or deletions in one update ({', '.join(changes)}); "
                "DynamoDB takes one per table per update: deploy them one at a time"
            )
    return found


def last_release() -> str | None:
    """The newest tag matching ``v*`` by version order, or None."""
    tags = subprocess.run(
        ["git", "tag", "--list", "v*", "--sort=-v:refname"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return tags[0] if tags else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", help="a git revision to compare with instead of the newest v* tag")
    args = parser.parse_args(argv)
    revision = args.against or last_release()
    if revision is None:
        print("deployable: no release yet (no v* tag): nothing to compare the tables with")
        return 0
    found = refusals(load_at(revision), load())
    if found:
        print(f"not deployable in one update from {revision}:", *found, sep="\n  ")
        return 1
    print(f"deployable: every table can reach this template from {revision} in one update")
    return 0


if __name__ == "__main__":
    sys.exit(main())

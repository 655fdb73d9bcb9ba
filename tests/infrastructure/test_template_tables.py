"""Every table is on-demand, recoverable and encrypted; the idempotency table fits Powertools."""

from __future__ import annotations

from typing import Any

import pytest

from local_runtime.template import load, resources

TABLES = resources(load(), "AWS::DynamoDB::Table")


@pytest.mark.parametrize("logical_id", TABLES)
def test_table_is_on_demand_with_point_in_time_recovery_and_encryption(logical_id: str) -> None:
    props = TABLES[logical_id]["Properties"]
    assert props.get("BillingMode") == "PAY_PER_REQUEST", f"{logical_id} BillingMode"
    pitr = props.get("PointInTimeRecoverySpecification", {})
    assert pitr.get("PointInTimeRecoveryEnabled") is True, f"{logical_id} PointInTimeRecoveryEnabled"
    assert props.get("SSESpecification", {}).get("SSEEnabled") is True, f"{logical_id} SSEEnabled"


def test_idempotency_table_has_the_powertools_key_and_expiry(env_tables: dict[str, str]) -> None:
    """Powertools' DynamoDBPersistenceLayer defaults: partition key ``id`` (S), TTL on ``expiration``."""
    assert "IDEMPOTENCY_TABLE" in env_tables, "Globals IDEMPOTENCY_TABLE must be !Ref <Table>"
    props: dict[str, Any] = TABLES[env_tables["IDEMPOTENCY_TABLE"]]["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert props["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "S"}]
    ttl = props.get("TimeToLiveSpecification")
    assert ttl == {"AttributeName": "expiration", "Enabled": True}, f"TimeToLiveSpecification {ttl}"

"""A developer's kept DynamoDB Local data (``make run`` keeps it in .local/data) gets the
indexes template.yaml added since it was created, instead of failing on the first query."""

from __future__ import annotations

import copy
import uuid

import pytest

from local_runtime import template
from local_runtime.dynamodb_local import client, create_tables

pytestmark = [pytest.mark.integration]


def test_indexes_added_to_the_template_are_added_to_existing_tables(dynamodb_local: str) -> None:
    document = template.load()
    older = copy.deepcopy(document)
    accounts = older["Resources"]["AccountsTable"]["Properties"]
    accounts["GlobalSecondaryIndexes"] = [
        index for index in accounts["GlobalSecondaryIndexes"] if index["IndexName"] not in {"by-price", "purge-due"}
    ]
    accounts["AttributeDefinitions"] = [
        definition
        for definition in accounts["AttributeDefinitions"]
        if definition["AttributeName"] not in {"price_key", "purge_shard", "purge_after"}
    ]
    resolver = template.Resolver(document, stack_name=f"up-{uuid.uuid4().hex[:8]}")
    create_tables(dynamodb_local, older, resolver)

    create_tables(dynamodb_local, document, resolver)

    table = client(dynamodb_local).describe_table(TableName=resolver.table_name("AccountsTable"))["Table"]
    indexes = {index["IndexName"]: index["IndexStatus"] for index in table["GlobalSecondaryIndexes"]}
    wanted = {
        index["IndexName"] for index in document["Resources"]["AccountsTable"]["Properties"]["GlobalSecondaryIndexes"]
    }
    assert set(indexes) == wanted
    assert set(indexes.values()) == {"ACTIVE"}

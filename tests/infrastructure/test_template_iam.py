"""Least privilege: each function may do only what it needs, on the tables it names.

A statement that cannot be narrowed (an action without resource-level permissions, a
wildcard resource, a write from a read-only route such as an audit record) says why in
its ``Sid``: a ``Sid`` starting with ``Justified`` (IAM allows only letters and digits
there), e.g. ``Sid: JustifiedXrayHasNoResourceLevelPermissions``. Such a statement is
exempt from the Resource, Scan and read-only checks, never from the Action wildcard check.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from local_runtime.template import load, resources
from tests.infrastructure.sam_view import as_list

TEMPLATE = load()
FUNCTIONS = resources(TEMPLATE, "AWS::Serverless::Function")
TABLES = resources(TEMPLATE, "AWS::DynamoDB::Table")
# Statements several functions share, written once; a function attaches one by ``!Ref`` in its Policies.
MANAGED = resources(TEMPLATE, "AWS::IAM::ManagedPolicy")

JUSTIFIED = "Justified"
BASIC_EXECUTION = "AWSLambdaBasicExecutionRole"
BROAD_MANAGED = ("FullAccess", "CrudPolicy", "AdministratorAccess", "PowerUserAccess")
WRITE_ACTIONS = frozenset(
    f"dynamodb:{verb}"
    for verb in ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems", "PartiQLUpdate")
)
INDEX_ACTIONS = frozenset({"dynamodb:Query", "dynamodb:Scan"})
# What Lambda's event source mapping reads a stream with; ListStreams only on ``${T.Arn}/stream/*``
# (the DynamoDB guide's Lambda policy example), since it names no single stream.
STREAM_ACTIONS = frozenset(
    {"dynamodb:DescribeStream", "dynamodb:GetShardIterator", "dynamodb:GetRecords", "dynamodb:ListStreams"}
)
TABLE_STREAMS_SUB = re.compile(r"^\$\{(?P<table>[A-Za-z0-9]+)\.Arn\}/stream/\*$")
STREAM = "stream"
TABLE_ARN_SUB = re.compile(r"^\$\{(?P<table>[A-Za-z0-9]+)\.Arn\}(?:/index/(?P<index>[A-Za-z0-9_.-]+))?$")


def policies(logical_id: str) -> list[Any]:
    return as_list(FUNCTIONS[logical_id]["Properties"].get("Policies", []))


def own_managed(policy: Any) -> str | None:
    """The logical id of the template's managed policy a ``Policies`` entry attaches, if it does."""
    target = policy.get("Ref") if isinstance(policy, dict) else None
    return target if target in MANAGED else None


def statements(logical_id: str) -> list[dict[str, Any]]:
    """The statements of a function's ``Policies``: inline, and in the template's managed policies
    it attaches (policy templates and AWS managed names excluded)."""
    found = []
    for policy in policies(logical_id):
        if isinstance(policy, dict) and "Statement" in policy:
            found.extend(as_list(policy["Statement"]))
        elif (managed := own_managed(policy)) is not None:
            found.extend(as_list(MANAGED[managed]["Properties"]["PolicyDocument"]["Statement"]))
    return found


def is_justified(statement: dict[str, Any]) -> bool:
    return str(statement.get("Sid", "")).startswith(JUSTIFIED)


def actions(statement: dict[str, Any]) -> list[str]:
    return [str(action) for action in as_list(statement.get("Action", []))]


def table_target(resource: Any) -> tuple[str, str | None] | None:
    """``!GetAtt T.Arn`` → (T, None); ``!Sub ${T.Arn}/index/I`` → (T, I); ``!GetAtt T.StreamArn``
    → (T, ``STREAM``); anything else → None."""
    if isinstance(resource, dict) and "Fn::GetAtt" in resource:
        target = resource["Fn::GetAtt"]
        parts = target.split(".", 1) if isinstance(target, str) else list(target)
        if parts[1:] == ["StreamArn"]:
            return str(parts[0]), STREAM
        return (str(parts[0]), None) if parts[1:] == ["Arn"] else None
    if isinstance(resource, dict) and isinstance(resource.get("Fn::Sub"), str):
        streams = TABLE_STREAMS_SUB.match(resource["Fn::Sub"])
        if streams:
            return streams["table"], STREAM
        match = TABLE_ARN_SUB.match(resource["Fn::Sub"])
        return (match["table"], match["index"]) if match else None
    return None


def table_indexes(table: str) -> set[str]:
    props = TABLES[table]["Properties"]
    return {
        index["IndexName"] for index in props.get("GlobalSecondaryIndexes", []) + props.get("LocalSecondaryIndexes", [])
    }


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_function_uses_no_broad_managed_policy(logical_id: str) -> None:
    """No ``*CrudPolicy``/``*FullAccess`` policy template or managed policy, no ``AWSLambda*``
    managed policy beyond basic execution, and no ``Role`` of its own (that would hide the
    permissions from these tests)."""
    assert "Role" not in FUNCTIONS[logical_id]["Properties"], f"{logical_id}: grant with Policies, not a Role"
    for policy in policies(logical_id):
        if (isinstance(policy, dict) and "Statement" in policy) or own_managed(policy) is not None:
            continue
        assert not (isinstance(policy, dict) and "Ref" in policy), f"{logical_id}: {policy} is no managed policy here"
        names = list(policy) if isinstance(policy, dict) else [str(policy).rsplit("/", 1)[-1]]
        for name in names:
            assert not name.endswith(BROAD_MANAGED), f"{logical_id}: {name} grants more than the function needs"
            assert not name.startswith("AWSLambda") or name == BASIC_EXECUTION, f"{logical_id}: {name}"


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_function_statements_name_actions_without_wildcards(logical_id: str) -> None:
    """``dynamodb:*``, ``dynamodb:Get*`` and ``*`` are refused, justified or not; ``dynamodb:Scan``
    needs a justification (sweeps read only due items through their indexes, API.md)."""
    for statement in statements(logical_id):
        for action in actions(statement):
            assert "*" not in action, f"{logical_id}: wildcard action {action}"
            if action == "dynamodb:Scan":
                assert is_justified(statement), f"{logical_id}: dynamodb:Scan without a Justified… Sid"
        assert "NotAction" not in statement, f"{logical_id}: NotAction grants everything else"


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_function_statements_name_specific_resources(logical_id: str) -> None:
    """Resources are never a bare ``*``; DynamoDB statements name this template's tables
    (``!GetAtt T.Arn``), their existing indexes (``!Sub ${T.Arn}/index/<name>``) or streams
    (``!GetAtt T.StreamArn``); index ARNs carry only Query/Scan, stream ARNs only the stream's
    reads. Statements with a ``Justified…`` Sid are exempt."""
    for statement in statements(logical_id):
        if is_justified(statement):
            continue
        assert "NotResource" not in statement, f"{logical_id}: NotResource grants everything else"
        is_dynamodb = any(action.startswith("dynamodb:") for action in actions(statement))
        for resource in as_list(statement.get("Resource", [])):
            assert not (isinstance(resource, str) and "*" in resource), f"{logical_id}: wildcard resource {resource}"
            if not is_dynamodb:
                continue
            target = table_target(resource)
            assert target is not None, f"{logical_id}: {resource} is not a table or index ARN of this template"
            table, index = target
            assert table in TABLES, f"{logical_id}: {table} is not a table of this template"
            if index == STREAM:
                assert "StreamSpecification" in TABLES[table]["Properties"], f"{logical_id}: {table} has no stream"
                extra = set(actions(statement)) - STREAM_ACTIONS
                assert not extra, f"{logical_id}: {sorted(extra)} on {table}'s stream grant nothing"
            elif index is not None:
                assert index in table_indexes(table), f"{logical_id}: {table} has no index {index}"
                extra = set(actions(statement)) - INDEX_ACTIONS
                assert not extra, f"{logical_id}: {sorted(extra)} on index {table}/{index} grant nothing"


def http_methods(logical_id: str) -> list[str]:
    events = FUNCTIONS[logical_id]["Properties"].get("Events", {}).values()
    return [event["Properties"]["Method"].upper() if event["Type"] == "HttpApi" else "" for event in events]


READ_ONLY = [name for name in FUNCTIONS if http_methods(name) and set(http_methods(name)) == {"GET"}]


@pytest.mark.parametrize("logical_id", READ_ONLY)
def test_functions_serving_only_get_routes_cannot_write(logical_id: str) -> None:
    """A function whose only triggers are GET routes has no DynamoDB write action and no
    write or CRUD policy template, unless the statement is justified (e.g. an audit record)."""
    for statement in statements(logical_id):
        writes = WRITE_ACTIONS.intersection(actions(statement))
        assert not writes or is_justified(statement), f"{logical_id} serves only GET routes but may {sorted(writes)}"
    for policy in policies(logical_id):
        if isinstance(policy, dict) and "Statement" not in policy and own_managed(policy) is None:
            for name in policy:
                assert not {"Write", "Crud"} & set(re.findall("[A-Z][a-z]+", name)), f"{logical_id} may write: {name}"


# ---------------------------------------------------------------- stream consumers

MAPPINGS = resources(TEMPLATE, "AWS::Lambda::EventSourceMapping")
STREAM_CONSUMERS = {"CampaignCountersFunction", "NotifierFunction", "PriceFanoutFunction"}
DYNAMODB_EXECUTION_ROLE = "AWSLambdaDynamoDBExecutionRole"


def _getatt(value: Any, attribute: str) -> str:
    """The logical id ``!GetAtt X.<attribute>`` names; fails on anything else."""
    target = value.get("Fn::GetAtt") if isinstance(value, dict) else None
    parts = target.split(".", 1) if isinstance(target, str) else target
    assert isinstance(parts, list), f"{value} is not !GetAtt X.{attribute}"
    assert parts[1:] == [attribute], f"{value} is not !GetAtt X.{attribute}"
    return str(parts[0])


def test_every_stream_consumer_is_an_explicit_event_source_mapping() -> None:
    """No ``Type: DynamoDB`` event (SAM would attach AWSLambdaDynamoDBExecutionRole: every stream of
    the account); each consumer is an ``AWS::Lambda::EventSourceMapping`` on one table's stream."""
    for logical_id, function in FUNCTIONS.items():
        kinds = {event["Type"] for event in function["Properties"].get("Events", {}).values()}
        assert "DynamoDB" not in kinds, f"{logical_id}: a Type: DynamoDB event instead of an EventSourceMapping"
    mapped = set()
    for mapping_id, mapping in MAPPINGS.items():
        props = mapping["Properties"]
        function = props["FunctionName"].get("Ref")
        assert function in FUNCTIONS, f"{mapping_id}: FunctionName is not !Ref of a function here"
        table = _getatt(props["EventSourceArn"], "StreamArn")
        assert "StreamSpecification" in TABLES[table]["Properties"], f"{mapping_id}: {table} has no stream"
        mapped.add(function)
    assert mapped == STREAM_CONSUMERS


def test_each_consumers_role_reads_only_its_own_stream_and_dead_letters_to_its_own_queue() -> None:
    """As deployed (the SAM transform): a consumer's role may DescribeStream, GetShardIterator and
    GetRecords on its mapping's stream and ListStreams on that table's ``/stream/*``, nothing on
    another stream, and sqs:SendMessage on the mapping's OnFailure queue; no other role reads a
    stream, and no role has AWS's managed stream policy."""
    from tests.infrastructure import sam_view

    deployed = sam_view.deployed()
    roles = {
        name: function["Properties"]["Role"]["Fn::GetAtt"][0]
        for name, function in resources(deployed, "AWS::Lambda::Function").items()
    }
    expected: dict[str, set[str]] = {name: set() for name in roles}
    queues: dict[str, str] = {}
    for mapping in MAPPINGS.values():
        props = mapping["Properties"]
        function, table = props["FunctionName"]["Ref"], _getatt(props["EventSourceArn"], "StreamArn")
        expected[function] |= {
            f"dynamodb:DescribeStream ${{{table}.StreamArn}}",
            f"dynamodb:GetShardIterator ${{{table}.StreamArn}}",
            f"dynamodb:GetRecords ${{{table}.StreamArn}}",
            f"dynamodb:ListStreams ${{{table}.Arn}}/stream/*",
        }
        queues[function] = _getatt(props["DestinationConfig"]["OnFailure"]["Destination"], "Arn")
    for function, role in roles.items():
        granted = sam_view.permissions(deployed, role)
        assert not [pair for pair in granted if pair.endswith(DYNAMODB_EXECUTION_ROLE)], f"{function}: {granted}"
        reads = {pair for pair in granted if pair.split()[0] in STREAM_ACTIONS or "/stream" in pair}
        reads |= {pair for pair in granted if "StreamArn" in pair}
        assert reads == expected[function], function
        if function in queues:
            assert f"sqs:SendMessage ${{{queues[function]}.Arn}}" in granted, function
    assert set(queues) == STREAM_CONSUMERS

"""The pynamodb models and template.yaml describe the same tables (keys, types, indexes).

A model's table is found through its Settings field: ``accounts_table`` is read from the
env var ``ACCOUNTS_TABLE``, which Globals sets to ``!Ref AccountsTable``.
"""

from __future__ import annotations

from typing import Any

import pytest
from pynamodb.models import Model

from lifecycle.core.settings import Settings
from lifecycle.storage import MODELS
from local_runtime.template import load, resources

TABLES = resources(load(), "AWS::DynamoDB::Table")
MODEL_IDS = [model.__name__ for model in MODELS]
KINDS = (("global_secondary_indexes", "GlobalSecondaryIndexes"), ("local_secondary_indexes", "LocalSecondaryIndexes"))


def model_named(name: str) -> type[Model]:
    return next(model for model in MODELS if model.__name__ == name)


def table_of(model: type[Model], env_tables: dict[str, str]) -> dict[str, Any]:
    variable = MODELS[model].upper()
    assert variable in env_tables, f"{model.__name__}: Globals has no {variable}: !Ref <Table>"
    props: dict[str, Any] = TABLES[env_tables[variable]]["Properties"]
    return props


def model_schema(model: type[Model]) -> dict[str, Any]:
    """pynamodb's own description of the table it would create (``Model.create_table`` uses it)."""
    return dict(model._get_schema())


def keys(key_schema: list[dict[str, str]]) -> dict[str, str]:
    """``[{"AttributeName": "id", "KeyType": "HASH"}]`` → ``{"HASH": "id"}``."""
    return {key["KeyType"]: key["AttributeName"] for key in key_schema}


def projection(spec: dict[str, Any]) -> tuple[str, list[str]]:
    return spec["ProjectionType"], sorted(spec.get("NonKeyAttributes", []))


@pytest.mark.parametrize("name", MODEL_IDS)
def test_model_table_has_the_model_keys_and_key_types(name: str, env_tables: dict[str, str]) -> None:
    """Same hash/range keys, and AttributeDefinitions are exactly the key attributes of the
    table and its indexes with the model's types (Unicode/UTCDateTime → S, Number → N, Binary → B)."""
    model = model_named(name)
    schema, props = model_schema(model), table_of(model, env_tables)
    assert keys(props["KeySchema"]) == keys(schema["key_schema"]), f"{name} key schema"
    model_types = {a["AttributeName"]: a["AttributeType"] for a in schema["attribute_definitions"]}
    for kind, _ in KINDS:
        for index in schema[kind]:
            model_types.update({a["AttributeName"]: a["AttributeType"] for a in index["attribute_definitions"]})
    table_types = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    assert table_types == model_types, f"{name}: AttributeDefinitions {table_types}, model key attributes {model_types}"


@pytest.mark.parametrize("name", MODEL_IDS)
def test_model_indexes_are_the_table_indexes(name: str, env_tables: dict[str, str]) -> None:
    """Every index of the model is in the template with the same name, keys and projection, and
    the template has no index the model does not know."""
    model = model_named(name)
    schema, props = model_schema(model), table_of(model, env_tables)
    for model_kind, template_kind in KINDS:
        in_model = {i["index_name"]: (keys(i["key_schema"]), projection(i["projection"])) for i in schema[model_kind]}
        in_template = {
            i["IndexName"]: (keys(i["KeySchema"]), projection(i["Projection"])) for i in props.get(template_kind, [])
        }
        assert in_template == in_model, f"{name} {template_kind}: template {in_template} != model {in_model}"


def test_every_table_is_named_by_a_globals_env_var(env_tables: dict[str, str]) -> None:
    """No orphan tables: a table no function is told about is unused or reached by a made-up name."""
    orphans = set(TABLES) - set(env_tables.values())
    assert not orphans, f"tables no Globals env var holds: {sorted(orphans)}"


def test_every_table_but_the_idempotency_table_has_a_model(env_tables: dict[str, str]) -> None:
    """One pynamodb model per table (STYLE.md); Powertools owns the idempotency table."""
    modelled = {env_tables.get(field.upper()) for field in MODELS.values()}
    unmodelled = set(TABLES) - modelled - {env_tables.get("IDEMPOTENCY_TABLE")}
    assert not unmodelled, f"tables without a pynamodb model in lifecycle.storage.MODELS: {sorted(unmodelled)}"


def test_settings_table_fields_and_globals_table_env_vars_match(globals_env: dict[str, Any]) -> None:
    """``Settings.from_env`` reads ``<FIELD>`` for each field: every ``*_table`` field has its env
    var in Globals, and every ``*_TABLE`` env var in Globals is a Settings field."""
    fields = {name.upper() for name in Settings.model_fields if name.endswith("_table")}
    variables = {name for name in globals_env if name.endswith("_TABLE")}
    assert fields - variables == set(), f"Settings fields without a Globals env var: {sorted(fields - variables)}"
    assert variables - fields == set(), f"Globals env vars no Settings field reads: {sorted(variables - fields)}"

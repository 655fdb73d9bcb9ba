"""``make env-json``: the ``--env-vars`` file of ``sam local invoke`` stays in step with the template.

SAM overrides only variables the template declares, so every variable the file sets must be
declared for its function, and every variable the local runtime gives its functions (what the
code reads to run locally) must be declared too; the table names must be those the local
runtime creates in DynamoDB Local. Docker is not needed: the file is proven, not the run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from lifecycle.core import secrets
from lifecycle.core.settings import Settings
from local_runtime import sam_env, server
from local_runtime.template import Resolver, load, resources, tables

TEMPLATE = load()
RESOLVER = Resolver(TEMPLATE)
FUNCTIONS = sorted(resources(TEMPLATE, "AWS::Serverless::Function"))
DOCUMENT = sam_env.env_vars(TEMPLATE, RESOLVER)
# Secrets' values are never a declared variable (test_template_secrets.py): under SAM, as in the
# local runtime without a stand-in, the settings' local defaults are the secrets.
SECRET_VALUES = {setting.upper() for setting in secrets.MIN_LENGTH}


def test_every_function_is_in_the_file() -> None:
    assert sorted(DOCUMENT) == FUNCTIONS


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_a_functions_entry_sets_exactly_its_declared_variables(logical_id: str) -> None:
    assert set(DOCUMENT[logical_id]) == set(sam_env.declared(TEMPLATE, logical_id))


def test_every_table_variable_names_the_table_the_local_runtime_creates() -> None:
    created = {spec.logical_id: spec.create_args["TableName"] for spec in tables(TEMPLATE, RESOLVER)}
    table_refs = {
        name: value["Ref"]
        for name, value in TEMPLATE["Globals"]["Function"]["Environment"]["Variables"].items()
        if isinstance(value, dict) and value.get("Ref") in created
    }
    assert len(table_refs) == len(created) > 20
    for variables in DOCUMENT.values():
        for name, logical_id in table_refs.items():
            assert variables[name] == created[logical_id] == f"helpdesk-local-{logical_id}"


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_the_settings_a_container_reads_are_local(logical_id: str) -> None:
    """DynamoDB Local and the payment stand-in of make run as a container reaches them, no secret
    ARN (so no Secrets Manager call), notices and exports in the container's /tmp."""
    settings = Settings.from_env(DOCUMENT[logical_id])
    assert settings.dynamodb_endpoint == f"http://host.docker.internal:{sam_env.DYNAMODB_PORT}"
    assert settings.payment_api_base == f"http://host.docker.internal:{sam_env.PAYMENT_PORT}"
    assert (settings.local_outbox_path, settings.local_exports_path) == ("/tmp/outbox.jsonl", "/tmp/exports")  # noqa: S108
    for setting in secrets.MIN_LENGTH:
        assert secrets.arn_of(setting, settings) == ""
    assert secrets.link_signing_secret(settings) == "local-link-signing-secret"
    assert settings.region == "eu-central-1"


def test_the_declared_local_variables_are_unset_in_aws() -> None:
    """Declared empty in the template: in AWS DynamoDB is AWS's and notices go by SES."""
    settings = Settings.from_env({"DYNAMODB_ENDPOINT": "", "LOCAL_OUTBOX_PATH": "", "LOCAL_EXPORTS_PATH": ""})
    assert (settings.dynamodb_endpoint, settings.local_outbox_path, settings.local_exports_path) == (None, None, None)


def test_no_setting_the_local_runtime_gives_its_functions_is_undeclared(tmp_path: Path) -> None:
    """What the code reads to run locally (the local runtime's environment, where it names a
    setting) is declared in the template, so SAM's --env-vars can set it; only the secrets'
    values are not, by design."""
    saved = dict(os.environ)
    try:
        env = server.configure_environment(
            TEMPLATE,
            RESOLVER,
            "http://127.0.0.1:1",
            tmp_path / "outbox.jsonl",
            "http://127.0.0.1:2",
            "http://127.0.0.1:3",
        )
    finally:
        os.environ.clear()
        os.environ.update(saved)
    read = {name for name in env if name.lower() in Settings.model_fields}
    assert {"DYNAMODB_ENDPOINT", "LOCAL_OUTBOX_PATH", "PAYMENT_API_BASE", "PUBLIC_BASE_URL", "REGION"} <= read
    for logical_id in FUNCTIONS:
        undeclared = read - set(sam_env.declared(TEMPLATE, logical_id)) - SECRET_VALUES
        assert not undeclared, f"{logical_id}: sam local --env-vars could not set {sorted(undeclared)}"


def test_every_variable_the_file_sets_is_a_setting_or_powertools() -> None:
    for variables in DOCUMENT.values():
        unknown = {name for name in variables if name.lower() not in Settings.model_fields}
        assert {name for name in unknown if not name.startswith("POWERTOOLS_")} == set()


def test_make_env_json_writes_the_document(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "env.json"
    sam_env.main(["--output", str(output), "--dynamodb-port", "9100", "--payment-port", "9101"])
    written: dict[str, Any] = json.loads(output.read_text(encoding="utf-8"))
    assert sorted(written) == FUNCTIONS
    campaigns = written["CampaignsFunction"]
    assert campaigns["DYNAMODB_ENDPOINT"] == "http://host.docker.internal:9100"
    assert campaigns["PAYMENT_API_BASE"] == "http://host.docker.internal:9101"
    assert campaigns["CAMPAIGNS_TABLE"] == "helpdesk-local-CampaignsTable"
    assert campaigns["VOUCHER_PEPPER_ARN"] == ""
    assert "9100" in capsys.readouterr().out


def test_a_local_value_for_an_undeclared_variable_is_refused() -> None:
    """Were a variable of the overrides not declared, SAM would ignore it silently: refused here."""
    template = json.loads(json.dumps(TEMPLATE))
    del template["Globals"]["Function"]["Environment"]["Variables"]["DYNAMODB_ENDPOINT"]
    with pytest.raises(ValueError, match="DYNAMODB_ENDPOINT"):
        sam_env.env_vars(template, Resolver(template))


def test_the_makefile_runs_dynamodb_local_on_the_port_the_file_names() -> None:
    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text(encoding="utf-8")
    assert f"DYNAMODB_PORT ?= {sam_env.DYNAMODB_PORT}" in makefile
    assert f"PAYMENT_PORT ?= {sam_env.PAYMENT_PORT}" in makefile
    assert "-m local_runtime --dynamodb-port $(DYNAMODB_PORT) --payment-port $(PAYMENT_PORT)" in makefile

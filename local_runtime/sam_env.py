"""``.local/env.json``: the ``--env-vars`` file of ``sam local invoke`` / ``start-api``, from the template.

SAM gives a function only the variables the template declares for it (``Globals`` and its own
``Environment``), and ``--env-vars`` only overrides those. This file gives every function each
of its declared variables as the local stack has them: table names the local runtime creates in
DynamoDB Local, no secret ARNs (so the settings' local values are the secrets, as in the local
runtime), DynamoDB Local and the payment provider's stand-in of ``make run`` as a container
reaches them, and notices and exports in the container's ``/tmp``. ``make env-json`` writes it
(``python -m local_runtime.sam_env``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from local_runtime.template import ROOT, Resolver, load, resources

ENV_JSON = ROOT / ".local" / "env.json"
# How a container reaches the machine it runs on (Docker Desktop; on Linux pass
# ``--add-host host.docker.internal:host-gateway`` to sam local).
DOCKER_HOST = "host.docker.internal"
# The ports ``make run`` starts DynamoDB Local and the payment stand-in on (DYNAMODB_PORT, PAYMENT_PORT).
DYNAMODB_PORT = 8765
PAYMENT_PORT = 8766
# Where the container may write: Lambda's /tmp (notices as in the local runtime's outbox).
CONTAINER_OUTBOX = "/tmp/outbox.jsonl"  # noqa: S108 - the Lambda container's own scratch folder
CONTAINER_EXPORTS = "/tmp/exports"  # noqa: S108 - as above


def local_values(host: str, dynamodb_port: int, payment_port: int, public_base_url: str) -> dict[str, str]:
    """What differs from the resolved template when a function runs in SAM's container."""
    return {
        "DYNAMODB_ENDPOINT": f"http://{host}:{dynamodb_port}",
        "PAYMENT_API_BASE": f"http://{host}:{payment_port}",
        "LOCAL_OUTBOX_PATH": CONTAINER_OUTBOX,
        "LOCAL_EXPORTS_PATH": CONTAINER_EXPORTS,
        "PUBLIC_BASE_URL": public_base_url,
    }


def declared(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    """The variables SAM gives ``logical_id``: ``Globals``' and its own, unresolved."""
    shared = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    own = template["Resources"][logical_id].get("Properties", {}).get("Environment", {}).get("Variables", {})
    return {**shared, **own}


def env_vars(
    template: dict[str, Any],
    resolver: Resolver,
    host: str = DOCKER_HOST,
    dynamodb_port: int = DYNAMODB_PORT,
    payment_port: int = PAYMENT_PORT,
    public_base_url: str = "http://127.0.0.1:3000",
) -> dict[str, dict[str, str]]:
    """The ``--env-vars`` document: each function's declared variables, resolved for the local stack."""
    overrides = local_values(host, dynamodb_port, payment_port, public_base_url)
    document: dict[str, dict[str, str]] = {}
    for logical_id in sorted(resources(template, "AWS::Serverless::Function")):
        variables = {name: str(resolver.resolve(value)) for name, value in declared(template, logical_id).items()}
        missing = overrides.keys() - variables.keys()
        if missing:
            raise ValueError(f"{logical_id} does not declare {sorted(missing)}: sam local would ignore them")
        document[logical_id] = dict(sorted({**variables, **overrides}.items()))
    return document


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=ENV_JSON)
    parser.add_argument(
        "--dynamodb-port", type=int, default=DYNAMODB_PORT, help="DynamoDB Local's port on this machine"
    )
    parser.add_argument("--payment-port", type=int, default=PAYMENT_PORT, help="the payment stand-in's port")
    parser.add_argument("--host", default=DOCKER_HOST, help="this machine's address as a container sees it")
    parser.add_argument("--public-base-url", default="http://127.0.0.1:3000", help="where links in notices point")
    args = parser.parse_args(argv)
    template = load()
    document = env_vars(
        template, Resolver(template), args.host, args.dynamodb_port, args.payment_port, args.public_base_url
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    endpoint = next(iter(document.values()))["DYNAMODB_ENDPOINT"]
    print(f"{args.output}: {len(document)} functions, DynamoDB Local at {endpoint}")


if __name__ == "__main__":
    main()

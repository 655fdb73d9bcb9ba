"""The deployed meaning of template.yaml, as the SAM transform expands it, in a form to compare.

``view()`` reduces a transformed template to what must not change when the template is only
rewritten: the resources and their types, the HTTP routes, the schedules, each function's
settings and each function's effective IAM permissions ((action, resource) pairs from its
role's inline policies and from the managed policies attached to it, intrinsics written as
``${Logical.Attr}`` strings). test_template_equivalence.py compares it with the committed
baseline, template_baseline.json; regenerate that from a git revision with

    python -m tests.infrastructure.sam_view --revision <git rev>

(the baseline stays the template of that revision, whatever the working tree holds).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
from functools import cache
from pathlib import Path
from typing import Any

from samtranslator.translator.transform import transform  # type: ignore[import-untyped]

from local_runtime.template import load, load_at, resources

BASELINE = Path(__file__).with_name("template_baseline.json")
# Settings of an AWS::Lambda::Function that, changed, change what runs.
FUNCTION_SETTINGS = ("Handler", "Runtime", "Timeout", "MemorySize", "Layers", "Architectures", "TracingConfig")


class _NoManagedPolicyNames:
    """The template names managed policies by ARN or Ref only: nothing to look up in IAM."""

    def load(self) -> dict[str, str]:
        return {}


def transformed(template: dict[str, Any]) -> dict[str, Any]:
    """A template through the SAM transform, offline, as ``sam validate`` does it: local code
    paths become placeholder S3 URIs; resource Metadata is passed through."""
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-central-1")
    template = copy.deepcopy(template)
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str):
                props[key] = "s3://placeholder-bucket/code.zip"
    expanded: dict[str, Any] = transform(template, {}, _NoManagedPolicyNames(), passthrough_metadata=True)
    return expanded


@cache
def deployed() -> dict[str, Any]:
    """The working tree's template.yaml through the transform, once per process."""
    return transformed(load())


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def expression(value: Any) -> str:
    """An intrinsic as one stable string: ``!GetAtt T.Arn`` and ``!Sub ${T.Arn}`` both read
    ``${T.Arn}``, ``!Ref P`` reads ``${P}``."""
    if isinstance(value, str | int | float | bool):
        return str(value)
    if isinstance(value, dict) and len(value) == 1 and ("Ref" in value or next(iter(value)).startswith("Fn::")):
        ((key, arg),) = value.items()
        if key == "Ref":
            return f"${{{arg}}}"
        if key == "Fn::GetAtt":
            return "${" + (arg if isinstance(arg, str) else ".".join(arg)) + "}"
        if key == "Fn::Sub" and isinstance(arg, str):
            return arg
        if key == "Fn::Sub":
            text, variables = arg
            for name, variable in variables.items():
                text = text.replace(f"${{{name}}}", expression(variable))
            return str(text)
        if key == "Fn::Join":
            separator, parts = arg
            return str(separator).join(expression(part) for part in parts)
        return f"{key}({', '.join(expression(item) for item in as_list(arg))})"
    if isinstance(value, list):
        return "[" + ", ".join(expression(item) for item in value) + "]"
    if isinstance(value, dict):
        return json.dumps({key: expression(item) for key, item in value.items()}, sort_keys=True)
    return json.dumps(value, sort_keys=True)


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def _statement_pairs(statement: dict[str, Any]) -> set[str]:
    assert statement.get("Effect") == "Allow", statement
    assert not {"NotAction", "NotResource", "Condition"} & statement.keys(), statement
    return {
        f"{action} {expression(resource)}"
        for action in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
    }


def permissions(expanded: dict[str, Any], role_id: str) -> list[str]:
    """``"<action> <resource>"`` for each pair the role allows; an AWS managed policy attached
    is ``"attach <arn>"``."""
    role = expanded["Resources"][role_id]["Properties"]
    found: set[str] = set()
    documents = [policy["PolicyDocument"] for policy in role.get("Policies", [])]
    for arn in role.get("ManagedPolicyArns", []):
        target = arn.get("Ref") if isinstance(arn, dict) else None
        if target in resources(expanded, "AWS::IAM::ManagedPolicy"):
            documents.append(expanded["Resources"][target]["Properties"]["PolicyDocument"])
        else:
            found.add(f"attach {expression(arn)}")
    for document in documents:
        for statement in as_list(document["Statement"]):
            found |= _statement_pairs(statement)
    return sorted(found)


def routes(expanded: dict[str, Any]) -> dict[str, dict[str, str]]:
    """``"GET /path"`` → the function it invokes and the authorizer it needs (``NONE``: public)."""
    found = {}
    for api in resources(expanded, "AWS::ApiGatewayV2::Api").values():
        for path, methods in api["Properties"]["Body"]["paths"].items():
            for method, operation in methods.items():
                uri = expression(operation["x-amazon-apigateway-integration"]["uri"])
                function = uri.split("/functions/${", 1)[1].split(".Arn}", 1)[0]
                auth = sorted(key for requirement in operation.get("security", []) for key in requirement)
                found[f"{method.upper()} {path}"] = {"function": function, "auth": ",".join(auth)}
    return dict(sorted(found.items()))


def schedules(expanded: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Each EventBridge rule: its expression, the function it invokes, its state and input."""
    found = {}
    for logical_id, rule in resources(expanded, "AWS::Events::Rule").items():
        props = rule["Properties"]
        (target,) = props["Targets"]
        found[logical_id] = {
            "expression": expression(props["ScheduleExpression"]),
            "name": expression(props.get("Name", "")),
            "function": expression(target["Arn"]),
            "state": expression(props.get("State", "ENABLED")),
            "input": expression(target.get("Input", "")),
        }
    return dict(sorted(found.items()))


def functions(expanded: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = {}
    for logical_id, function in resources(expanded, "AWS::Lambda::Function").items():
        props = function["Properties"]
        settings: dict[str, Any] = {name: expression(props.get(name, "")) for name in FUNCTION_SETTINGS}
        variables = props.get("Environment", {}).get("Variables", {})
        # The names (values are in the function's digest under ``resources``), one line.
        settings["environment"] = " ".join(sorted(variables))
        settings["role"] = expression(props["Role"])
        settings["permissions"] = permissions(expanded, props["Role"]["Fn::GetAtt"][0])
        found[logical_id] = settings
    return dict(sorted(found.items()))


def view(expanded: dict[str, Any]) -> dict[str, Any]:
    """What the equivalence test compares. ``resources``: logical id → type and a digest of its
    Properties (Metadata such as checkov's skips left out); roles and managed policies are
    compared by the permissions they grant instead."""
    compared_by_permissions = {"AWS::IAM::Role", "AWS::IAM::ManagedPolicy"}
    return {
        "resources": {
            logical_id: {
                "type": resource["Type"],
                "properties": None
                if resource["Type"] in compared_by_permissions
                else _digest(resource.get("Properties", {})),
            }
            for logical_id, resource in sorted(expanded["Resources"].items())
        },
        "routes": routes(expanded),
        "schedules": schedules(expanded),
        "functions": functions(expanded),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--revision", default="HEAD", help="the git revision whose template.yaml is the baseline")
    parser.add_argument("--output", type=Path, default=BASELINE)
    args = parser.parse_args()
    document = view(transformed(load_at(args.revision)))
    args.output.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{args.output}: template.yaml at {args.revision}")


if __name__ == "__main__":
    main()

"""The HTTP API's CORS configuration agrees with API.md's "Browsers" and with what the
functions answer; its origins are a parameter that never takes "*"."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from local_runtime.template import LOCAL_PARAMETERS, Resolver, cors_configuration, resources, routes

PARAMETER = "CorsAllowedOrigins"
# Response headers a browser lets a script read without Access-Control-Expose-Headers (Fetch
# standard, "CORS-safelisted response-header name").
SAFELISTED_RESPONSE_HEADERS = frozenset(
    {"cache-control", "content-language", "content-length", "content-type", "expires", "last-modified", "pragma"}
)


def browsers_paragraph(api_md: str) -> str:
    return api_md[api_md.index("**Browsers**") :].split("\n- ", 1)[0]


@pytest.fixture(scope="module")
def cors(template: dict[str, Any]) -> dict[str, Any]:
    (api,) = resources(template, "AWS::Serverless::HttpApi").values()
    config = api["Properties"].get("CorsConfiguration")
    assert isinstance(config, dict), "the HttpApi has no CorsConfiguration object"
    return config


def test_allowed_origins_are_the_parameter_and_the_portals_distribution(
    template: dict[str, Any], cors: dict[str, Any]
) -> None:
    condition, served, elsewhere = cors["AllowOrigins"]["Fn::If"]
    assert condition == "ServesPortal"
    assert elsewhere == {"Ref": PARAMETER}
    joined = served["Fn::Split"][1]["Fn::Join"][1]
    assert joined == [
        {"Fn::Sub": "https://${PortalDistribution.DomainName}"},
        {"Fn::Join": [",", {"Ref": PARAMETER}]},
    ]
    parameter = template["Parameters"][PARAMETER]
    assert parameter["Type"] == "CommaDelimitedList"


@pytest.mark.parametrize(
    "origin",
    ["*", "https://*.helpdesk.example", "https://app.helpdesk.example/", "https://app.helpdesk.example/portal", "null"],
)
def test_the_origins_parameter_refuses_what_is_not_one_exact_origin(template: dict[str, Any], origin: str) -> None:
    """CloudFormation matches AllowedPattern against each member of a CommaDelimitedList."""
    pattern = template["Parameters"][PARAMETER]["AllowedPattern"]
    assert re.fullmatch(pattern, origin) is None


def test_the_default_and_local_origins_pass_the_parameters_pattern(template: dict[str, Any]) -> None:
    parameter = template["Parameters"][PARAMETER]
    members = [*parameter["Default"].split(","), *LOCAL_PARAMETERS[PARAMETER].split(",")]
    for origin in (member.strip() for member in members):
        assert re.fullmatch(parameter["AllowedPattern"], origin), origin
    assert parameter["Default"].startswith("https://")


def test_the_local_stack_allows_the_origins_api_md_names(template: dict[str, Any], api_md: str) -> None:
    local = cors_configuration(template, Resolver(template))
    assert local is not None
    named = re.findall(r"`(http://[^`]+)`", browsers_paragraph(api_md))
    assert sorted(local.allow_origins) == sorted(named)


def test_allowed_headers_are_those_api_md_names(cors: dict[str, Any], api_md: str) -> None:
    named = {name.lower() for name in re.findall(r"`([A-Z][A-Za-z-]+)`", browsers_paragraph(api_md))}
    assert named == {"authorization", "content-type", "idempotency-key"}
    assert sorted(cors["AllowHeaders"]) == sorted(named)


def test_allowed_methods_are_the_routes_methods_and_options(template: dict[str, Any], cors: dict[str, Any]) -> None:
    used = {route.method for route in routes(template)}
    assert sorted(cors["AllowMethods"]) == sorted(used | {"OPTIONS"})
    assert "*" not in cors["AllowMethods"]


def test_no_credentials_and_preflights_are_cached(cors: dict[str, Any]) -> None:
    """Bearer tokens, no cookies: a browser sends no credentials, so none are allowed."""
    assert cors["AllowCredentials"] is False
    assert isinstance(cors["MaxAge"], int)
    assert 0 < cors["MaxAge"] <= 7200  # Chromium caps a preflight's cache at two hours


def _response_header_names(source: str) -> set[str]:
    """Header names a module sets on its answers: ``….headers["Name"] = …`` (an error's headers)
    and ``Response(…, headers={"Name": …})``; headers of requests it sends are not answers."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if (
                    isinstance(target, ast.Subscript)
                    and isinstance(target.value, ast.Attribute)
                    and target.value.attr == "headers"
                    and isinstance(target.slice, ast.Constant)
                    and isinstance(target.slice.value, str)
                ):
                    names.add(target.slice.value.lower())
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "Response":
            for keyword in node.keywords:
                if keyword.arg == "headers" and isinstance(keyword.value, ast.Dict):
                    names |= {
                        key.value.lower()
                        for key in keyword.value.keys
                        if isinstance(key, ast.Constant) and isinstance(key.value, str)
                    }
    return names


def test_every_header_the_functions_answer_with_is_readable_by_a_web_client(
    cors: dict[str, Any], repo_root: Path
) -> None:
    sources = [*(repo_root / "functions").glob("*/*.py"), *(repo_root / "layers/shared/python").rglob("*.py")]
    answered = set().union(*(_response_header_names(path.read_text(encoding="utf-8")) for path in sources))
    assert {"retry-after", "content-disposition"} <= answered  # the scan finds what is known to be there
    needed = answered - SAFELISTED_RESPONSE_HEADERS
    assert sorted(cors["ExposeHeaders"]) == sorted(needed)

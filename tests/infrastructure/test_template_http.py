"""The HTTP API and the schedules agree with the contract in shared/spec/API.md and the
project's recorded additions to it (docs/API-ADDITIONS.md)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from local_runtime.template import Resolver, resources, routes, schedules
from tests import figures

ALWAYS_PUBLIC = {"GET /openapi.json", "GET /docs"}
THROTTLES = ("ThrottlingRateLimit", "ThrottlingBurstLimit")
ROUTE = re.compile(r"\b(GET|POST|PUT|PATCH|DELETE)\s+(/[^\s,()]*)")


def section(markdown: str, heading: str) -> str:
    """The text under ``## <heading…>`` up to the next ``## `` heading."""
    match = re.search(rf"^## {re.escape(heading)}.*?$(.*?)(?=^## |\Z)", markdown, re.MULTILINE | re.DOTALL)
    assert match, f"API.md has no '## {heading}' section"
    return match.group(1)


def table_after(text: str, caption: str | None = None) -> list[list[str]]:
    """Body rows (cells stripped) of the first Markdown table after the line starting with ``caption``."""
    lines = text.splitlines()
    start = next((n for n, line in enumerate(lines) if caption is None or line.startswith(caption)), None)
    assert start is not None, f"API.md has no table captioned '{caption}'"
    rows = []
    for line in lines[start:]:
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif rows:
            break
    return [row for row in rows[2:] if row]  # the header and the --- line


def api_md_schedules(api_md: str) -> dict[str, str]:
    return {row[0]: row[1] for row in table_after(section(api_md, "Schedules"))}


def api_md_public_routes(api_md: str) -> set[str]:
    rows = table_after(section(api_md, "Routes"), caption="Public")
    return {f"{method} {path}" for row in rows for method, path in ROUTE.findall(row[0])}


def http_events(template: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(function, route key, event properties) for every HttpApi event."""
    found = []
    for name, function in resources(template, "AWS::Serverless::Function").items():
        for event in function["Properties"].get("Events", {}).values():
            if event["Type"] == "HttpApi":
                props = event["Properties"]
                found.append((name, f"{props['Method'].upper()} {props['Path']}", props))
    return found


def test_http_api_authorizes_with_a_jwt_authorizer_configured_by_parameters(template: dict[str, Any]) -> None:
    """The stack's user pool and web client, or, with ``IdentityProvider`` external, the issuer
    and audience parameters: each stage trusts its own identity provider."""
    apis = resources(template, "AWS::Serverless::HttpApi")
    assert apis, "template has no AWS::Serverless::HttpApi"
    parameters = template.get("Parameters", {})
    for name, api in apis.items():
        auth = api["Properties"].get("Auth", {})
        default = auth.get("DefaultAuthorizer")
        authorizer = auth.get("Authorizers", {}).get(default)
        assert authorizer is not None, f"{name}: DefaultAuthorizer {default!r} is not one of its Authorizers"
        jwt = authorizer.get("JwtConfiguration")
        assert jwt, f"{name}: {default} is not a JWT authorizer"
        assert authorizer.get("IdentitySource") == "$request.header.Authorization"
        (audience,) = jwt.get("audience") or [None]
        assert jwt.get("issuer") == {
            "Fn::If": [
                "UsesCognito",
                {"Fn::Sub": "https://cognito-idp.${AWS::Region}.amazonaws.com/${UserPool}"},
                {"Ref": "JwtIssuer"},
            ]
        }, f"{name}: issuer"
        assert audience == {"Fn::If": ["UsesCognito", {"Ref": "WebClient"}, {"Ref": "JwtAudience"}]}, (
            f"{name}: audience"
        )
        assert {"JwtIssuer", "JwtAudience", "IdentityProvider"} <= set(parameters)
    assert template["Conditions"]["UsesCognito"] == {"Fn::Equals": [{"Ref": "IdentityProvider"}, "cognito"]}


def test_the_user_pool_lets_only_the_service_write_account_and_role(template: dict[str, Any]) -> None:
    """API.md "Authentication": account and role are attributes only the service writes; no self sign-up."""
    (pool,) = resources(template, "AWS::Cognito::UserPool").values()
    (client,) = resources(template, "AWS::Cognito::UserPoolClient").values()
    props, web = pool["Properties"], client["Properties"]
    assert props["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert props["UsernameAttributes"] == ["email"]
    assert props["Policies"]["PasswordPolicy"]["MinimumLength"] >= 12  # API.md: at least 12 characters
    custom = {item["Name"] for item in props["Schema"]} - {"email"}
    assert custom == {"user_id", "account_id", "role"}
    assert web["GenerateSecret"] is False  # a web client keeps no secret
    assert not {f"custom:{name}" for name in custom} & set(web["WriteAttributes"])
    assert {f"custom:{name}" for name in custom} <= set(web["ReadAttributes"])
    # The portal signs in with the password over TLS (no build step to ship SRP with), and refreshes.
    assert set(web["ExplicitAuthFlows"]) == {
        "ALLOW_USER_SRP_AUTH",
        "ALLOW_USER_PASSWORD_AUTH",
        "ALLOW_REFRESH_TOKEN_AUTH",
    }
    assert web["EnableTokenRevocation"] is True


def test_every_route_is_on_the_authorized_api(template: dict[str, Any]) -> None:
    """An HttpApi event without ``ApiId`` lands on SAM's implicit API, which has no authorizer."""
    apis = resources(template, "AWS::Serverless::HttpApi")
    for function, route_key, props in http_events(template):
        api = props.get("ApiId", {})
        assert isinstance(api, dict), f"{function} {route_key}: ApiId must be !Ref <HttpApi>"
        assert api.get("Ref") in apis, f"{function} {route_key}: ApiId must be !Ref <HttpApi>"


def test_public_routes_are_throttled(template: dict[str, Any], resolver: Resolver) -> None:
    """R-REG-2: public routes (signups, redemptions, …) carry their own per-route rate and burst
    limits in the API's RouteSettings, resolving to positive numbers."""
    apis = resources(template, "AWS::Serverless::HttpApi")
    for function, route_key, props in http_events(template):
        if (props.get("Auth") or {}).get("Authorizer") != "NONE":
            continue
        settings = apis[props["ApiId"]["Ref"]]["Properties"].get("RouteSettings", {}).get(route_key)
        assert settings, f"{function}: public route {route_key} has no RouteSettings entry"
        for limit in ("ThrottlingRateLimit", "ThrottlingBurstLimit"):
            assert limit in settings, f"{function}: public route {route_key} has no {limit}"
            assert float(resolver.resolve(settings[limit])) > 0, f"{route_key} {limit} must be positive"


def test_public_routes_are_the_contract_public_routes(
    template: dict[str, Any], api_md: str, api_additions: str
) -> None:
    """A route without a token is one API.md (or the additions page) lists as public (or the
    OpenAPI document and its page), and every route they list as public is public in the template."""
    documented = api_md_public_routes(api_md) | api_md_public_routes(api_additions) | ALWAYS_PUBLIC
    for route in routes(template):
        if route.public:
            assert route.route_key in documented, f"{route.route_key} is public but API.md does not list it so"
        else:
            assert route.route_key not in documented, f"{route.route_key} is public in API.md but needs a token"


def test_local_only_routes_are_never_deployed(template: dict[str, Any]) -> None:
    deployed = [route.route_key for route in routes(template) if route.path.startswith("/_local")]
    assert not deployed, f"/_local routes belong to the local runtime only: {deployed}"


def test_schedules_are_the_contract_schedules(
    template: dict[str, Any], resolver: Resolver, api_md: str, api_additions: str
) -> None:
    """Each Schedule event's ``Name`` (after the stack prefix) is a schedule of API.md or the
    additions page, once."""
    documented = api_md_schedules(api_md) | api_md_schedules(api_additions)
    names = [schedule.name for schedule in schedules(template, resolver)]
    unknown = [name for name in names if name not in documented]
    assert not unknown, f"schedules API.md does not list: {unknown} (known: {sorted(documented)})"
    assert len(names) == len(set(names)), f"a schedule name is used twice: {names}"


@pytest.mark.parametrize("stack_name", ["helpdesk-local", "helpdesk-prod"])
def test_schedule_names_and_defaults_do_not_depend_on_the_stack(
    template: dict[str, Any], api_md: str, api_additions: str, stack_name: str
) -> None:
    """The stack prefix is stripped whatever the stack is called, and the default expressions
    are API.md's (or the additions page's) default schedules."""
    documented = api_md_schedules(api_md) | api_md_schedules(api_additions)
    for schedule in schedules(template, Resolver(template, stack_name=stack_name)):
        assert schedule.name in documented, f"{schedule.name} (stack {stack_name}) is not an API.md schedule"
        assert schedule.expression == documented[schedule.name].strip("`"), f"{schedule.name} default schedule"


@pytest.mark.hardening
def test_documented_public_routes_are_throttled_tighter_than_the_rest(
    template: dict[str, Any], resolver: Resolver, api_md: str, api_additions: str
) -> None:
    """R-REG-2: each route API.md or the additions page lists as public (and the OpenAPI
    routes) has its own RouteSettings throttle, tighter than the API's default, which bounds
    every other route; both reach the deployed stage through the SAM transform. A public
    route API.md lists but the template does not serve yet has nothing to throttle."""
    from tests.infrastructure.sam_view import deployed

    served = {route_key for _, route_key, _ in http_events(template)}
    documented = (api_md_public_routes(api_md) | api_md_public_routes(api_additions) | ALWAYS_PUBLIC) & served
    assert len(documented) >= 8, documented
    (api,) = resources(template, "AWS::Serverless::HttpApi").values()
    default = api["Properties"]["DefaultRouteSettings"]
    default_limits = {limit: float(resolver.resolve(default[limit])) for limit in THROTTLES}
    assert all(value > 0 for value in default_limits.values()), default_limits
    (stage,) = resources(deployed(), "AWS::ApiGatewayV2::Stage").values()
    deployed = stage["Properties"]["RouteSettings"]
    assert stage["Properties"]["DefaultRouteSettings"] == default
    for route_key in sorted(documented):
        settings = api["Properties"]["RouteSettings"].get(route_key)
        assert settings, f"public route {route_key} has no RouteSettings throttle"
        for limit in THROTTLES:
            value = float(resolver.resolve(settings[limit]))
            assert 0 < value <= default_limits[limit], f"{route_key} {limit} {value} vs default {default_limits}"
        assert deployed.get(route_key) == settings, f"{route_key}: the stage does not carry its throttle"
    figures.record(
        f"throttling: {len(documented)} public routes at {resolver.resolve(settings['ThrottlingRateLimit'])} rps "
        f"(burst {resolver.resolve(settings['ThrottlingBurstLimit'])}), every other route at the API default "
        f"{default_limits['ThrottlingRateLimit']:g} rps"
    )


def test_route_settings_name_routes_that_exist(template: dict[str, Any]) -> None:
    """A RouteSettings key that matches no route (a typo, a removed route) throttles nothing."""
    existing = {route.route_key for route in routes(template)}
    for name, api in resources(template, "AWS::Serverless::HttpApi").items():
        unknown = set(api["Properties"].get("RouteSettings", {})) - existing
        assert not unknown, f"{name}: RouteSettings for routes the template does not have: {sorted(unknown)}"

"""Template security (hardening): data at rest is encrypted and recoverable, every function runs
with a role of its own that names its actions, the API's access log holds no personal data,
and checkov's scan passes with every suppression explained: in .checkov.yaml for a check skipped
for every resource, in the template for a reason of one resource's own.

Two views of the template: as written (what ``make template`` scans), and as the SAM transform
expands it (``AWS::IAM::Role`` per function, the API's stage), which is what CloudFormation
deploys and where the policies SAM adds on its own (basic execution, X-Ray) show up.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from local_runtime.template import ROOT, load, resources
from tests import figures
from tests.infrastructure import sam_view
from tests.infrastructure.sam_view import as_list

pytestmark = pytest.mark.hardening

TEMPLATE = load()
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
CHECKOV_CONFIG = ROOT / ".checkov.yaml"
CHECKOV_ARGS = ("--framework", "cloudformation", "--output", "json", "--skip-download")
CHECK_ID = re.compile(r"^CKV2?_AWS_\d+$")
# What SAM attaches to every function's role: CloudWatch Logs (basic execution) and, with
# ``Tracing: Active``, X-Ray's write-only policy. Nothing broader may be attached.
MANAGED_POLICIES = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
}
# $context variables of the access log that would put personal data (IP, browser, identity) in it.
PERSONAL_CONTEXT = re.compile(r"\$context\.(identity|authorizer)\.|sourceIp|userAgent|\$context\.path\b", re.I)


def statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    """The role's inline statements and those of the template's managed policies attached to it."""
    documents = [policy["PolicyDocument"] for policy in role["Properties"].get("Policies", [])]
    managed = resources(sam_view.deployed(), "AWS::IAM::ManagedPolicy")
    for arn in role["Properties"].get("ManagedPolicyArns", []):
        if isinstance(arn, dict) and arn.get("Ref") in managed:
            documents.append(managed[arn["Ref"]]["Properties"]["PolicyDocument"])
    return [statement for document in documents for statement in as_list(document["Statement"])]


# ---------------------------------------------------------------- data at rest


def test_every_table_is_recoverable_and_encrypted() -> None:
    """Point-in-time recovery and server-side encryption on each DynamoDB table."""
    tables = resources(TEMPLATE, "AWS::DynamoDB::Table")
    assert tables
    for name, table in tables.items():
        props = table["Properties"]
        assert props.get("PointInTimeRecoverySpecification") == {"PointInTimeRecoveryEnabled": True}, name
        assert props.get("SSESpecification", {}).get("SSEEnabled") is True, name


def test_every_bucket_is_private_and_encrypted() -> None:
    buckets = resources(TEMPLATE, "AWS::S3::Bucket")
    assert set(buckets) == {"ExportsBucket", "PortalBucket"}
    for name, bucket in buckets.items():
        props = bucket["Properties"]
        (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}, name
        block = props["PublicAccessBlockConfiguration"]
        assert block == dict.fromkeys(
            ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
        ), name
        assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}, name


def test_the_exports_bucket_expires_its_objects_and_keeps_no_versions() -> None:
    """R-GDPR-3, R-GDPR-7: exports expire; versioning would keep deleted exports."""
    props = resources(TEMPLATE, "AWS::S3::Bucket")["ExportsBucket"]["Properties"]
    assert all(rule.get("ExpirationInDays") for rule in props["LifecycleConfiguration"]["Rules"])
    assert "VersioningConfiguration" not in props, "versions would keep deleted exports"


def test_the_portals_bucket_is_versioned_and_read_only_by_its_distribution() -> None:
    """The portal's files: earlier versions kept a while (a bad upload is undone), read by
    CloudFront through Origin Access Control only, over TLS."""
    bucket = resources(TEMPLATE, "AWS::S3::Bucket")["PortalBucket"]
    assert bucket["Condition"] == "ServesPortal"
    props = bucket["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert all(
        rule["NoncurrentVersionExpiration"]["NoncurrentDays"] > 0 for rule in props["LifecycleConfiguration"]["Rules"]
    )
    (policy,) = resources(TEMPLATE, "AWS::S3::BucketPolicy").values()
    read, tls = policy["Properties"]["PolicyDocument"]["Statement"]
    assert (read["Effect"], read["Principal"], read["Action"]) == (
        "Allow",
        {"Service": "cloudfront.amazonaws.com"},
        "s3:GetObject",
    )
    assert "PortalDistribution" in str(read["Condition"]["StringEquals"]["AWS:SourceArn"])
    assert (tls["Effect"], tls["Condition"]) == ("Deny", {"Bool": {"aws:SecureTransport": "false"}})


def test_the_portal_is_served_over_https_only_with_a_content_security_policy() -> None:
    (distribution,) = resources(TEMPLATE, "AWS::CloudFront::Distribution").values()
    config = distribution["Properties"]["DistributionConfig"]
    assert config["DefaultRootObject"] == "index.html"
    assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"
    (origin,) = config["Origins"]
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": ["PortalOriginAccessControl", "Id"]}
    (headers,) = resources(TEMPLATE, "AWS::CloudFront::ResponseHeadersPolicy").values()
    security = headers["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    csp = security["ContentSecurityPolicy"]["ContentSecurityPolicy"]["Fn::Sub"]
    sources = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert sources["default-src"] == "'self'"
    # Stripe Elements (the card form) and Turnstile (the human check, R-REG-2), nothing else.
    assert sources["script-src"] == "'self' https://js.stripe.com https://challenges.cloudflare.com"
    assert sources["connect-src"].split() == [
        "'self'",
        "https://*.execute-api.${AWS::Region}.${AWS::URLSuffix}",  # the API
        "https://cognito-idp.${AWS::Region}.${AWS::URLSuffix}",  # the identity provider
        "https://api.stripe.com",  # Stripe Elements makes the payment method
    ]
    assert sources["frame-ancestors"] == "'none'"
    assert security["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31536000


def test_every_log_group_has_a_retention() -> None:
    groups = resources(TEMPLATE, "AWS::Logs::LogGroup")
    for name, group in groups.items():
        assert int(group["Properties"]["RetentionInDays"]) > 0, name


def test_api_access_log_is_on_and_holds_no_personal_data() -> None:
    """Every request, throttled ones (R-REG-2) included, is logged by route key, status and
    latency, never with the caller's IP, user agent, identity or path (ids and codes)."""
    stages = resources(sam_view.deployed(), "AWS::ApiGatewayV2::Stage")
    assert stages
    for name, stage in stages.items():
        settings = stage["Properties"].get("AccessLogSettings")
        assert settings, f"{name} has no access log"
        assert settings["DestinationArn"]["Fn::GetAtt"][0] in resources(TEMPLATE, "AWS::Logs::LogGroup")
        entry = json.loads(settings["Format"])
        assert {"requestId", "route", "status"} <= entry.keys(), entry
        assert not PERSONAL_CONTEXT.search(settings["Format"]), settings["Format"]


# ---------------------------------------------------------------- least privilege


def test_every_function_has_a_role_of_its_own() -> None:
    """No ``Role`` in a function or in Globals: SAM makes one role per function from its own
    ``Policies``, so no function holds another's permissions."""
    functions = resources(TEMPLATE, "AWS::Serverless::Function")
    global_function = TEMPLATE.get("Globals", {}).get("Function", {})
    assert not {"Role", "Policies", "PermissionsBoundary"} & global_function.keys()
    for name, function in functions.items():
        assert "Role" not in function["Properties"], f"{name} shares a role"
    deployed = resources(sam_view.deployed(), "AWS::Lambda::Function")
    roles = {name: function["Properties"]["Role"]["Fn::GetAtt"][0] for name, function in deployed.items()}
    assert set(roles) == set(functions)
    assert len(set(roles.values())) == len(roles), f"functions share roles: {roles}"
    all_roles = resources(sam_view.deployed(), "AWS::IAM::Role")
    assert set(roles.values()) == set(all_roles), "a role no function uses, or a function without its role"


def test_no_role_allows_a_wildcard_action_or_broad_managed_policy() -> None:
    """In every role as deployed: no ``*`` or ``service:*`` action (nor any ``*`` in an action),
    no ``NotAction``/``NotResource``, no bare ``*`` resource, no managed policy but the ones SAM
    attaches and the template's own (checked with the role's statements), and only Lambda may
    assume the role."""
    roles = resources(sam_view.deployed(), "AWS::IAM::Role")
    own = resources(sam_view.deployed(), "AWS::IAM::ManagedPolicy")
    counted = 0
    for name, role in roles.items():
        props = role["Properties"]
        for arn in props.get("ManagedPolicyArns", []):
            ours = isinstance(arn, dict) and arn.get("Ref") in own
            assert ours or arn in MANAGED_POLICIES, f"{name}: {arn}"
        (trust,) = props["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Principal"] == {"Service": ["lambda.amazonaws.com"]}, name
        for statement in statements(role):
            counted += 1
            assert statement["Effect"] == "Allow", name
            assert not {"NotAction", "NotResource", "NotPrincipal"} & statement.keys(), f"{name}: {statement}"
            for action in as_list(statement["Action"]):
                assert "*" not in action, f"{name}: wildcard action {action}"
                assert re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9]+", action), f"{name}: {action}"
            for resource in as_list(statement["Resource"]):
                assert resource != "*", f"{name}: {statement['Action']} on every resource"
    assert counted > len(roles), "the roles carry no statements: is the transform empty?"


def test_the_templates_managed_policies_are_attached_through_functions_only() -> None:
    """A managed policy of the template is attached by the ``Policies`` of the functions that
    need it (so their roles show it), never to roles, users or groups of its own, and is used."""
    own = resources(sam_view.deployed(), "AWS::IAM::ManagedPolicy")
    attached = {
        arn["Ref"]
        for role in resources(sam_view.deployed(), "AWS::IAM::Role").values()
        for arn in role["Properties"].get("ManagedPolicyArns", [])
        if isinstance(arn, dict) and "Ref" in arn
    }
    for name, policy in own.items():
        assert not {"Roles", "Users", "Groups"} & policy["Properties"].keys(), f"{name} attaches itself"
        assert name in attached, f"{name} is attached to no function"


# ---------------------------------------------------------------- checkov


def suppressions() -> list[tuple[str, dict[str, Any]]]:
    """The skips of one resource each, in the template (``Metadata: checkov: skip``)."""
    return [
        (name, skip)
        for name, resource in TEMPLATE["Resources"].items()
        for skip in as_list(resource.get("Metadata", {}).get("checkov", {}).get("skip", []))
    ]


def global_suppressions() -> dict[str, str]:
    """.checkov.yaml's ``skip-check`` ids, each with its reason: the comment lines just above it."""
    text = CHECKOV_CONFIG.read_text(encoding="utf-8")
    lines = text.splitlines()
    found: dict[str, str] = {}
    for index, line in enumerate(lines):
        item = re.fullmatch(r"\s*-\s*(\S+)\s*", line)
        if not item:
            continue
        above = index
        while above > 0 and lines[above - 1].lstrip().startswith("#"):
            above -= 1
        assert item[1] not in found, f".checkov.yaml skips {item[1]} twice"
        found[item[1]] = " ".join(comment.strip().lstrip("#").strip() for comment in lines[above:index])
    config = yaml.safe_load(text)
    assert set(config) == {"skip-check"}, f".checkov.yaml sets more than skip-check: {sorted(config)}"
    assert sorted(found) == sorted(config["skip-check"]), "skip-check is not a list of one id per line"
    return found


def test_every_global_checkov_suppression_names_a_check_and_says_why() -> None:
    """Each check skipped for every resource (.checkov.yaml) is one checkov id with its reason
    in the comment above it, and is not skipped again in the template."""
    found = global_suppressions()
    assert found, "no global suppressions: drop this test's premise or restore them"
    for check_id, reason in found.items():
        assert CHECK_ID.match(check_id), f"{check_id} is not a checkov AWS check id"
        assert len(reason.split()) >= 6, f".checkov.yaml {check_id}: no reason given in the comment above it"
    again = [(name, skip["id"]) for name, skip in suppressions() if skip["id"] in found]
    assert not again, f"skipped in .checkov.yaml and again in the template: {again}"


def test_every_checkov_suppression_names_a_check_and_says_why() -> None:
    """A check skipped for one resource is one checkov id, once per resource, with a reason of some words."""
    found = suppressions()
    assert found, "no suppressions: drop this test's premise or restore them"
    seen: set[tuple[str, str]] = set()
    for name, skip in found:
        assert set(skip) == {"id", "comment"}, f"{name}: {skip}"
        assert CHECK_ID.match(str(skip["id"])), f"{name}: {skip['id']} is not a checkov AWS check id"
        comment = skip["comment"]
        assert isinstance(comment, str), f"{name} {skip['id']}: the comment is not text"
        assert len(comment.split()) >= 6, f"{name} {skip['id']}: no reason given"
        assert (name, skip["id"]) not in seen, f"{name} skips {skip['id']} twice"
        seen.add((name, skip["id"]))
    for name, resource in TEMPLATE["Resources"].items():
        ignored = resource.get("Metadata", {}).get("cfn-lint", {}).get("config", {}).get("ignore_checks")
        assert not ignored, f"{name}: cfn-lint checks ignored in the template: {ignored}"


def _checkov(path: Path) -> dict[str, Any]:
    if not CHECKOV.is_file():
        pytest.skip(f"{CHECKOV} is missing: `make template` installs it (requirements-checkov.txt)")
    result = subprocess.run(  # noqa: S603 - fixed arguments, our own venv's tool
        [str(CHECKOV), "--config-file", str(CHECKOV_CONFIG), "--file", str(path), *CHECKOV_ARGS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.stdout.strip(), f"checkov printed nothing (exit {result.returncode}):\n{result.stderr}"
    report = json.loads(result.stdout)
    summary: dict[str, Any] = report["summary"]
    failed = [(check["check_id"], check["resource"]) for check in report.get("results", {}).get("failed_checks", [])]
    assert summary["failed"] == 0, f"checkov findings: {failed}"
    assert summary["parsing_errors"] == 0
    assert result.returncode == 0, result.stderr
    return summary


@pytest.mark.parametrize("view", ["template.yaml", "sam-transformed"])
def test_checkov_finds_nothing_unexplained(view: str, tmp_path: Path) -> None:
    """checkov's CloudFormation checks pass on the template as written (``make template`` runs
    this one too) and as SAM expands it, where its IAM checks (CKV_AWS_107..111, 60..63) see
    the roles; what is skipped is skipped with a reason, in .checkov.yaml or the template (tests above)."""
    if view == "template.yaml":
        path = ROOT / "template.yaml"
    else:
        path = tmp_path / "transformed.json"
        path.write_text(json.dumps(sam_view.deployed()), encoding="utf-8")
    summary = _checkov(path)
    figures.record(
        f"template security: checkov {summary['checkov_version']} on {view}: {summary['passed']} passed, "
        f"{summary['failed']} failed, {summary['skipped']} skipped "
        f"({len(global_suppressions())} checks skipped in .checkov.yaml and {len(suppressions())} suppressions "
        "in the template, each with a reason)"
    )

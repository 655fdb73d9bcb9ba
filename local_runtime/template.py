"""template.yaml as data: tables, routes, schedules and the functions' environment.

Everything the local runtime and the tests know about the deployment comes from here,
so they can never restate (and drift from) the template.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "template.yaml"
LOCAL_STACK_NAME = "helpdesk-local"
# Where the local stack "is deployed": ARNs, event payloads and boto3 clients use these.
LOCAL_REGION = "eu-central-1"
LOCAL_ACCOUNT_ID = "123456789012"  # AWS's documentation account id: never a real one


# The local stack's parameter overrides: API.md asks the local runtime for generous rate
# limits (at least 1,000 public requests per minute per IP) so scripted clients pass, and
# for no DNS look-ups (an email's deliverability is checked in AWS only, R-REG-3); the web
# client is at its local origin, and browsers may call from either name of it (API.md "Browsers").
LOCAL_PARAMETERS = {
    "SignupLimitPerIp": "1000",
    "SignupLimitPerEmail": "1000",
    "SignupWindowSeconds": "60",
    "EmailCheckDeliverability": "false",
    "PortalBaseUrl": "http://localhost:5173",
    # The runtime serves the portal itself (local_runtime/portal.py): no bucket, no CloudFront.
    "PortalHosting": "none",
    "CorsAllowedOrigins": "http://localhost:5173,http://127.0.0.1:5173",
}


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation short-form tags (!Ref, !Sub, …) as their long form."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


@lru_cache(maxsize=4)
def load(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    return _parsed(path.read_text(encoding="utf-8"), str(path))


def load_at(revision: str) -> dict[str, Any]:
    """template.yaml as committed at a git revision (a release tag, HEAD)."""
    text = subprocess.run(
        ["git", "show", f"{revision}:template.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return _parsed(text, f"template.yaml at {revision}")


def _parsed(text: str, name: str) -> dict[str, Any]:
    document = yaml.load(text, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(document, dict):
        raise ValueError(f"{name} is not a template")
    return document


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in template.get("Resources", {}).items() if res.get("Type") == kind}


@dataclass
class Resolver:
    """Resolves the intrinsic functions the local runtime needs, as deployed locally."""

    template: dict[str, Any]
    stack_name: str = LOCAL_STACK_NAME
    parameters: dict[str, str] = field(default_factory=lambda: dict(LOCAL_PARAMETERS))

    def table_name(self, logical_id: str) -> str:
        return f"{self.stack_name}-{logical_id}"

    def parameter(self, name: str) -> str:
        if name in self.parameters:
            return self.parameters[name]
        spec = self.template.get("Parameters", {}).get(name)
        if spec is None or "Default" not in spec:
            raise KeyError(f"parameter {name} has no default")
        return str(spec["Default"])

    def parameter_value(self, name: str) -> str | list[str]:
        """A parameter as ``Ref`` gives it: a CommaDelimitedList is a list, its members space trimmed."""
        value = self.parameter(name)
        if self.template["Parameters"][name].get("Type") == "CommaDelimitedList":
            return [member.strip() for member in value.split(",")]
        return value

    def condition(self, name: str) -> bool:
        expression = self.template["Conditions"][name]
        ((function, args),) = expression.items()
        if function != "Fn::Equals":
            raise NotImplementedError(function)
        left, right = (self.resolve(arg) for arg in args)
        return bool(left == right)

    def ref(self, name: str) -> str:
        if name == "AWS::StackName":
            return self.stack_name
        if name == "AWS::Region":
            return LOCAL_REGION
        if name == "AWS::AccountId":
            return LOCAL_ACCOUNT_ID
        if name in self.template.get("Parameters", {}):
            return self.parameter(name)
        resource = self.template["Resources"].get(name)
        if resource is not None and resource["Type"] == "AWS::DynamoDB::Table":
            return self.table_name(name)
        if resource is not None and resource["Type"] == "AWS::S3::Bucket":
            # Locally no bucket is used (LOCAL_EXPORTS_PATH); the name is only passed along.
            return f"{self.stack_name}-{name}".lower()
        if resource is not None and resource["Type"] == "AWS::Cognito::UserPool":
            # The local identity provider's pool is made when it starts: the runtime sets its id.
            return ""
        if resource is not None and resource["Type"] == "AWS::SecretsManager::Secret":
            # No Secrets Manager locally: no ARN, so lifecycle.core.secrets reads the settings' local values.
            return ""
        raise KeyError(f"cannot resolve Ref {name} locally")

    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict) and len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                if arg in self.template.get("Parameters", {}):
                    return self.parameter_value(arg)
                return self.ref(arg)
            if key == "Fn::Sub":
                return re.sub(r"\$\{([^}]+)\}", lambda m: self.ref(m.group(1)), arg)
            if key == "Fn::If":
                name, when_true, when_false = arg
                return self.resolve(when_true if self.condition(name) else when_false)
            if key == "Fn::Equals":
                return self.resolve(arg[0]) == self.resolve(arg[1])
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value


@dataclass(frozen=True)
class TableSpec:
    logical_id: str
    create_args: dict[str, Any]
    ttl_attribute: str | None
    # The table's StreamSpecification.StreamViewType, None when it has no stream.
    stream_view_type: str | None = None


def tables(template: dict[str, Any], resolver: Resolver) -> list[TableSpec]:
    """Each DynamoDB table as boto3 ``create_table`` arguments, named for the local stack."""
    specs = []
    for logical_id, resource in resources(template, "AWS::DynamoDB::Table").items():
        props = resource["Properties"]
        args: dict[str, Any] = {
            "TableName": resolver.table_name(logical_id),
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if props.get("GlobalSecondaryIndexes"):
            args["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        view_type = stream_view_type(props)
        if view_type is not None:
            # CloudFormation's StreamSpecification names only the view type; the API also wants StreamEnabled.
            args["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": view_type}
        ttl = props.get("TimeToLiveSpecification") or {}
        specs.append(TableSpec(logical_id, args, ttl.get("AttributeName") if ttl.get("Enabled") else None, view_type))
    return specs


def stream_view_type(table_properties: dict[str, Any]) -> str | None:
    """A table's StreamViewType, or None when its template declares no stream."""
    spec = table_properties.get("StreamSpecification") or {}
    view_type = spec.get("StreamViewType")
    return None if view_type is None else str(view_type)


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function: str
    code_uri: str
    handler: str
    public: bool

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"


def _function_code(template: dict[str, Any], logical_id: str) -> tuple[str, str]:
    """A function's code folder and handler; the handler may be set once in ``Globals``."""
    code_uri = template["Resources"][logical_id]["Properties"]["CodeUri"]
    return str(code_uri), str(function_setting(template, logical_id, "Handler"))


def routes(template: dict[str, Any]) -> list[Route]:
    """Every HttpApi event of every function."""
    found = []
    for logical_id, resource in resources(template, "AWS::Serverless::Function").items():
        code_uri, handler = _function_code(template, logical_id)
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] != "HttpApi":
                continue
            props = event["Properties"]
            authorizer = (props.get("Auth") or {}).get("Authorizer")
            found.append(
                Route(
                    method=props["Method"].upper(),
                    path=props["Path"],
                    function=logical_id,
                    code_uri=code_uri,
                    handler=handler,
                    public=authorizer == "NONE",
                )
            )
    return found


@dataclass(frozen=True)
class Schedule:
    name: str
    expression: str
    function: str
    code_uri: str
    handler: str


def schedules(template: dict[str, Any], resolver: Resolver) -> list[Schedule]:
    """Every Schedule event; its name is the event's ``Name`` without the stack prefix."""
    found = []
    for logical_id, resource in resources(template, "AWS::Serverless::Function").items():
        code_uri, handler = _function_code(template, logical_id)
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] != "Schedule":
                continue
            props = event["Properties"]
            name = str(resolver.resolve(props["Name"])).removeprefix(f"{resolver.stack_name}-")
            expression = str(resolver.resolve(props["Schedule"]))
            found.append(Schedule(name, expression, logical_id, code_uri, handler))
    return found


@dataclass(frozen=True)
class StreamConsumer:
    """Lambda's event source mapping on a table's stream: an ``AWS::Lambda::EventSourceMapping``
    (as template.yaml writes each) or a function's ``Type: DynamoDB`` event.

    Defaults are Lambda's own (services-ddb-params): a batch of 100, no batching window,
    retries (-1) until the record is older than the stream keeps it (24 h), no bisection.
    """

    function: str
    event: str
    table: str
    table_name: str
    stream_view_type: str
    starting_position: str
    code_uri: str
    handler: str
    batch_size: int = 100
    maximum_batching_window_seconds: int = 0
    maximum_retry_attempts: int = -1
    maximum_record_age_seconds: int = -1
    bisect_batch_on_function_error: bool = False
    report_batch_item_failures: bool = False
    # DestinationConfig.OnFailure.Destination as written: an SQS queue's logical id for ``!GetAtt Q.Arn``.
    on_failure: str | None = None
    enabled: bool = True
    # FilterCriteria's patterns, parsed: a record is passed when any one matches; none: all are.
    filter_patterns: tuple[dict[str, Any], ...] = ()


_STARTING_POSITIONS = {"TRIM_HORIZON", "LATEST"}


def _stream_table(template: dict[str, Any], where: str, stream: Any) -> str:
    """The logical id of the table whose ``StreamArn`` a DynamoDB event names."""
    target = stream.get("Fn::GetAtt") if isinstance(stream, dict) else None
    if not (isinstance(target, list) and len(target) == 2 and target[1] == "StreamArn"):
        raise ValueError(f"{where}: Stream must be !GetAtt <Table>.StreamArn of a table in the template")
    table = str(target[0])
    resource = template.get("Resources", {}).get(table)
    if resource is None or resource.get("Type") != "AWS::DynamoDB::Table":
        raise ValueError(f"{where}: {table} is not a DynamoDB table of the template")
    return table


def _destination(value: Any) -> str:
    target = value.get("Fn::GetAtt") if isinstance(value, dict) else None
    if isinstance(target, list) and len(target) == 2:
        return str(target[0])
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    return str(value)


def _flag(value: Any) -> bool:
    return str(value).lower() == "true"


def stream_consumers(template: dict[str, Any], resolver: Resolver) -> list[StreamConsumer]:
    """Every event source mapping on a table's stream, with its table's stream view type: each
    ``AWS::Lambda::EventSourceMapping`` (how template.yaml writes every consumer: SAM's event would
    give the role AWS's managed policy on every stream of the account), and each ``Type: DynamoDB``
    event of a function."""
    found = []
    for logical_id, resource in resources(template, "AWS::Serverless::Function").items():
        events = resource["Properties"].get("Events", {})
        for event_name, event in events.items():
            if event.get("Type") != "DynamoDB":
                continue
            props = event.get("Properties", {})
            on_failure = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
            where = f"{logical_id}.Events.{event_name}"
            found.append(
                _consumer(template, resolver, where, logical_id, event_name, props, props.get("Stream"), on_failure)
            )
    for mapping_id, mapping in resources(template, "AWS::Lambda::EventSourceMapping").items():
        props = mapping.get("Properties", {})
        function = _mapped_function(template, mapping_id, props.get("FunctionName"))
        on_failure = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        stream = props.get("EventSourceArn")
        found.append(_consumer(template, resolver, mapping_id, function, mapping_id, props, stream, on_failure))
    return found


def _mapped_function(template: dict[str, Any], mapping_id: str, name: Any) -> str:
    """The function an event source mapping's ``FunctionName`` (``!Ref F`` or ``!GetAtt F.Arn``) names."""
    target = name.get("Ref") if isinstance(name, dict) else None
    if target is None and isinstance(name, dict) and isinstance(name.get("Fn::GetAtt"), list):
        target = name["Fn::GetAtt"][0]
    functions = resources(template, "AWS::Serverless::Function")
    if target not in functions:
        raise ValueError(f"{mapping_id}: FunctionName must be !Ref <Function> of a function in the template")
    return str(target)


def _consumer(
    template: dict[str, Any],
    resolver: Resolver,
    where: str,
    function: str,
    event_name: str,
    props: dict[str, Any],
    stream: Any,
    on_failure: Any,
) -> StreamConsumer:
    table = _stream_table(template, where, stream)
    view_type = stream_view_type(template["Resources"][table].get("Properties", {}))
    if view_type is None:
        raise ValueError(f"{where}: table {table} has no StreamSpecification, so no StreamArn")
    position = str(resolver.resolve(props.get("StartingPosition", "")))
    if position not in _STARTING_POSITIONS:
        raise ValueError(f"{where}: StartingPosition must be TRIM_HORIZON or LATEST, not {position!r}")
    unsupported = sorted(_UNSUPPORTED_STREAM_PROPERTIES & set(props))
    if unsupported:
        raise ValueError(f"{where}: the local runtime does not run {', '.join(unsupported)}")
    code_uri, handler = _function_code(template, function)
    consumer = StreamConsumer(
        function=function,
        event=event_name,
        table=table,
        table_name=resolver.table_name(table),
        stream_view_type=view_type,
        starting_position=position,
        code_uri=code_uri,
        handler=handler,
        batch_size=int(resolver.resolve(props.get("BatchSize", 100))),
        maximum_batching_window_seconds=int(resolver.resolve(props.get("MaximumBatchingWindowInSeconds", 0))),
        maximum_retry_attempts=int(resolver.resolve(props.get("MaximumRetryAttempts", -1))),
        maximum_record_age_seconds=int(resolver.resolve(props.get("MaximumRecordAgeInSeconds", -1))),
        bisect_batch_on_function_error=_flag(resolver.resolve(props.get("BisectBatchOnFunctionError", False))),
        report_batch_item_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
        on_failure=None if on_failure is None else _destination(on_failure),
        enabled=_flag(resolver.resolve(props.get("Enabled", True))),
        filter_patterns=filter_patterns(where, props.get("FilterCriteria")),
    )
    _check_stream_limits(where, consumer)
    return consumer


# Settings that change what the function receives; running without them would deliver other events.
_UNSUPPORTED_STREAM_PROPERTIES = {"TumblingWindowInSeconds", "StartingPositionTimestamp"}

# Lambda's filter operators (Lambda guide, "Filtering event sources"; EventBridge's content
# filters): the local runtime matches exact values only, and refuses a pattern using any of these.
FILTER_OPERATORS = frozenset(
    {"prefix", "suffix", "anything-but", "numeric", "exists", "equals-ignore-case", "wildcard", "cidr", "or"}
)


def filter_patterns(where: str, criteria: Any) -> tuple[dict[str, Any], ...]:
    """``FilterCriteria.Filters``' patterns (each a JSON string), checked to use exact-value
    matching only: nested objects of keys whose leaves are lists of allowed values."""
    if criteria is None:
        return ()
    filters = criteria.get("Filters") if isinstance(criteria, dict) else None
    if not isinstance(filters, list) or not filters:
        raise ValueError(f"{where}: FilterCriteria must have a list of Filters")
    patterns = []
    for entry in filters:
        text = entry.get("Pattern") if isinstance(entry, dict) else None
        try:
            pattern = json.loads(text) if isinstance(text, str) else None
        except json.JSONDecodeError as error:
            raise ValueError(f"{where}: a FilterCriteria Pattern is not JSON ({error})") from error
        if not isinstance(pattern, dict):
            raise ValueError(f"{where}: a FilterCriteria Pattern must be a JSON object")
        _check_exact(where, pattern)
        patterns.append(pattern)
    return tuple(patterns)


def _check_exact(where: str, pattern: dict[str, Any]) -> None:
    for key, value in pattern.items():
        if key == "$or":
            raise ValueError(f"{where}: the local runtime does not run the filter operator $or")
        if isinstance(value, dict):
            _check_exact(where, value)
            continue
        if not isinstance(value, list):
            raise ValueError(f"{where}: filter key {key!r} must be a list of allowed values or an object")
        for allowed in value:
            if isinstance(allowed, dict):
                names = ", ".join(sorted(allowed)) or "{}"
                known = sorted(FILTER_OPERATORS & set(allowed))
                raise ValueError(
                    f"{where}: the local runtime does not run the filter operator {', '.join(known) or names}"
                )
            if isinstance(allowed, list):
                raise ValueError(f"{where}: filter key {key!r} lists a list; only values are allowed")


def _check_stream_limits(where: str, consumer: StreamConsumer) -> None:
    """Lambda's limits for a DynamoDB event source mapping (services-ddb-params)."""
    limits = [
        ("BatchSize", consumer.batch_size, 1 <= consumer.batch_size <= 10_000, "1 to 10000"),
        (
            "MaximumBatchingWindowInSeconds",
            consumer.maximum_batching_window_seconds,
            0 <= consumer.maximum_batching_window_seconds <= 300,
            "0 to 300",
        ),
        (
            "MaximumRetryAttempts",
            consumer.maximum_retry_attempts,
            -1 <= consumer.maximum_retry_attempts <= 10_000,
            "-1 (until the record expires) or 0 to 10000",
        ),
        (
            "MaximumRecordAgeInSeconds",
            consumer.maximum_record_age_seconds,
            consumer.maximum_record_age_seconds == -1 or 60 <= consumer.maximum_record_age_seconds <= 604_800,
            "-1 (infinite) or 60 to 604800",
        ),
    ]
    for name, value, valid, allowed in limits:
        if not valid:
            raise ValueError(f"{where}: {name} {value} is outside Lambda's limits ({allowed})")


def function_environment(template: dict[str, Any], resolver: Resolver) -> dict[str, str]:
    """The Globals environment every function runs with, resolved for the local stack."""
    variables = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    return {name: str(resolver.resolve(value)) for name, value in variables.items()}


# Lambda's own defaults for what neither the function nor ``Globals`` sets.
_LAMBDA_DEFAULTS: dict[str, int] = {"Timeout": 3, "MemorySize": 128}


def function_setting(template: dict[str, Any], logical_id: str, name: str) -> Any:
    """A function property as SAM applies it: the function's own, else ``Globals``, else Lambda's default."""
    props = template["Resources"][logical_id].get("Properties", {})
    if name in props:
        return props[name]
    globals_ = template.get("Globals", {}).get("Function", {})
    if name in globals_:
        return globals_[name]
    if name in _LAMBDA_DEFAULTS:
        return _LAMBDA_DEFAULTS[name]
    raise KeyError(f"{logical_id} has no {name} and Lambda has no default for it")


@dataclass(frozen=True)
class CorsConfiguration:
    """The HTTP API's CorsConfiguration, resolved: header and method names as written there."""

    allow_origins: tuple[str, ...]
    allow_methods: tuple[str, ...]
    allow_headers: tuple[str, ...]
    expose_headers: tuple[str, ...]
    max_age: int | None
    allow_credentials: bool


def cors_configuration(template: dict[str, Any], resolver: Resolver) -> CorsConfiguration | None:
    """The one HttpApi's CorsConfiguration, or None when it has none (no CORS at all)."""
    apis = resources(template, "AWS::Serverless::HttpApi")
    if len(apis) != 1:
        raise ValueError(f"the local runtime serves one HttpApi; the template has {len(apis)}")
    ((name, api),) = apis.items()
    written = api.get("Properties", {}).get("CorsConfiguration")
    if written is None:
        return None
    if not isinstance(written, dict):
        # SAM also takes true or one origin as a string; this template writes the object.
        raise ValueError(f"{name}: CorsConfiguration must be an object (AllowOrigins, AllowMethods, …)")
    config = resolver.resolve(written)

    def names(key: str) -> tuple[str, ...]:
        value = config.get(key) or []
        return tuple(str(item) for item in ([value] if isinstance(value, str) else value))

    max_age = config.get("MaxAge")
    return CorsConfiguration(
        allow_origins=names("AllowOrigins"),
        allow_methods=names("AllowMethods"),
        allow_headers=names("AllowHeaders"),
        expose_headers=names("ExposeHeaders"),
        max_age=None if max_age is None else int(max_age),
        allow_credentials=str(config.get("AllowCredentials", False)).lower() == "true",
    )

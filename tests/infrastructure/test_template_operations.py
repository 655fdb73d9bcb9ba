"""Operations (docs/OPERATIONS.md): every function's errors and throttles, the API's 5xx rate and
latency, each sweep's item errors, notices left unsent and dead letters raise an alarm that
notifies the alarm topic (the AlarmTopicArn parameter's, else the stack's own, encrypted); every
schedule retries and dead-letters to one encrypted queue kept 14 days, and so does a sweep run
that keeps failing; one dashboard shows it all."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from local_runtime.template import ROOT, Resolver, load, resources, schedules
from tests.infrastructure import sam_view

TEMPLATE = load()
FUNCTIONS = resources(TEMPLATE, "AWS::Serverless::Function")
ALARMS = resources(TEMPLATE, "AWS::CloudWatch::Alarm")
SCHEDULES = schedules(TEMPLATE, Resolver(TEMPLATE))
SWEEP_FUNCTIONS = sorted({schedule.function for schedule in SCHEDULES})
QUEUE = "DeadLetterQueue"
NOTIFIER_QUEUE = "NotifierDeadLetterQueue"
TOPIC = {"Fn::If": ["CreateAlarmTopic", {"Ref": "AlarmTopic"}, {"Ref": "AlarmTopicArn"}]}
GLOBAL_ENV = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
OPERATIONS_MD = ROOT / "docs" / "OPERATIONS.md"


def alarms_on(namespace: Any, metric: str) -> dict[str, dict[str, Any]]:
    """Single-metric alarms of ``metric`` in ``namespace``, by logical id."""
    return {
        name: alarm["Properties"]
        for name, alarm in ALARMS.items()
        if alarm["Properties"].get("Namespace") == namespace and alarm["Properties"].get("MetricName") == metric
    }


def dimensions(props: dict[str, Any]) -> dict[str, Any]:
    return {dimension["Name"]: dimension["Value"] for dimension in props["Dimensions"]}


def test_there_are_alarms_and_thirty_four_functions_to_watch() -> None:
    assert len(FUNCTIONS) == 34
    assert len(SCHEDULES) == 10
    assert len(ALARMS) >= 2 * len(FUNCTIONS) + len(SCHEDULES) + 4


@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_every_function_has_its_errors_and_throttles_alarm(metric: str) -> None:
    """One alarm per function and metric, at the first one in 5 minutes; no data (no
    invocations) is not a failure."""
    watched: dict[str, str] = {}
    for name, props in alarms_on("AWS/Lambda", metric).items():
        function = dimensions(props)["FunctionName"]["Ref"]
        assert function not in watched, f"{function} has two {metric} alarms: {watched[function]}, {name}"
        watched[function] = name
        assert (props["Statistic"], props["Period"], props["Threshold"]) == ("Sum", 300, 1), name
        assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold", name
        assert props["TreatMissingData"] == "notBreaching", name
    assert sorted(watched) == sorted(FUNCTIONS)


def test_every_alarm_notifies_the_topic_when_it_fires_and_when_it_clears() -> None:
    for name, alarm in ALARMS.items():
        props = alarm["Properties"]
        assert props["AlarmActions"] == [TOPIC], name
        assert props["OKActions"] == [TOPIC], name
        assert props["TreatMissingData"] in {"notBreaching", "breaching"}, f"{name}: missing data not decided"
        assert props["AlarmName"] == {"Fn::Sub": props["AlarmName"]["Fn::Sub"]}, name
        assert props["AlarmName"]["Fn::Sub"].startswith("${AWS::StackName}-"), name
        assert "docs/OPERATIONS.md" in props["AlarmDescription"], f"{name}: its description names no runbook"


def test_every_alarm_has_its_entry_in_the_runbook() -> None:
    """Each alarm description's ``docs/OPERATIONS.md "<section>"`` is a heading there."""
    headings = set(re.findall(r"^#+ (.+)$", OPERATIONS_MD.read_text(encoding="utf-8"), re.M))
    for name, alarm in ALARMS.items():
        (section,) = re.findall(r'docs/OPERATIONS\.md "([^"]+)"', alarm["Properties"]["AlarmDescription"])
        assert section in headings, f"{name}: docs/OPERATIONS.md has no heading {section!r}"


def test_the_alarm_topic_is_the_parameters_or_the_stacks_own_encrypted_one() -> None:
    parameter = TEMPLATE["Parameters"]["AlarmTopicArn"]
    assert parameter["Default"] == ""
    assert re.fullmatch(parameter["AllowedPattern"], "arn:aws:sns:eu-central-1:123456789012:on-call")
    assert not re.fullmatch(parameter["AllowedPattern"], "on-call")
    assert TEMPLATE["Conditions"]["CreateAlarmTopic"] == {"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}
    topic = TEMPLATE["Resources"]["AlarmTopic"]
    key = TEMPLATE["Resources"]["AlarmTopicKey"]
    assert topic["Condition"] == key["Condition"] == "CreateAlarmTopic"
    assert topic["Properties"]["KmsMasterKeyId"] == {"Ref": "AlarmTopicKey"}
    assert key["Properties"]["EnableKeyRotation"] is True
    # CloudWatch publishes to an encrypted topic only if the key policy lets it.
    granted = [
        statement
        for statement in key["Properties"]["KeyPolicy"]["Statement"]
        if statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert granted
    assert {"kms:Decrypt", "kms:GenerateDataKey"} <= set(granted[0]["Action"])


def test_the_api_alarms_watch_the_http_apis_5xx_rate_and_p99_latency() -> None:
    rate = ALARMS["ApiServerErrorRateAlarm"]["Properties"]
    metrics = {query["Id"]: query for query in rate["Metrics"]}
    assert metrics["errors"]["MetricStat"]["Metric"]["MetricName"] == "5xx"
    assert metrics["requests"]["MetricStat"]["Metric"]["MetricName"] == "Count"
    for query in (metrics["errors"], metrics["requests"]):
        metric = query["MetricStat"]["Metric"]
        assert metric["Namespace"] == "AWS/ApiGateway"
        assert dimensions(metric) == {"ApiId": {"Ref": "HttpApi"}}
        assert query["ReturnData"] is False
    (returned,) = [query for query in rate["Metrics"] if query["ReturnData"]]
    assert "errors" in returned["Expression"]
    assert "requests" in returned["Expression"]
    latency = ALARMS["ApiLatencyP99Alarm"]["Properties"]
    assert (latency["Namespace"], latency["MetricName"], latency["ExtendedStatistic"]) == (
        "AWS/ApiGateway",
        "Latency",
        "p99",
    )
    assert dimensions(latency) == {"ApiId": {"Ref": "HttpApi"}}


def test_the_custom_metric_alarms_read_the_namespace_and_dimensions_powertools_writes() -> None:
    """Powertools writes to POWERTOOLS_METRICS_NAMESPACE (one per stack) with the dimension
    ``service`` = POWERTOOLS_SERVICE_NAME besides the sweep's own ``sweep``."""
    namespace = GLOBAL_ENV["POWERTOOLS_METRICS_NAMESPACE"]
    assert namespace == {"Fn::Sub": "HelpDesk/${AWS::StackName}"}
    swept = {}
    for name, props in alarms_on(namespace, "ItemErrors").items():
        found = dimensions(props)
        assert found["service"] == GLOBAL_ENV["POWERTOOLS_SERVICE_NAME"], name
        swept[found["sweep"]] = name
        assert props["TreatMissingData"] == "notBreaching", name
    assert sorted(swept) == sorted(schedule.name for schedule in SCHEDULES), "a sweep without its item-errors alarm"
    (unsent,) = alarms_on(namespace, "UnsentNoticesOverAnHour").values()
    assert dimensions(unsent) == {"service": GLOBAL_ENV["POWERTOOLS_SERVICE_NAME"], "sweep": "notification-retry-sweep"}
    # The retry sweep reports on every run: no report for an hour means notices are not retried.
    assert (unsent["Statistic"], unsent["Period"], unsent["TreatMissingData"]) == ("Maximum", 3600, "breaching")


def test_the_sweeps_name_their_metrics_as_their_schedules_are_named() -> None:
    """The ``sweep`` dimension is the name each function passes to ``sweep_handler`` (a literal
    or a module constant equal to its schedule's name)."""
    for schedule in SCHEDULES:
        source = (ROOT / schedule.code_uri / "app.py").read_text(encoding="utf-8")
        (argument,) = re.findall(r"sweep_handler\(([^,]+),", source)
        if argument.startswith('"'):
            assert argument.strip('"') == schedule.name, schedule
        else:
            assert re.search(rf"\b{argument}\b", source), schedule
            layer = ROOT / "layers" / "shared" / "python" / "lifecycle"
            defined = [
                path
                for path in layer.rglob("*.py")
                if re.search(rf'^{argument} = "{re.escape(schedule.name)}"$', path.read_text(encoding="utf-8"), re.M)
            ]
            assert defined, f"{schedule.function}: {argument} is not {schedule.name!r} in the layer"


def test_dead_letters_alarm_on_the_first_message() -> None:
    watched = alarms_on("AWS/SQS", "ApproximateNumberOfMessagesVisible").values()
    queues = {dimensions(props)["QueueName"]["Fn::GetAtt"][0] for props in watched}
    assert queues == {QUEUE, NOTIFIER_QUEUE}
    for props in watched:
        assert (props["Threshold"], props["ComparisonOperator"]) == (0, "GreaterThanThreshold")


def test_the_notifiers_dead_letter_queue_is_encrypted_keeps_14_days_and_takes_its_stream_failures() -> None:
    queue = TEMPLATE["Resources"][NOTIFIER_QUEUE]["Properties"]
    assert queue["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert queue.get("KmsMasterKeyId") or queue.get("SqsManagedSseEnabled")
    (mapping,) = [
        mapping["Properties"]
        for mapping in resources(TEMPLATE, "AWS::Lambda::EventSourceMapping").values()
        if mapping["Properties"]["FunctionName"] == {"Ref": "NotifierFunction"}
    ]
    assert mapping["DestinationConfig"]["OnFailure"] == {"Destination": {"Fn::GetAtt": [NOTIFIER_QUEUE, "Arn"]}}


def test_the_dead_letter_queue_is_encrypted_keeps_14_days_and_takes_only_this_stacks_rules() -> None:
    queue = TEMPLATE["Resources"][QUEUE]["Properties"]
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["MessageRetentionPeriod"] == 14 * 24 * 3600
    (policy,) = resources(TEMPLATE, "AWS::SQS::QueuePolicy").values()
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    source = statement["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Sub"]
    assert source.endswith(":rule/${AWS::StackName}-*")
    for schedule in SCHEDULES:
        event = next(
            event
            for event in FUNCTIONS[schedule.function]["Properties"]["Events"].values()
            if event["Type"] == "Schedule"
        )
        assert event["Properties"]["Name"]["Fn::Sub"].startswith("${AWS::StackName}-"), schedule


def test_every_schedule_retries_and_dead_letters_to_the_queue() -> None:
    """As deployed (the SAM transform): each EventBridge rule's target has a retry policy and the
    dead-letter queue."""
    rules = resources(sam_view.deployed(), "AWS::Events::Rule")
    assert len(rules) == len(SCHEDULES)
    for name, rule in rules.items():
        (target,) = rule["Properties"]["Targets"]
        retry = target["RetryPolicy"]
        assert 0 < retry["MaximumRetryAttempts"] <= 185, name
        assert 60 <= retry["MaximumEventAgeInSeconds"] <= 86400, name
        assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [QUEUE, "Arn"]}}, name


@pytest.mark.parametrize("logical_id", SWEEP_FUNCTIONS)
def test_a_sweep_run_failing_after_lambdas_retries_goes_to_the_queue(logical_id: str) -> None:
    """Schedules invoke asynchronously: Lambda retries a failed run, then sends it (with its
    error) to the dead-letter queue; SAM grants the role sqs:SendMessage on that queue only."""
    deployed = sam_view.deployed()
    (config,) = [
        resource["Properties"]
        for resource in resources(deployed, "AWS::Lambda::EventInvokeConfig").values()
        if resource["Properties"]["FunctionName"] == {"Ref": logical_id}
    ]
    assert config["MaximumRetryAttempts"] in {0, 1, 2}
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": [QUEUE, "Arn"]}
    role = deployed["Resources"][logical_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    assert f"sqs:SendMessage ${{{QUEUE}.Arn}}" in sam_view.permissions(deployed, role)


def test_the_dashboard_shows_the_api_functions_sweeps_unsent_notices_and_dead_letters() -> None:
    (dashboard,) = resources(TEMPLATE, "AWS::CloudWatch::Dashboard").values()
    body = json.loads(dashboard["Properties"]["DashboardBody"]["Fn::Sub"])
    shown = [metric for widget in body["widgets"] for metric in widget["properties"]["metrics"]]
    names = {(metric[0], metric[1]) for metric in shown if isinstance(metric[0], str)}
    namespace = GLOBAL_ENV["POWERTOOLS_METRICS_NAMESPACE"]["Fn::Sub"]
    for expected in [
        ("AWS/ApiGateway", "Count"),
        ("AWS/ApiGateway", "5xx"),
        ("AWS/ApiGateway", "Latency"),
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Throttles"),
        (namespace, "ItemsChanged"),
        (namespace, "ItemErrors"),
        (namespace, "UnsentNoticesOverAnHour"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
    ]:
        assert expected in names, expected
    errors = {metric[3] for metric in shown if metric[:2] == ["AWS/Lambda", "Errors"]}
    assert errors == {f"${{{name}}}" for name in FUNCTIONS}

"""Builders the unit and integration tiers share for stream consumers: a small template of one
streamed table and the function its stream invokes, and the campaign counters' set-up (a
campaign, its codes, redemptions, its counts through the API)."""

from __future__ import annotations

from typing import Any

import yaml

from local_runtime.template import _CfnLoader
from tests.route_examples import registrant
from tests.support import STAFF, call, ok

# ---------------------------------------------------------------- a consumer's template


def parse_template(text: str) -> dict[str, Any]:
    """A template (or a part of one) as YAML text, its short-form intrinsics (``!GetAtt``) read."""
    document: dict[str, Any] = yaml.load(text, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    return document


def stream_template(
    *, table: str, queue: str, function: str, event: str, code_uri: str, **properties: Any
) -> dict[str, Any]:
    """A template of one streamed table (NEW_AND_OLD_IMAGES), the SQS queue its consumer's
    on-failure destination names, and ``function`` (``app.handler`` in ``code_uri``) invoked by
    the table's stream through its ``Type: DynamoDB`` event ``event``: from TRIM_HORIZON, with
    ``properties`` (the event's other properties, as the template names them)."""
    return {
        "Resources": {
            table: {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {
                    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                    "BillingMode": "PAY_PER_REQUEST",
                    "StreamSpecification": {"StreamViewType": "NEW_AND_OLD_IMAGES"},
                },
            },
            queue: {"Type": "AWS::SQS::Queue"},
            function: {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "CodeUri": code_uri,
                    "Handler": "app.handler",
                    "Events": {
                        event: {
                            "Type": "DynamoDB",
                            "Properties": {
                                "Stream": {"Fn::GetAtt": [table, "StreamArn"]},
                                "StartingPosition": "TRIM_HORIZON",
                                **properties,
                                "DestinationConfig": {
                                    "OnFailure": {"Type": "SQS", "Destination": {"Fn::GetAtt": [queue, "Arn"]}}
                                },
                            },
                        }
                    },
                },
            },
        }
    }


# ---------------------------------------------------------------- the campaign counters' set-up


def new_campaign(campaign_id: str, name: str = "Deal", redeem_by: str = "2027-01-31") -> None:
    """A campaign at USD 59.00 (``POST /admin/campaigns``)."""
    body = {
        "campaign_id": campaign_id,
        "name": name,
        "price": {"amount": 5900, "currency": "USD"},
        "redeem_by": redeem_by,
    }
    ok(call("POST", "/admin/campaigns", body=body, claims=STAFF), 201)


def new_codes(count: int, campaign_id: str, *, per_request: int = 100) -> list[str]:
    """``count`` new codes of the campaign, at most ``per_request`` a request."""
    made: list[str] = []
    while len(made) < count:
        body = {"count": min(per_request, count - len(made))}
        made += ok(call("POST", f"/admin/campaigns/{campaign_id}/codes", body=body, claims=STAFF), 201)["codes"]
    return made


def redeem(code: str, tag: str, source_ip: str) -> int:
    """A new account redeeming ``code`` (``POST /redemptions``) from ``source_ip``; the status."""
    return call("POST", "/redemptions", body=registrant(tag, code=code), source_ip=source_ip).status


def campaign_counts(campaign_id: str) -> dict[str, Any]:
    """The campaign as staff read it (``GET /admin/campaigns/{id}``): its codes' counts and ``counts_as_of``."""
    return dict(ok(call("GET", f"/admin/campaigns/{campaign_id}", claims=STAFF), 200))

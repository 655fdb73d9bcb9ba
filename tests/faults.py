"""A fault injector for every DynamoDB call the service makes, whichever client makes it.

The service reaches DynamoDB through three kinds of botocore client: pynamodb's (one
botocore session per model and thread, ``lifecycle.storage``), the transactions'
pynamodb connection (``lifecycle.storage.transactions``) and boto3's (the Powertools idempotency
store, ``lifecycle.entry.http._persistence``). Every one of them goes through
``botocore.client.BaseClient._make_api_call``; pynamodb calls it directly. That method
is patched here, for the class, so a fault reaches every client, including those made
after the injector started (pynamodb makes them lazily) and those of other sessions: an
event handler (``before-call.dynamodb``) would have to be registered on each session's
emitter, and pynamodb makes a new session per model and thread.

A fault is raised where botocore would raise the service's error, after its own retries
(botocore retries throttles with backoff before it gives up): what the service sees is a
throttle that outlasted them, as in a real overload. An event handler on ``before-send``
would be retried by botocore itself, which tests botocore, not the service. The error is the client's modelled exception
(``client.exceptions.from_code``) with the response DynamoDB sends, so pynamodb, Powertools
and the service read it exactly as they would a real one (``CancellationReasons`` included).

Usage::

    with FaultInjector() as dry:            # count the calls of a clean run
        call(...)
    n = len(dry.calls)
    with FaultInjector(Fault("ProvisionedThroughputExceededException", at=3)) as faults:
        call(...)                           # the third DynamoDB call fails
    assert faults.injected

The payment provider is a process of its own in AWS: its faults are the network's and its
own (an answer lost after it took a charge, a 5xx, a throttle). ``provider_interrupted`` makes
the session's payment stand-in (local_runtime/payment_standin.py) fail the matching requests
so, over real HTTP, the adapter and its SDK meet them as they would meet Stripe's.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import botocore.client

from local_runtime.payment_standin import Interruption, PaymentStandIn

THROTTLES = ("ProvisionedThroughputExceededException", "ThrottlingException")
CANCELLED = "TransactionCanceledException"

_MESSAGES = {
    "ProvisionedThroughputExceededException": "The level of configured provisioned throughput for the table was "
    "exceeded. Consider increasing your provisioning level with the UpdateTable API.",
    "ThrottlingException": "Rate of requests exceeds the allowed throughput.",
    "RequestLimitExceeded": "Throughput exceeds the current throughput limit for your account.",
    "InternalServerError": "Internal server error",
}


def tables_of(operation: str, params: dict[str, Any]) -> tuple[str, ...]:
    """The tables one DynamoDB call touches, in the order the request names them."""
    if "TableName" in params:
        return (str(params["TableName"]),)
    if operation in {"BatchWriteItem", "BatchGetItem"}:
        return tuple(params.get("RequestItems", {}))
    if operation in {"TransactWriteItems", "TransactGetItems"}:
        names = []
        for item in params.get("TransactItems", []):
            for action in item.values():
                if isinstance(action, dict) and "TableName" in action:
                    names.append(str(action["TableName"]))
        return tuple(names)
    return ()


@dataclass
class Call:
    """One DynamoDB call the service made while the injector was on (1-based ``index``)."""

    index: int
    operation: str
    tables: tuple[str, ...]
    items: int  # TransactItems of a transaction, else 1
    fault: str | None = None  # the error code injected instead of making the call
    # The parameters as the client passed them (not copied: copy them before they are reused).
    params: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class Fault:
    """Which calls fail and how.

    A call matches when its operation is ``operation`` (any if None) and one of its tables
    ends with ``table`` (any if None; the stack prefixes table names). Of the matching
    calls, the ``at``-th (1-based) fails, or every one when ``at`` is None; ``times``
    bounds how many fail in all (None: no bound).

    ``error`` is a DynamoDB error code. For ``TransactionCanceledException`` each item
    of the transaction gets a cancellation reason: ``reason`` for the first item and
    ``None`` for the others, as DynamoDB reports a conflict on one item.
    """

    error: str
    operation: str | None = None
    table: str | None = None
    at: int | None = None
    times: int | None = None
    reason: str = "TransactionConflict"
    seen: int = field(default=0, init=False)
    fired: int = field(default=0, init=False)

    def matches(self, operation: str, tables: tuple[str, ...]) -> bool:
        if self.operation is not None and operation != self.operation:
            return False
        return self.table is None or any(name.endswith(self.table) for name in tables)

    def fires(self) -> bool:
        """Count one matching call; True if this one fails."""
        self.seen += 1
        if self.times is not None and self.fired >= self.times:
            return False
        if self.at is not None and self.seen != self.at:
            return False
        self.fired += 1
        return True


def error_response(code: str, operation: str, params: dict[str, Any], reason: str) -> dict[str, Any]:
    """The parsed response botocore gives for DynamoDB's error ``code``."""
    response: dict[str, Any] = {
        "Error": {"Code": code, "Message": _MESSAGES.get(code, code)},
        "ResponseMetadata": {
            "RequestId": "FAULTINJECTED",
            "HTTPStatusCode": 500 if code == "InternalServerError" else 400,
            "HTTPHeaders": {"x-amzn-requestid": "FAULTINJECTED"},
            "RetryAttempts": 3 if code in THROTTLES else 0,
        },
    }
    if code == CANCELLED:
        count = len(params.get("TransactItems", [])) or 1
        reasons = [{"Code": reason, "Message": f"injected {reason}"}] + [{"Code": "None"}] * (count - 1)
        response["CancellationReasons"] = reasons
        listed = ", ".join(item["Code"] for item in reasons)
        response["Error"]["Message"] = (
            f"Transaction cancelled, please refer cancellation reasons for specific reasons [{listed}]"
        )
    return response


class FaultInjector:
    """A context manager: while on, every DynamoDB call is recorded in ``calls`` and the
    ``faults`` decide which fail. Thread-safe (the service runs some writers on threads)."""

    def __init__(self, *faults: Fault) -> None:
        self.faults = list(faults)
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._original: Any = None

    @property
    def injected(self) -> list[Call]:
        return [c for c in self.calls if c.fault is not None]

    def operations(self) -> list[str]:
        return [c.operation for c in self.calls]

    def _decide(self, operation: str, params: dict[str, Any]) -> tuple[Call, Fault | None]:
        tables = tables_of(operation, params)
        with self._lock:
            record = Call(
                len(self.calls) + 1, operation, tables, len(params.get("TransactItems", [])) or 1, params=params
            )
            self.calls.append(record)
            chosen = None
            for fault in self.faults:
                if fault.matches(operation, tables) and fault.fires() and chosen is None:
                    chosen = fault
            if chosen is not None:
                record.fault = chosen.error
            return record, chosen

    def __enter__(self) -> FaultInjector:
        original = getattr(botocore.client.BaseClient, "_make_api_call")  # noqa: B009 - private, untyped
        self._original = original
        injector = self

        def _make_api_call(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
            if client.meta.service_model.service_name != "dynamodb":
                return original(client, operation_name, api_params)
            _, fault = injector._decide(operation_name, api_params)
            if fault is None:
                return original(client, operation_name, api_params)
            response = error_response(fault.error, operation_name, api_params, fault.reason)
            raise client.exceptions.from_code(fault.error)(response, operation_name)

        setattr(botocore.client.BaseClient, "_make_api_call", _make_api_call)  # noqa: B010
        return self

    def __exit__(self, *_: object) -> None:
        setattr(botocore.client.BaseClient, "_make_api_call", self._original)  # noqa: B010


@contextmanager
def provider_interrupted(*interruptions: Interruption) -> Iterator[PaymentStandIn]:
    """While on, the session's payment stand-in fails the requests each ``Interruption`` matches
    (an error status; or the connection closed unanswered, before or after the request was
    carried out); any left unused are dropped on the way out."""
    from tests.conftest import payment_standin

    standin = payment_standin()
    for interruption in interruptions:
        standin.interrupt(interruption)
    try:
        yield standin
    finally:
        standin.clear_interruptions()

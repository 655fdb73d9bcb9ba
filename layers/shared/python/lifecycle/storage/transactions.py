"""DynamoDB transactions, the one way every invariant across items is written.

One pynamodb connection per endpoint (like the models' own), the mapping of a cancelled
transaction's reasons back to the item that failed, and retries of conflicts with
concurrent transactions. A conflict that outlasts the retries, like a throttled
transaction, is a 503 with Retry-After, never a 500 and never a half-written change.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Collection, Iterator
from functools import lru_cache
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, TransactGetError, TransactWriteError
from pynamodb.models import Model
from pynamodb.transactions import TransactGet, TransactWrite

from lifecycle.core.errors import ServiceUnavailable
from lifecycle.core.settings import get_settings

CONFLICT_RETRIES = 3
# DynamoDB's answers to a request it could not serve now (after botocore's own retries): no
# capacity, or its own transient failure (InternalServerError, which leaves a write's outcome
# unknown; DynamoDB Local also gives it for a lock it waited too long for). The caller's 503 with
# Retry-After, never a 500 and never a reason to undo finished work.
TRANSIENT_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TransactionInProgressException",
        "InternalServerError",
    }
)


@lru_cache(maxsize=4)
def _connection(host: str | None, region: str) -> Connection:
    connection = Connection(host=host, region=region)
    # botocore's client is thread-safe once made; making it is not, so it is made here.
    _ = connection.client
    return connection


def connection() -> Connection:
    """The connection for transactions against the configured endpoint."""
    settings = get_settings()
    return _connection(settings.dynamodb_endpoint, settings.region)


def reason_codes(exc: TransactWriteError | TransactGetError) -> list[str | None]:
    """The cancellation reason of each item, in the order pynamodb sent them."""
    return [reason.code if reason is not None else None for reason in exc.cancellation_reasons]


def conflicted(exc: TransactWriteError | TransactGetError) -> bool:
    return "TransactionConflict" in reason_codes(exc)


def is_transient(exc: BaseException) -> bool:
    """DynamoDB could not serve the call now, anywhere in the cause chain (pynamodb wraps
    botocore's errors): a throttle, its own transient failure, or a transaction cancelled
    because an item was throttled (``ThrottlingError``). Worth a retry later, never a 500."""
    seen: BaseException | None = exc
    while seen is not None:
        response = getattr(seen, "response", None)
        if isinstance(response, dict) and response.get("Error", {}).get("Code") in TRANSIENT_CODES:
            return True
        if isinstance(seen, TransactWriteError) and "ThrottlingError" in reason_codes(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def backoff(attempt: int) -> None:
    time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))  # noqa: S311 - jitter, not security


# A model and its key (range key None for a table without one), as ``read_together`` takes them.
Key = tuple[type[Model], Any, Any]


def read_together(*keys: Key) -> list[Model | None]:
    """The items at ``keys`` in one TransactGetItems: one round trip, one consistent view of
    all of them; None for an item not stored. A read meeting a transaction in flight on one
    of them is tried again, then a 503 with Retry-After, as a throttle is."""
    for attempt in range(CONFLICT_RETRIES + 1):
        try:
            with TransactGet(connection=connection()) as read:
                futures = [read.get(model, hash_key, range_key) for model, hash_key, range_key in keys]
        except TransactGetError as exc:
            if is_transient(exc):
                raise ServiceUnavailable("The database is busy; retry shortly") from exc
            if not conflicted(exc):
                raise
            if attempt == CONFLICT_RETRIES:
                raise ServiceUnavailable("Too many concurrent changes to this account; retry shortly") from exc
            backoff(attempt)
            continue
        found: list[Model | None] = []
        for future in futures:
            try:
                found.append(future.get())
            except DoesNotExist:
                found.append(None)
        return found
    raise AssertionError("not reached: the last attempt returns or raises")


class Outcome:
    """Labels the items of a transaction so a cancellation names the ones that failed.

    pynamodb sends deletes, then puts, then updates; labels of updates start with
    ``update:``, those of deletes with ``delete:``.
    """

    def __init__(self) -> None:
        self.labels: list[str] = []

    def put(self, tx: TransactWrite, label: str, item: Model, condition: Any) -> None:
        tx.save(item, condition=condition)
        self.labels.append(label)

    def delete(self, tx: TransactWrite, label: str, item: Model, condition: Any) -> None:
        tx.delete(item, condition=condition)
        self.labels.append("delete:" + label)

    def failed(self, exc: TransactWriteError) -> list[str]:
        def sent_as(label: str) -> int:
            return 0 if label.startswith("delete:") else 2 if label.startswith("update:") else 1

        ordered = sorted(self.labels, key=sent_as)  # stable: each kind keeps its own order
        return [
            label for label, code in zip(ordered, reason_codes(exc), strict=False) if code == "ConditionalCheckFailed"
        ]


Build = Callable[[TransactWrite, Outcome], None]


def _cancellations(build: Build) -> Iterator[list[str]]:
    """Run the transaction ``build`` describes until it commits; each attempt cancelled by a
    failed condition yields the failed labels. Resumed after one (the caller let it pass),
    the attempt is retried if it also conflicted with a concurrent transaction, else its
    error is raised; a conflict alone is retried, then a 503 with Retry-After."""
    for attempt in range(CONFLICT_RETRIES + 1):
        outcome = Outcome()
        try:
            with TransactWrite(connection=connection()) as tx:
                build(tx, outcome)
            return
        except TransactWriteError as exc:
            failed = outcome.failed(exc)
            if failed:
                yield failed
            if not conflicted(exc):
                if is_transient(exc):
                    raise ServiceUnavailable("The database is busy; retry shortly") from exc
                raise
            if attempt == CONFLICT_RETRIES:
                raise ServiceUnavailable("Too many concurrent changes to this account; retry shortly") from exc
            backoff(attempt)


def try_commit(build: Build, expected: Collection[str] | None = None) -> list[str]:
    """Run the transaction ``build`` describes: the labels of its failed conditions, none when
    it committed (a conflict with a concurrent transaction is retried, anything else raised
    as ``commit`` raises it). With ``expected``, a failure that names none of those labels
    is not returned but treated as ``commit`` treats one its ``on_failure`` lets pass."""
    for failed in _cancellations(build):
        if expected is None or any(label in expected for label in failed):
            return failed
    return []


def commit(build: Build, on_failure: Callable[[list[str]], None]) -> None:
    """Run the transaction ``build`` describes; a failed condition becomes the client's
    error through ``on_failure``, a conflict with a concurrent transaction is retried.
    A failure ``on_failure`` lets pass is retried if the attempt also conflicted, else raised."""
    for failed in _cancellations(build):
        on_failure(failed)

"""Transactions: conflicts with concurrent ones are retried, and then answered 503, never 500."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from pynamodb.exceptions import TransactWriteError

from lifecycle import transactions
from lifecycle.errors import ServiceUnavailable


class _Conflict(TransactWriteError):
    @property
    def cancellation_reasons(self) -> list[Any]:  # type: ignore[override]
        return [SimpleNamespace(code="TransactionConflict")]


class _AlwaysConflicting:
    attempts = 0

    def __init__(self, **_: Any) -> None:
        pass

    def __enter__(self) -> _AlwaysConflicting:
        type(self).attempts += 1
        return self

    def __exit__(self, *_: object) -> None:
        raise _Conflict("conflict")


def test_a_conflict_that_outlasts_the_retries_is_a_503_with_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transactions, "TransactWrite", _AlwaysConflicting)
    monkeypatch.setattr(transactions, "backoff", lambda attempt: None)
    with pytest.raises(ServiceUnavailable) as raised:
        transactions.commit(lambda tx, outcome: None, lambda failed: None)
    assert _AlwaysConflicting.attempts == transactions.CONFLICT_RETRIES + 1
    assert raised.value.headers["Retry-After"] == "1"

"""Transactions: conflicts with concurrent ones are retried, and then answered 503, never 500."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
from pynamodb.exceptions import TransactWriteError

from lifecycle.core.errors import ServiceUnavailable
from lifecycle.storage import transactions


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


class _Cancelled(TransactWriteError):
    def __init__(self, codes: list[str | None]) -> None:
        super().__init__("cancelled")
        self.codes = codes

    @property
    def cancellation_reasons(self) -> list[Any]:
        return [SimpleNamespace(code=code) if code is not None else None for code in self.codes]


class _Scripted:
    """Each attempt is cancelled with the next reasons of ``script``; None commits."""

    script: ClassVar[list[list[str | None] | None]] = []
    attempts = 0

    def __init__(self, **_: Any) -> None:
        pass

    def __enter__(self) -> _Scripted:
        type(self).attempts += 1
        return self

    def __exit__(self, *exc: object) -> None:
        codes = type(self).script.pop(0)
        if codes is not None:
            raise _Cancelled(codes)


def _scripted(monkeypatch: pytest.MonkeyPatch, *script: list[str | None] | None) -> None:
    monkeypatch.setattr(_Scripted, "script", list(script))
    monkeypatch.setattr(_Scripted, "attempts", 0)
    monkeypatch.setattr(transactions, "TransactWrite", _Scripted)
    monkeypatch.setattr(transactions, "backoff", lambda attempt: None)


def _account_and_audit(tx: Any, outcome: transactions.Outcome) -> None:
    # Sent as pynamodb sends them: the put (audit) before the update (account).
    outcome.labels += ["update:account", "audit"]


def test_try_commit_answers_no_labels_when_the_transaction_commits(monkeypatch: pytest.MonkeyPatch) -> None:
    _scripted(monkeypatch, None)
    assert transactions.try_commit(_account_and_audit) == []


def test_try_commit_answers_the_labels_of_the_failed_conditions(monkeypatch: pytest.MonkeyPatch) -> None:
    _scripted(monkeypatch, [None, "ConditionalCheckFailed"])
    assert transactions.try_commit(_account_and_audit) == ["update:account"]
    assert _Scripted.attempts == 1


def test_try_commit_raises_a_failure_that_names_none_of_the_expected_labels(monkeypatch: pytest.MonkeyPatch) -> None:
    _scripted(monkeypatch, ["ConditionalCheckFailed", None])
    with pytest.raises(_Cancelled):
        transactions.try_commit(_account_and_audit, expected=["update:account"])
    assert _Scripted.attempts == 1


def test_try_commit_retries_a_conflict_then_answers_the_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    _scripted(monkeypatch, [None, "TransactionConflict"], [None, "ConditionalCheckFailed"])
    assert transactions.try_commit(_account_and_audit) == ["update:account"]
    assert _Scripted.attempts == 2


def test_commit_retries_a_failure_on_failure_lets_pass_when_the_attempt_also_conflicted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _scripted(monkeypatch, ["ConditionalCheckFailed", "TransactionConflict"], None)
    passed: list[list[str]] = []
    transactions.commit(_account_and_audit, passed.append)
    assert passed == [["audit"]]
    assert _Scripted.attempts == 2


def test_commit_raises_a_failure_on_failure_lets_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    _scripted(monkeypatch, ["ConditionalCheckFailed", None])
    with pytest.raises(_Cancelled):
        transactions.commit(_account_and_audit, lambda failed: None)
    assert _Scripted.attempts == 1

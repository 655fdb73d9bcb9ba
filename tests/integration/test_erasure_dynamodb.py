"""The erasure on DynamoDB Local (R-GDPR-5): the certificate's conditional counts, the user's
removal transaction and the purge of the ended account on AWS's own engine. The world and the
proof (a Scan of every table of ``lifecycle.storage.MODELS``) are the unit tier's."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from lifecycle.core import errors
from lifecycle.requests import erasure
from tests.unit.test_erasure import (
    STEPS,
    Injected,
    at,
    check_end_state,
    completing,
    expected_counts,
    fail_at,
    maria_world,
    naming_maria,
    snapshot,
)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("world")]


def test_r_gdpr_5_nothing_names_the_person_but_the_kept_invoices_and_a_second_completion_changes_nothing() -> None:
    world = maria_world()
    expected = expected_counts(world)
    assert "users" in naming_maria()

    result = erasure.complete(completing(world))

    check_end_state(world, result, expected)
    before = snapshot()
    at(30)
    assert erasure.complete(completing(world)) == result
    assert snapshot() == before


@pytest.mark.parametrize("step", ["middle_item", "user_removed", "completed"])
def test_r_gdpr_5_a_retry_after_a_lost_answer_counts_each_change_once(
    monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    world = maria_world()
    expected = expected_counts(world)
    monkeypatch.setattr(erasure, "CHUNK", 1)
    with monkeypatch.context() as failing:
        fail_at(failing, STEPS[step], after=True)  # committed, but the caller saw an error
        with pytest.raises(Injected):
            erasure.complete(completing(world))

    at(12)
    result = erasure.complete(completing(world))

    check_end_state(world, result, expected)


def test_r_gdpr_5_concurrent_completions_count_each_change_once() -> None:
    """Three runs at once (the lease of privacy_requests normally prevents it): each change
    commits with its count under the certificate's condition, so the counts stay exact."""
    world = maria_world()
    expected = expected_counts(world)
    request = completing(world)

    def run() -> str:
        try:
            erasure.complete(request)
        except (errors.Conflict, errors.ServiceUnavailable) as exc:
            return exc.code
        return "completed"

    with ThreadPoolExecutor(max_workers=3) as pool:
        outcomes = list(pool.map(lambda _: run(), range(3)))

    assert set(outcomes) <= {"completed", "conflict", "service_unavailable"}, outcomes
    at(12)
    result = erasure.complete(completing(world))
    check_end_state(world, result, expected)

"""R-REG-2 rate limits on DynamoDB Local: the atomic ADD holds under concurrent hits."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from lifecycle.core.errors import RateLimited
from lifecycle.core.settings import Settings
from lifecycle.registration.rate_limit import Window, counter_key, counter_secret, hit
from lifecycle.storage import RateCounter

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("local_tables")]

NOW = datetime(2026, 11, 25, 12, 30, 0, tzinfo=UTC)
LIMIT = 25
ATTEMPTS = 40


def attempt(_: int) -> bool:
    """One hit; True when it was let through."""
    try:
        hit("signup-ip", "203.0.113.7", LIMIT, 3600, NOW, Settings())
    except RateLimited:
        return False
    return True


def test_r_reg_2_concurrent_hits_let_exactly_the_limit_through(local_tables: Settings) -> None:
    """40 simultaneous hits with limit 25: the ADD's returned count decides, never a stale read."""
    with ThreadPoolExecutor(max_workers=ATTEMPTS) as pool:
        outcomes = list(pool.map(attempt, range(ATTEMPTS)))
    assert (outcomes.count(True), outcomes.count(False)) == (LIMIT, ATTEMPTS - LIMIT)
    stored = RateCounter.get(
        counter_key("signup-ip", Window.at(NOW, 3600).index, "203.0.113.7", counter_secret(Settings())),
        consistent_read=True,
    )
    assert stored.Meta.table_name == local_tables.rate_limits_table
    assert stored.hits == ATTEMPTS

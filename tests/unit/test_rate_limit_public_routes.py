"""R-REG-2 on every public route, through the functions the template routes them to (moto).

The routes that take a name and an email from anyone (signups, redemptions, data subject
requests) are limited per IP and per email by the service itself: the attempt past the limit
is 429 ``rate_limited`` with Retry-After and writes nothing, while another IP or email still
gets through. The other public routes take only a signed token (verification, unsubscribe,
export download) or serve the API description; the API's per-route throttle bounds them
(tests/infrastructure/test_template_http.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from lifecycle.core.settings import Settings, get_settings
from lifecycle.storage import Account, PrivacyRequest, RateCounter
from local_runtime.template import load, routes
from tests import figures
from tests.conftest import point_service_at
from tests.faults import FaultInjector
from tests.support import Reply, call
from tests.unit.test_signup import TRIAL, add_campaign, add_voucher, person

pytestmark = [pytest.mark.hardening, pytest.mark.usefixtures("frozen_now", "outbox")]

LIMIT = 2
WINDOW_SECONDS = 3600
SIGNED_TOKEN = {
    "POST /privacy/requests/{request_id}/verification",
    "POST /privacy/unsubscribe",
    "GET /privacy/exports/{request_id}",
    # The payment provider's events: nothing happens without its signature (R-PAY-12).
    "POST /webhooks/payments",
}
API_DESCRIPTION = {"GET /openapi.json", "GET /docs"}


def _signup(n: int, email: str, ip: str) -> Reply:
    return call("POST", "/signups", body={**TRIAL, "email": email, "subdomain": f"co-{n}"}, source_ip=ip)


def _redemption(n: int, email: str, ip: str) -> Reply:
    code = f"LIFE-{n:04d}-AAAA"
    add_voucher(code)
    return call("POST", "/redemptions", body=person(code=code, email=email, subdomain=f"deal-{n}"), source_ip=ip)


def _privacy_request(n: int, email: str, ip: str) -> Reply:
    return call("POST", "/privacy/requests", body={"type": "access", "email": email}, source_ip=ip)


def _written() -> int:
    return Account.count() + PrivacyRequest.count()  # test-only Scans


ATTEMPTS: dict[str, tuple[Callable[[int, str, str], Reply], int]] = {
    "POST /signups": (_signup, 201),
    "POST /redemptions": (_redemption, 201),
    "POST /privacy/requests": (_privacy_request, 202),
}
_proven: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def _figure() -> Iterator[None]:
    yield
    figures.record(
        f"rate limits (R-REG-2): {len(_proven)} of {2 * len(ATTEMPTS)} route x subject (IP, email) limits proven "
        f"on {len(ATTEMPTS)} public routes (attempt {LIMIT + 1} is 429 with Retry-After and writes nothing); "
        f"{len(SIGNED_TOKEN) + len(API_DESCRIPTION)} other public routes bounded by the API's route throttle"
    )


@pytest.fixture
def limits(tables: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    point_service_at(
        {
            "SIGNUP_LIMIT_PER_IP": str(LIMIT),
            "SIGNUP_LIMIT_PER_EMAIL": str(LIMIT),
            "SIGNUP_WINDOW_SECONDS": str(WINDOW_SECONDS),
        },
        monkeypatch,
    )


def test_r_reg_2_every_public_route_is_rate_limited_or_takes_only_a_signed_token() -> None:
    """A new public route must be added to one of these lists, i.e. someone decided how it is limited."""
    public = {route.route_key for route in routes(load()) if route.public}
    assert public == set(ATTEMPTS) | SIGNED_TOKEN | API_DESCRIPTION


def _refused(reply: Reply) -> None:
    assert (reply.status, reply.code) == (429, "rate_limited"), reply.body
    assert 1 <= int(reply.headers["retry-after"]) <= WINDOW_SECONDS


@pytest.mark.parametrize("route_key", sorted(ATTEMPTS))
@pytest.mark.usefixtures("limits")
def test_r_reg_2_public_route_is_limited_per_ip(route_key: str) -> None:
    attempt, created = ATTEMPTS[route_key]
    for n in range(LIMIT):
        reply = attempt(n, f"ip-{n}@example.com", "203.0.113.7")
        assert reply.status == created, reply.body
    before = _written()
    _refused(attempt(LIMIT, "ip-over@example.com", "203.0.113.7"))
    assert _written() == before, "the refused attempt wrote something"
    # Another IP (IPv6 counted per /64) is counted apart.
    assert attempt(LIMIT + 1, "ip-other@example.com", "2001:db8::1").status == created
    _proven.append(f"{route_key} per IP")


@pytest.mark.parametrize("route_key", sorted(ATTEMPTS))
@pytest.mark.usefixtures("limits")
def test_r_reg_2_public_route_is_limited_per_email_whatever_its_spelling(route_key: str) -> None:
    attempt, created = ATTEMPTS[route_key]
    first = attempt(0, "ana@example.com", "203.0.113.10")
    assert first.status == created, first.body
    # The second try of the address from elsewhere still counts (a taken email is a 409).
    assert attempt(1, "ana@example.com", "203.0.113.11").status != 429
    before = _written()
    _refused(attempt(2, "ANA+again@Example.com", "203.0.113.12"))
    assert _written() == before, "the refused attempt wrote something"
    assert attempt(3, "bob@example.com", "203.0.113.12").status == created
    _proven.append(f"{route_key} per email")


# ---------------------------------------------------------------- refused attempts count too

# A request refused for another reason (a guessed code, a bot's filled trap field) counts
# against the limits by itself; an accepted one counts in its own transaction (no round trip of its own).
REFUSED: dict[str, tuple[Callable[[int, str], Reply], int]] = {
    "POST /signups": (
        lambda n, ip: call(
            "POST", "/signups", body={**TRIAL, "email": f"bot-{n}@example.com", "website": "spam"}, source_ip=ip
        ),
        403,
    ),
    "POST /redemptions": (
        lambda n, ip: call(
            "POST", "/redemptions", body=person(code=f"GUES-{n:04d}-ZZZZ", email=f"g-{n}@example.com"), source_ip=ip
        ),
        404,
    ),
}


@pytest.mark.parametrize("route_key", sorted(REFUSED))
@pytest.mark.usefixtures("limits")
def test_r_reg_2_refused_attempts_count_against_the_limit_like_accepted_ones(route_key: str) -> None:
    refuse, status = REFUSED[route_key]
    for n in range(LIMIT):
        assert refuse(n, "203.0.113.20").status == status
    # The limit is reached: a guess or a valid request alike is refused, nothing written.
    _refused(refuse(LIMIT, "203.0.113.20"))
    attempt, _ = ATTEMPTS[route_key]
    before = _written()
    _refused(attempt(LIMIT + 1, "late@example.com", "203.0.113.20"))
    assert _written() == before


@pytest.mark.parametrize("route_key", sorted(ATTEMPTS))
@pytest.mark.usefixtures("limits")
def test_r_reg_2_an_accepted_attempt_is_counted_in_its_own_transaction(route_key: str) -> None:
    attempt, created = ATTEMPTS[route_key]
    add_campaign()  # a redemption counts its code in its campaign, in the same transaction
    with FaultInjector() as counted:
        assert attempt(0, "one@example.com", "203.0.113.30").status == created
    counters = [call for call in counted.calls if get_settings().rate_limits_table in call.tables]
    assert [call.operation for call in counters] == ["TransactWriteItems"], counted.operations()
    assert sorted(counter.hits for counter in RateCounter.scan()) == [1, 1]  # test-only Scan: IP and email

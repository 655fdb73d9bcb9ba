"""R-PAY-14: the VIES REST checker against canned answers served from a local HTTP server in a
thread (no network, no tables: nothing here touches moto).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from lifecycle.billing import vies
from lifecycle.billing.vies import Confirmation, Unavailable, ViesChecker
from lifecycle.core.settings import Settings
from tests.support import RecordingLogger
from tests.unit.test_signup import NOW

SETTINGS = Settings()
REQUESTER = "SK2020123456"

# Canned VIES answers in the shape of the Commission's published contract for
# POST …/vies/rest-api/check-vat-number ("Vies on-the-Web Endpoint", swagger 2.0; mirrored in
# conedevelopment/vies-php openapi.yml): a CheckVatResponse on 200 and a CommonResponse
# {actionSucceed, errorWrappers: [{error, message}]} on 400/500. Values are illustrative ("---" is
# what VIES answers for a name or address a member state does not disclose); no live call is made.
VALID = {
    "countryCode": "DE",
    "vatNumber": "136695976",
    "requestDate": "2026-11-25T12:00:00.123Z",
    "valid": True,
    "requestIdentifier": "WAPIAAAAZ3kQxQ0c",
    "name": "---",
    "address": "---",
    "traderName": "",
    "traderStreet": "",
    "traderPostalCode": "",
    "traderCity": "",
    "traderCompanyType": "",
    "traderNameMatch": "NOT_PROCESSED",
    "traderStreetMatch": "NOT_PROCESSED",
    "traderPostalCodeMatch": "NOT_PROCESSED",
    "traderCityMatch": "NOT_PROCESSED",
    "traderCompanyTypeMatch": "NOT_PROCESSED",
}
INVALID = {**VALID, "valid": False, "requestIdentifier": "WAPIAAAAZ3kQxQ0d"}
MS_UNAVAILABLE = {"actionSucceed": False, "errorWrappers": [{"error": "MS_UNAVAILABLE", "message": None}]}
INVALID_INPUT = {"actionSucceed": False, "errorWrappers": [{"error": "INVALID_INPUT", "message": None}]}

# ---------------------------------------------------------------- the VIES REST checker


@dataclass
class FakeVies:
    """A tiny VIES: records each request's JSON body; answers ``answer`` (status, body), after
    ``delay`` seconds unless ``release`` is set."""

    url: str = ""
    seen: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    answer: tuple[int, Any] = (200, VALID)
    delay: float = 0.0
    release: threading.Event = field(default_factory=threading.Event)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        self.seen.append(json.loads(request.get_data(as_text=True) or "null"))
        self.headers.append({"method": request.method, "path": request.path, **dict(request.headers)})
        if self.delay:
            self.release.wait(self.delay)
        status, body = self.answer
        text = body if isinstance(body, str) else json.dumps(body)
        return Response(text, status=status, content_type="application/json")(environ, start_response)


@pytest.fixture
def fake_vies() -> Iterator[FakeVies]:
    fake = FakeVies()
    server = make_server("127.0.0.1", 0, fake, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.port}/taxation_customs/vies/rest-api/check-vat-number"
    yield fake
    fake.release.set()
    server.shutdown()
    thread.join()


def checker(fake: FakeVies, timeout: float = 5) -> ViesChecker:
    return ViesChecker(REQUESTER, url=fake.url, timeout=timeout)


def test_r_pay_14_the_vies_checker_sends_the_documented_request_and_keeps_the_consultation_reference(
    fake_vies: FakeVies,
) -> None:
    found = checker(fake_vies).check("DE136695976", NOW)

    assert found == Confirmation("DE136695976", NOW, "WAPIAAAAZ3kQxQ0c")
    assert fake_vies.seen == [
        {
            "countryCode": "DE",
            "vatNumber": "136695976",
            "requesterMemberStateCode": "SK",
            "requesterNumber": "2020123456",
        }
    ]
    (sent,) = fake_vies.headers
    assert (sent["method"], sent["path"]) == ("POST", "/taxation_customs/vies/rest-api/check-vat-number")
    assert sent["Content-Type"] == "application/json"
    assert vies.VIES_CHECK_URL == "https://ec.europa.eu/taxation_customs/vies/rest-api/check-vat-number"


def test_r_pay_14_greece_is_asked_under_its_vat_prefix_el(fake_vies: FakeVies) -> None:
    checker(fake_vies).check("EL094259216", NOW)
    assert (fake_vies.seen[0]["countryCode"], fake_vies.seen[0]["vatNumber"]) == ("EL", "094259216")


@pytest.mark.parametrize("answer", [(200, INVALID), (400, INVALID_INPUT)], ids=["valid-false", "invalid-input"])
def test_r_pay_14_vies_saying_no_is_no_confirmation(fake_vies: FakeVies, answer: tuple[int, Any]) -> None:
    fake_vies.answer = answer
    assert checker(fake_vies).check("DE136695976", NOW) is None
    assert len(fake_vies.seen) == 1


@pytest.mark.parametrize(
    "answer",
    [
        (500, MS_UNAVAILABLE),
        (200, {**MS_UNAVAILABLE, "errorWrappers": [{"error": "SERVICE_UNAVAILABLE"}]}),
        (503, "<html>maintenance</html>"),
        (200, "not json"),
        (200, {"countryCode": "DE", "vatNumber": "136695976"}),
        (200, [VALID]),
    ],
    ids=["ms-unavailable", "not-succeeded-on-200", "503-html", "bad-json", "no-verdict", "not-an-object"],
)
def test_r_pay_14_vies_errors_and_garbage_are_unavailable_after_one_attempt(
    fake_vies: FakeVies, answer: tuple[int, Any]
) -> None:
    fake_vies.answer = answer
    with pytest.raises(Unavailable):
        checker(fake_vies).check("DE136695976", NOW)
    assert len(fake_vies.seen) == 1  # never retried


def test_r_pay_14_a_slow_vies_times_out_after_one_attempt(fake_vies: FakeVies) -> None:
    fake_vies.delay = 10
    started = time.monotonic()
    with pytest.raises(Unavailable):
        checker(fake_vies, timeout=0.3).check("DE136695976", NOW)
    assert time.monotonic() - started < 3
    assert len(fake_vies.seen) == 1


def test_r_pay_14_an_unreachable_vies_is_unavailable() -> None:
    with pytest.raises(Unavailable):
        ViesChecker(REQUESTER, url="http://127.0.0.1:9/check-vat-number", timeout=1).check("DE136695976", NOW)


def test_the_vies_checker_logs_outcomes_and_ids_never_the_vat_id(
    fake_vies: FakeVies, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = RecordingLogger()
    monkeypatch.setattr(vies, "logger", log)
    fake_vies.answer = (500, MS_UNAVAILABLE)
    with pytest.raises(Unavailable):
        checker(fake_vies).check("DE136695976", NOW)
    monkeypatch.setattr(vies, "checker_for", lambda settings: checker(fake_vies))
    assert vies.ask("DE136695976", NOW, SETTINGS, "acc_1") is None

    assert any("MS_UNAVAILABLE" in line for line in log.lines)
    assert any("acc_1" in line and "unavailable" in line for line in log.lines)
    assert not any("136695976" in line for line in log.lines)

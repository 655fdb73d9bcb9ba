"""R-REG-2: the human check (local and Turnstile verifiers) and the honeypot field."""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

import pytest

from lifecycle.core.errors import BotSuspected, HumanCheckUnavailable
from lifecycle.core.settings import Settings
from lifecycle.entry.http import problem_for
from lifecycle.registration import human_check
from lifecycle.registration.human_check import (
    TURNSTILE_ENDPOINT,
    HumanVerifier,
    LocalVerifier,
    TurnstileVerifier,
    check_human,
    verifier_for,
)
from tests.support import RecordingLogger

SECRET = "0x4AAAAAAA-very-secret-key"


@dataclass
class FakeSiteverify:
    """``urllib.request.urlopen`` answering with ``body`` or raising ``error``."""

    body: bytes = b'{"success": true}'
    error: BaseException | None = None
    requests: list[tuple[urllib.request.Request, float]] = field(default_factory=list)

    def __call__(self, request: urllib.request.Request, timeout: float) -> io.BytesIO:
        self.requests.append((request, timeout))
        if self.error is not None:
            raise self.error
        return io.BytesIO(self.body)

    def form(self) -> dict[str, str]:
        data = self.requests[-1][0].data
        assert isinstance(data, bytes)
        return dict(urllib.parse.parse_qsl(data.decode("ascii")))


@pytest.fixture
def siteverify(monkeypatch: pytest.MonkeyPatch) -> FakeSiteverify:
    fake = FakeSiteverify()
    monkeypatch.setattr(urllib.request, "urlopen", fake)
    return fake


@pytest.fixture
def log(monkeypatch: pytest.MonkeyPatch) -> RecordingLogger:
    recorder = RecordingLogger()
    monkeypatch.setattr(human_check, "logger", recorder)
    return recorder


class NeverAsked:
    def verify(self, token: str, remote_ip: str | None) -> bool:
        raise AssertionError("the verifier must not be asked")


# --- local verifier ---------------------------------------------------------------------


@pytest.mark.parametrize(("token", "passes"), [("human", True), ("Human", False), (" human", False), ("", False)])
def test_r_reg_2_local_verifier_passes_only_the_token_human(token: str, passes: bool) -> None:
    assert LocalVerifier().verify(token, "203.0.113.7") is passes


def test_r_reg_2_verifier_follows_the_provider_setting() -> None:
    assert isinstance(verifier_for(Settings()), LocalVerifier)
    turnstile = verifier_for(Settings(human_check_provider="turnstile", human_check_secret=SECRET))
    assert isinstance(turnstile, TurnstileVerifier)
    assert turnstile.secret == SECRET
    assert turnstile.endpoint == TURNSTILE_ENDPOINT
    with pytest.raises(ValueError, match="human_check_secret"):
        verifier_for(Settings(human_check_provider="turnstile"))


# --- Turnstile verifier -----------------------------------------------------------------


def test_r_reg_2_turnstile_success_posts_secret_token_and_ip(siteverify: FakeSiteverify, log: RecordingLogger) -> None:
    verifier = TurnstileVerifier(secret=SECRET, timeout=3)
    assert verifier.verify("tok-123", "203.0.113.7") is True
    request, timeout = siteverify.requests[0]
    assert (request.full_url, request.get_method(), timeout) == (TURNSTILE_ENDPOINT, "POST", 3)
    assert request.get_header("Content-type") == "application/x-www-form-urlencoded"
    assert siteverify.form() == {"secret": SECRET, "response": "tok-123", "remoteip": "203.0.113.7"}
    assert not any(SECRET in line for line in log.lines)


def test_r_reg_2_turnstile_omits_an_unknown_ip(siteverify: FakeSiteverify) -> None:
    assert TurnstileVerifier(secret=SECRET).verify("tok-123", None) is True
    assert "remoteip" not in siteverify.form()


@pytest.mark.parametrize(
    "body",
    [
        b'{"success": false, "error-codes": ["invalid-input-response"]}',
        b'{"success": "true"}',
        b"{}",
    ],
)
def test_r_reg_2_turnstile_refusal_is_false(siteverify: FakeSiteverify, log: RecordingLogger, body: bytes) -> None:
    siteverify.body = body
    assert TurnstileVerifier(secret=SECRET).verify("tok-123", "203.0.113.7") is False
    assert not any(SECRET in line for line in log.lines)


@pytest.mark.parametrize("token", ["", "x" * 2049])
def test_r_reg_2_turnstile_refuses_impossible_tokens_without_a_call(siteverify: FakeSiteverify, token: str) -> None:
    assert TurnstileVerifier(secret=SECRET).verify(token, None) is False
    assert siteverify.requests == []


@pytest.mark.parametrize(
    "error",
    [
        TimeoutError("timed out"),
        urllib.error.URLError(TimeoutError("timed out")),
        urllib.error.URLError(f"connection refused while sending secret={SECRET}"),
        urllib.error.HTTPError(TURNSTILE_ENDPOINT, 500, "Internal Server Error", {}, None),  # type: ignore[arg-type]
        ConnectionResetError(),
    ],
)
def test_r_reg_2_turnstile_unreachable_is_unavailable_not_a_bot(
    siteverify: FakeSiteverify, log: RecordingLogger, error: BaseException
) -> None:
    siteverify.error = error
    with pytest.raises(HumanCheckUnavailable) as caught:
        TurnstileVerifier(secret=SECRET).verify("tok-123", "203.0.113.7")
    assert (caught.value.status, caught.value.code) == (503, "human_check_unavailable")
    assert caught.value.headers["Retry-After"] == "1"
    assert SECRET not in caught.value.detail
    assert log.lines, "the outage is logged"
    assert not any(SECRET in line for line in log.lines)


@pytest.mark.parametrize("body", [b"<html>502 Bad Gateway</html>", b"", b"\xff\xfe\x00", b"[true]", b'"success"'])
def test_r_reg_2_turnstile_garbage_is_unavailable(
    siteverify: FakeSiteverify, log: RecordingLogger, body: bytes
) -> None:
    siteverify.body = body
    with pytest.raises(HumanCheckUnavailable):
        TurnstileVerifier(secret=SECRET).verify("tok-123", None)
    assert not any(SECRET in line for line in log.lines)


def test_r_reg_2_turnstile_secret_stays_out_of_reprs() -> None:
    verifier = TurnstileVerifier(secret=SECRET)
    assert SECRET not in repr(verifier)
    assert SECRET not in str(verifier)


# --- check_human: honeypot and verdict --------------------------------------------------


@pytest.mark.parametrize("honeypot", [None, ""])
def test_r_reg_2_human_with_an_empty_honeypot_passes(honeypot: str | None) -> None:
    check_human(LocalVerifier(), "human", "203.0.113.7", honeypot)


def test_r_reg_2_failed_human_check_is_bot_suspected() -> None:
    with pytest.raises(BotSuspected) as caught:
        check_human(LocalVerifier(), "robot", "203.0.113.7", None)
    assert (caught.value.status, caught.value.code) == (403, "bot_suspected")


@pytest.mark.parametrize("honeypot", ["https://spam.example", " ", "x"])
def test_r_reg_2_filled_honeypot_is_bot_suspected_without_asking_the_verifier(honeypot: str) -> None:
    verifier: HumanVerifier = NeverAsked()
    with pytest.raises(BotSuspected) as caught:
        check_human(verifier, "human", "203.0.113.7", honeypot)
    # The honeypot refusal reads like any other, so a bot learns nothing about the trap.
    with pytest.raises(BotSuspected) as token_refusal:
        check_human(LocalVerifier(), "robot", None, None)
    assert caught.value.detail == token_refusal.value.detail


def test_r_reg_2_provider_outage_propagates_from_check_human(siteverify: FakeSiteverify) -> None:
    siteverify.error = TimeoutError()
    with pytest.raises(HumanCheckUnavailable):
        check_human(TurnstileVerifier(secret=SECRET), "tok", None, None)


def test_r_reg_2_errors_map_to_problem_documents() -> None:
    bot = problem_for(BotSuspected("no"))
    assert bot.status_code == 403
    assert json.loads(str(bot.body))["code"] == "bot_suspected"
    down = problem_for(HumanCheckUnavailable(retry_after=5))
    assert (down.status_code, down.headers["Retry-After"]) == (503, "5")
    assert json.loads(str(down.body))["code"] == "human_check_unavailable"

"""A real browser signs in and calls the API (API.md "Sign-in", "Browsers").

Headless Chromium (Debian's ``/usr/bin/chromium``, driven by Playwright) loads a small static
page (tests/e2e/browser_page) served over http from a loopback port. The page signs in at the
local identity provider with fetch (Cognito's unsigned InitiateAuth: moto's server answers its
preflight for any origin, as Cognito does), then reads ``GET /accounts/{id}`` with the ID token.
From the runtime's allowed page origin the answer is shown; from a port the runtime does not
allow, the browser itself refuses the call after the preflight (CORS), and the GET never arrives.

Without Chromium the tests fail in CI (``CI`` set) and are skipped elsewhere, saying why.
Screenshots go to .local/artifacts/browser/ (git-ignored).
"""

from __future__ import annotations

import functools
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from local_runtime.template import ROOT
from tests.conftest import worker_port
from tests.e2e.conftest import Runtime
from tests.route_examples import registrant

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

PAGE_DIR = Path(__file__).parent / "browser_page"
ARTIFACTS = ROOT / ".local" / "artifacts" / "browser"
PASSWORD = "correct horse battery staple"  # a test person's
ANSWER_TIMEOUT_MS = 30_000
FINISHED = '#status:not([data-state="idle"]):not([data-state="working"])'


class _QuietPageHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # the page's three requests would only clutter pytest's output


@contextmanager
def _page_server(origin: str) -> Iterator[str]:
    """browser_page/ served over http at ``origin`` (a loopback port); yields the origin."""
    port = urlsplit(origin).port
    assert port is not None, origin
    handler = functools.partial(_QuietPageHandler, directory=str(PAGE_DIR))
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, name=f"page-{port}", daemon=True)
    thread.start()
    try:
        yield origin
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def identity(runtime: Runtime) -> dict[str, str]:
    answer = runtime.get("/_local/identity")
    assert answer.status_code == 200, answer.text
    found: dict[str, str] = answer.json()
    return found


def _owner(runtime: Runtime, identity: dict[str, str], prefix: str) -> tuple[dict[str, Any], str]:
    """A signup with a password (API.md "Sign-in"): the service makes its owner at the identity
    provider, who can then sign in with the email and that password."""
    tag = f"{prefix}-{uuid.uuid4().hex[:10]}"
    body = registrant(tag, plan="ticket", billing_period="monthly", password=PASSWORD)
    answer = runtime.post("/signups", json=body)
    assert answer.status_code == 201, answer.text
    account: dict[str, Any] = answer.json()
    return account, f"{tag}@example.com"


@dataclass
class Shown:
    """What the page shows once it is done, and what the browser's console said meanwhile."""

    state: str
    status: str
    result: dict[str, Any] | None
    console: list[str]


def _sign_in_in_browser(
    browser: Any, runtime: Runtime, identity: dict[str, str], origin: str, email: str, password: str, name: str
) -> Shown:
    """Opens the page at ``origin``, fills email and password, clicks, waits for the answer and
    screenshots it as ``name``."""
    query = urlencode({"api": runtime.url, "idp": identity["endpoint"], "client": identity["client_id"]})
    context = browser.new_context()
    try:
        page = context.new_page()
        console: list[str] = []
        page.on("console", lambda message: console.append(message.text))
        page.goto(f"{origin}/index.html?{query}")
        page.fill("#email", email)
        page.fill("#password", password)
        page.click("#submit")
        page.wait_for_selector(FINISHED, timeout=ANSWER_TIMEOUT_MS)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        shown = page.text_content("#result") or ""
        return Shown(
            state=str(page.get_attribute("#status", "data-state")),
            status=page.text_content("#status") or "",
            result=json.loads(shown) if shown else None,
            console=console,
        )
    finally:
        context.close()


def _logged(runtime: Runtime, line: str, wait_seconds: float = 2.0) -> bool:
    """Whether the runtime's log has ``line`` (its request log: method, path, status), within a
    moment (the log is written as the answer leaves)."""
    deadline = time.monotonic() + wait_seconds
    while True:
        if line in runtime.output():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


def test_an_owner_signs_in_in_a_browser_and_the_page_shows_their_account(
    runtime: Runtime, identity: dict[str, str], browser: Any
) -> None:
    account, email = _owner(runtime, identity, "browser-owner")

    with _page_server(runtime.page_origin) as origin:
        shown = _sign_in_in_browser(browser, runtime, identity, origin, email, PASSWORD, "owner-signed-in")

    assert (shown.state, shown.status) == ("done", f"GET /accounts/{account['id']}: 200"), shown
    assert shown.result is not None
    assert (shown.result["id"], shown.result["owner_id"]) == (account["id"], account["owner_id"])
    assert (shown.result["status"], shown.result["plan"]) == ("trialing", "ticket")
    assert _logged(runtime, f"GET /accounts/{account['id']} 200")


def test_a_page_on_an_origin_the_api_does_not_allow_cannot_read_it(
    runtime: Runtime, identity: dict[str, str], browser: Any
) -> None:
    account, email = _owner(runtime, identity, "browser-refused")
    refused_origin = f"http://127.0.0.1:{worker_port()}"
    assert refused_origin != runtime.page_origin

    with _page_server(refused_origin) as origin:
        shown = _sign_in_in_browser(browser, runtime, identity, origin, email, PASSWORD, "refused-origin")

    # Signed in (the identity provider answers any origin), then the browser refused the call:
    # the API's preflight answer had no Access-Control-Allow-Origin for this origin.
    assert shown.state == "api-unreachable", shown
    assert "TypeError: Failed to fetch" in shown.status
    assert shown.result is None
    blocked = f"from origin '{refused_origin}' has been blocked by CORS policy"
    assert any(blocked in message for message in shown.console), shown.console
    assert _logged(runtime, f"OPTIONS /accounts/{account['id']} 204")
    assert not _logged(runtime, f"GET /accounts/{account['id']} ", wait_seconds=0.5)


def test_a_wrong_password_in_the_browser_is_refused_by_the_identity_provider(
    runtime: Runtime, identity: dict[str, str], browser: Any
) -> None:
    account, email = _owner(runtime, identity, "browser-wrong-password")

    with _page_server(runtime.page_origin) as origin:
        shown = _sign_in_in_browser(browser, runtime, identity, origin, email, "not the password at all", "refused")

    assert shown.state == "signin-refused", shown
    assert shown.status.startswith("Sign-in refused: NotAuthorizedException"), shown.status
    assert not _logged(runtime, f"/accounts/{account['id']} ", wait_seconds=0.5)

"""End-to-end tier: one ``python -m local_runtime`` for the session, driven over HTTP.

Under xdist the tests on the session's runtime share one worker (tests/conftest.py), and
every runtime listens, and starts its DynamoDB Local, on ports of its worker's own. Each also
allows one more origin, on another port of its worker's (``Runtime.page_origin``), for a page
a real browser loads (tests/e2e/test_browser_e2e.py), and serves its portal on a third
(tests/e2e/test_portal_e2e.py): the local web client's port 5173 may be another checkout's or a
developer's.

The runtime runs in memory with its schedules off (tests fire them through
``/_local/schedules``); its output goes to a file, shown when it fails to start.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from local_runtime.payment_standin import LOCAL_SECRET_KEY, iter_pages
from local_runtime.template import ROOT
from tests.conftest import worker_port
from tests.e2e.chromium import browser  # noqa: F401 - the browser tests' fixture
from tests.route_examples import billing_details, registrant

START_TIMEOUT_SECONDS = 90.0
STOP_TIMEOUT_SECONDS = 30.0
READY_LINE = "local runtime ready on http://127.0.0.1:{port}"


@dataclass
class Runtime:
    """The running local runtime and small helpers to call it."""

    url: str
    log_path: Path
    payments_url: str = ""  # the runtime's payment provider stand-in (Stripe's API)
    # An origin the runtime allows besides the local web client's (a port of this worker's own,
    # free for a test page to be served from; ``--allow-origin``).
    page_origin: str = ""
    # The runtime's own portal (web/), on a port of this worker's (``--portal-port``).
    portal_url: str = ""

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        return self.send(method, self.url + path, json=json, headers=sent, timeout=60, **kwargs)

    def send(self, method: str, url: str, *, timeout: float, **kwargs: Any) -> requests.Response:
        """One HTTP request (a connection of its own; a benchmark may keep one instead)."""
        return requests.request(method, url, timeout=timeout, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def token(self, sub: str, account_id: str | None, role: str) -> str:
        response = self.post("/_local/token", json={"sub": sub, "account_id": account_id, "role": role})
        response.raise_for_status()
        return str(response.json()["token"])

    def create_campaign(self, prefix: str, **changes: Any) -> str:
        """A fresh voucher campaign (unique id, far deadline) created by staff; returns its id."""
        campaign_id = f"{prefix}-{uuid.uuid4().hex[:8]}"
        deal = {
            "campaign_id": campaign_id,
            "name": "Test deal",
            "price": {"amount": 5900, "currency": "USD"},
            "redeem_by": "2099-12-31T23:59:59",
            "time_zone": "Europe/Sofia",
            **changes,
        }
        created = self.post("/admin/campaigns", json=deal, token=self.token("staff-1", None, "staff"))
        assert created.status_code == 201, created.text
        return campaign_id

    def campaign_counts(self, campaign_id: str, codes: dict[str, int], seconds: float = 30.0) -> dict[str, Any]:
        """``GET /admin/campaigns/{id}`` once its ``codes`` are ``codes``, polled: the redeemed count and
        abuse signals are counted from the Vouchers table's stream, moments after the requests."""
        staff = self.token("staff-1", None, "staff")
        deadline = time.monotonic() + seconds
        while True:
            seen = self.get(f"/admin/campaigns/{campaign_id}", token=staff)
            assert seen.status_code == 200, seen.text
            if seen.json()["codes"] == codes:
                return dict(seen.json())
            assert time.monotonic() < deadline, f"counts {seen.json()['codes']} never became {codes}"
            time.sleep(0.1)  # between polls of the counts

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def provider_objects(self, kind: str, **query: str) -> list[dict[str, Any]]:
        """Every object of a kind (``customers``, ``payment_intents``, ``refunds``, ``events``) at the
        runtime's payment stand-in, through Stripe's list API with the runtime's key; newest first."""

        def page(after: str | None) -> dict[str, Any]:
            params = {**query, "limit": "100", **({"starting_after": after} if after else {})}
            answer = requests.get(
                f"{self.payments_url}/v1/{kind}",
                params=params,
                headers={"Authorization": f"Bearer {LOCAL_SECRET_KEY}"},
                timeout=30,
            )
            answer.raise_for_status()
            listed: dict[str, Any] = answer.json()
            return listed

        return list(iter_pages(page))

    def provider_object(self, kind: str, object_id: str) -> dict[str, Any]:
        """One object at the runtime's payment stand-in, as Stripe's retrieve answers it (a
        deleted customer: a stub with ``deleted: true``)."""
        answer = requests.get(
            f"{self.payments_url}/v1/{kind}/{object_id}",
            headers={"Authorization": f"Bearer {LOCAL_SECRET_KEY}"},
            timeout=30,
        )
        answer.raise_for_status()
        found: dict[str, Any] = answer.json()
        return found

    def provider_customer_of(self, account_id: str) -> dict[str, Any]:
        """The account's customer at the payment stand-in (by the metadata the service gives it)."""
        (customer,) = [
            c for c in self.provider_objects("customers") if c.get("metadata", {}).get("account_id") == account_id
        ]
        return customer


def _wait_until_ready(process: subprocess.Popen[bytes], log_path: Path, ready: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        output = log_path.read_text(encoding="utf-8", errors="replace")
        if ready in output:
            return
        if process.poll() is not None:
            pytest.fail(f"the local runtime exited with {process.returncode}:\n{output}", pytrace=False)
        time.sleep(0.2)
    pytest.fail(f"the local runtime was not ready in {START_TIMEOUT_SECONDS:.0f} s:\n{output}", pytrace=False)


def _stop(process: subprocess.Popen[bytes]) -> None:
    # SIGTERM lets it stop what it started (DynamoDB Local's JVM) and wait for it.
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def start_runtime(data_dir: Path, port: int | None = None, options: tuple[str, ...] = ()) -> Iterator[Runtime]:
    """A ``python -m local_runtime`` of its own (in memory, schedules off, more ``options`` of its
    command line), stopped on exit.

    The session's ``runtime`` is one; a module whose traffic, rate limits or clock must
    not reach other tests (the fuzzer) starts another with its own ``data_dir``.
    """
    port = port or worker_port()
    payment_port = worker_port()
    page_origin = f"http://127.0.0.1:{worker_port()}"
    portal_port = worker_port()
    log_path = data_dir / "runtime.log"
    command = [
        sys.executable,
        "-m",
        "local_runtime",
        "--port",
        str(port),
        "--in-memory",
        "--no-schedules",
        "--data-dir",
        str(data_dir),
        "--dynamodb-port",
        str(worker_port()),
        "--payment-port",
        str(payment_port),
        "--allow-origin",
        page_origin,
        "--portal-port",
        str(portal_port),
        *options,
    ]
    # The runtime sets its own environment; PORT would only compete with --port.
    env = {name: value for name, value in os.environ.items() if name != "PORT"}
    with log_path.open("wb") as log:
        # S603 is moot: the command is this interpreter and this repository's own module.
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        _wait_until_ready(process, log_path, READY_LINE.format(port=port))
        yield Runtime(
            url=f"http://127.0.0.1:{port}",
            log_path=log_path,
            payments_url=f"http://127.0.0.1:{payment_port}",
            page_origin=page_origin,
            portal_url=f"http://localhost:{portal_port}",
        )
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    with start_runtime(tmp_path_factory.mktemp("local-runtime")) as started:
        yield started


@pytest.fixture
def real_time(runtime: Runtime) -> Iterator[None]:
    """The runtime is shared: the next test starts on real time whatever this one did."""
    yield
    set_clock(runtime, None)


# ---------------------------------------------------------------- accounts


@dataclass
class Owned:
    """An account a test made: its id, its owner's token, the tag of its addresses, the signup's
    (or redemption's) answer and, once paid, the invoice the card paid."""

    id: str
    owner: str
    tag: str
    body: dict[str, Any] = field(default_factory=dict)
    invoice: dict[str, Any] | None = None
    code: str | None = None  # the voucher code it was redeemed with

    def path(self, tail: str = "") -> str:
        return f"/accounts/{self.id}{tail}"


def set_clock(runtime: Runtime, instant: datetime | None) -> None:
    """The runtime's clock at ``instant`` (None: real time again)."""
    now = instant.strftime("%Y-%m-%dT%H:%M:%SZ") if instant is not None else None
    runtime.put("/_local/clock", json={"now": now}).raise_for_status()


def _owned(runtime: Runtime, answer: requests.Response, tag: str) -> Owned:
    assert answer.status_code == 201, answer.text
    body = answer.json()
    return Owned(body["id"], runtime.token(body["owner_id"], body["id"], "owner"), tag, body)


def _prefixed(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def give_details_and_card(runtime: Runtime, account: Owned, details: dict[str, Any] | None = None) -> Owned:
    """Billing details (``details``, else route_examples' of the tag) and a card (R-PAY-4)."""
    given = runtime.put(
        account.path("/billing-details"), json=details or billing_details(account.tag), token=account.owner
    )
    assert given.status_code == 200, given.text
    paid = runtime.put(account.path("/payment-method"), json={"type": "card", "token": "tok_visa"}, token=account.owner)
    assert paid.status_code == 200, paid.text
    account.invoice = paid.json()["invoice"]
    return account


@pytest.fixture
def paying_account(runtime: Runtime) -> Callable[..., Owned]:
    """Makes a subscription whose first period a card paid: a signup (the ticket plan, monthly,
    unless ``signup`` says otherwise) at ``at`` (None: the runtime's clock as it is), billing
    details (``details``, else route_examples' of the tag) and a card. Returns the account."""

    def make(prefix: str, *, at: datetime | None = None, details: dict[str, Any] | None = None, **signup: Any) -> Owned:
        tag = _prefixed(prefix)
        if at is not None:
            set_clock(runtime, at)
        body = registrant(tag, **{"plan": "ticket", "billing_period": "monthly", **signup})
        account = _owned(runtime, runtime.post("/signups", json=body), tag)
        return give_details_and_card(runtime, account, details)

    return make


@pytest.fixture
def voucher_account(runtime: Runtime) -> Callable[..., Owned]:
    """Makes a lifetime account by redeeming ``code`` (a fresh campaign's first code if None)."""

    def make(prefix: str, code: str | None = None, **redemption: Any) -> Owned:
        if code is None:
            campaign_id = runtime.create_campaign(prefix)
            staff = runtime.token("staff-1", None, "staff")
            codes = runtime.post(f"/admin/campaigns/{campaign_id}/codes", json={"count": 1}, token=staff)
            assert codes.status_code == 201, codes.text
            code = codes.json()["codes"][0]
        tag = _prefixed(prefix)
        account = _owned(runtime, runtime.post("/redemptions", json=registrant(tag, code=code, **redemption)), tag)
        account.code = code
        return account

    return make

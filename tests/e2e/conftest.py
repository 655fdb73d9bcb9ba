"""End-to-end tier: one ``python -m local_runtime`` for the session, driven over HTTP.

Under xdist the tests on the session's runtime share one worker (tests/conftest.py), and
every runtime listens, and starts its DynamoDB Local, on ports of its worker's own.

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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from local_runtime.template import ROOT
from tests.conftest import worker_port

START_TIMEOUT_SECONDS = 90.0
STOP_TIMEOUT_SECONDS = 30.0
READY_LINE = "local runtime ready on http://127.0.0.1:{port}"


def registrant(tag: str, **changes: Any) -> dict[str, Any]:
    """A valid signup or redemption body; its email and company are unique to ``tag``."""
    return {
        "full_name": "Maria Ivanova",
        "email": f"{tag}@example.com",
        "company_name": f"Company {tag}",
        "birth_date": "1990-05-17",
        "accept_terms": True,
        "authority_to_bind": True,
        "human_token": "human",
        **changes,
    }


@dataclass
class Runtime:
    """The running local runtime and small helpers to call it."""

    url: str
    log_path: Path

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

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


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
def start_runtime(data_dir: Path, port: int | None = None) -> Iterator[Runtime]:
    """A ``python -m local_runtime`` of its own (in memory, schedules off), stopped on exit.

    The session's ``runtime`` is one; a module whose traffic, rate limits or clock must
    not reach other tests (the fuzzer) starts another with its own ``data_dir``.
    """
    port = port or worker_port()
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
    ]
    # The runtime sets its own environment; PORT would only compete with --port.
    env = {name: value for name, value in os.environ.items() if name != "PORT"}
    with log_path.open("wb") as log:
        # S603 is moot: the command is this interpreter and this repository's own module.
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        _wait_until_ready(process, log_path, READY_LINE.format(port=port))
        yield Runtime(url=f"http://127.0.0.1:{port}", log_path=log_path)
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    with start_runtime(tmp_path_factory.mktemp("local-runtime")) as started:
        yield started

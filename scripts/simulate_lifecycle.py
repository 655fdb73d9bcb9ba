"""A scripted walk through accounts' lives, printed as a timeline (R-PAY-3, R-TERM-1, R-TERM-3,
R-TERM-6, R-GDPR-2).

Starts the local runtime (in memory, schedules off), then drives its clock and schedules
over HTTP exactly as a developer would with ``PUT /_local/clock`` and ``POST
/_local/schedules/{name}``: a trial that expires and is abandoned (inactivity warning,
termination, purge), and a paying customer who stops the account (purge, then retention
ten years on). Every step prints the clock, what happened and the notices it sent.

    make simulate
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from local_runtime.dynamodb_local import free_port  # noqa: E402

START = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)


class Runtime:
    def __init__(self) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            # No portal: it drives the API only, and 5173 may be a developer's make run.
            [
                sys.executable,
                "-m",
                "local_runtime",
                "--in-memory",
                "--no-schedules",
                "--port",
                str(self.port),
                "--portal-port",
                "0",
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.seen: set[str] = set()
        assert self.process.stdout is not None
        deadline = time.monotonic() + 120
        for line in self.process.stdout:
            if b"local runtime ready" in line:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("the local runtime did not start")

    def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - localhost
                text = response.read()
                return response.status, json.loads(text) if text else None
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def at(self, instant: datetime) -> None:
        self.call("PUT", "/_local/clock", {"now": instant.strftime("%Y-%m-%dT%H:%M:%SZ")})

    def token(self, account: dict[str, Any]) -> str:
        claims = {"sub": account["owner_id"], "account_id": account["id"], "role": "owner"}
        return str(self.call("POST", "/_local/token", claims)[1]["token"])

    def schedule(self, name: str) -> dict[str, Any]:
        summary: dict[str, Any] = self.call("POST", f"/_local/schedules/{name}", {})[1]
        return summary

    def new_notices(self) -> list[str]:
        items = self.call("GET", "/_local/outbox")[1]["items"]
        fresh = [item for item in items if item["id"] not in self.seen]
        self.seen.update(item["id"] for item in fresh)
        return [f"{item['type']} → {item['to']}" for item in fresh]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def say(runtime: Runtime, instant: datetime, what: str, outcome: str) -> None:
    print(f"{instant:%Y-%m-%d %H:%M}  day {(instant - START).days:>4}  {what:44} {outcome}")
    for notice in runtime.new_notices():
        print(f"{'':24}{'':44}   notice: {notice}")


def signup(runtime: Runtime, tag: str, plan: str) -> dict[str, Any]:
    body = {
        "full_name": f"Owner {tag}",
        "email": f"owner-{tag}@example.com",
        "company_name": f"Company {tag}",
        "birth_date": "1985-05-05",
        "accept_terms": True,
        "authority_to_bind": True,
        "plan": plan,
        "billing_period": "monthly",
        "human_token": "human",
    }
    status, account = runtime.call("POST", "/signups", body)
    assert status == 201, account
    return dict(account)


def status_of(runtime: Runtime, account: dict[str, Any], token: str) -> str:
    code, body = runtime.call("GET", f"/accounts/{account['id']}", token=token)
    return f"{body['status']} (access {body['access']})" if code == 200 else f"{code} {body['code']}"


def main() -> int:
    runtime = Runtime()
    try:
        run(runtime)
    finally:
        runtime.stop()
    return 0


def run(runtime: Runtime) -> None:
    runtime.new_notices()  # the outbox file outlives in-memory runs: earlier notices are not this run's
    print(f"{'clock':16}  {'':8}  {'step':44} outcome")
    when = START
    runtime.at(when)
    abandoned, paying = signup(runtime, "abandoned", "ticket"), signup(runtime, "paying", "ticket-chat")
    a_token, p_token = runtime.token(abandoned), runtime.token(paying)
    say(runtime, when, "two trials sign up", f"{abandoned['subdomain']}, {paying['subdomain']}: trialing")

    when = START + timedelta(days=2)
    runtime.at(when)
    details = {
        "first_name": "Petar",
        "last_name": "Petrov",
        "email": "billing@example.com",
        "company": "Company paying",
        "address": {"street": "1 Main St", "city": "Bratislava", "postal_code": "81101", "country": "SK"},
        "company_registration": "12345678",
    }
    runtime.call("PUT", f"/accounts/{paying['id']}/billing-details", details, p_token)
    _, paid = runtime.call(
        "PUT", f"/accounts/{paying['id']}/payment-method", {"type": "card", "token": "tok_visa"}, p_token
    )
    invoice = paid["invoice"]
    say(
        runtime,
        when,
        "paying owner adds a card (R-PAY-4)",
        f"active, {invoice['number']} {invoice['total']['amount']} cents",
    )

    for days, name, what in (
        (15, "trial-sweep", "trial sweep (R-PAY-3)"),
        (29, "inactivity-sweep", "inactivity sweep after 4 weeks (R-TERM-6)"),
        (57, "inactivity-sweep", "inactivity sweep after 8 weeks (R-TERM-6)"),
        (57, "purge-sweep", "purge sweep (R-TERM-3)"),
    ):
        when = START + timedelta(days=days, hours=1)
        runtime.at(when)
        summary = runtime.schedule(name)
        say(runtime, when, what, f"changed {summary['changed']}; abandoned: {status_of(runtime, abandoned, a_token)}")

    when = START + timedelta(days=60)
    runtime.at(when)
    runtime.call("POST", f"/accounts/{paying['id']}/sessions", {"device_id": "laptop"}, p_token)
    _, cancelled = runtime.call("POST", f"/accounts/{paying['id']}/cancel", {}, p_token)
    say(runtime, when, "paying owner stops the account (R-TERM-1)", f"{cancelled['status']}")
    when += timedelta(hours=1)
    runtime.at(when)
    summary = runtime.schedule("purge-sweep")
    say(runtime, when, "purge sweep (R-TERM-3)", f"changed {summary['changed']}; {status_of(runtime, paying, p_token)}")

    when = START + timedelta(days=60 + 365 * 10 + 3, hours=2)
    runtime.at(when)
    summary = runtime.schedule("retention-sweep")
    say(
        runtime, when, "retention sweep, ten years on (R-GDPR-2)", f"kept invoices masked: changed {summary['changed']}"
    )


if __name__ == "__main__":
    sys.exit(main())

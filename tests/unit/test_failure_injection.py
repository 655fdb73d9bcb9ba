"""Failure injection over moto (hardening): DynamoDB throttles and cancelled transactions
surface as 503 with Retry-After, never as a lost write or a half-done state; a notice the
email provider refuses stays in the outbox (the Notifications table, unsent) for a retry.

Every DynamoDB call the service makes (pynamodb's models, the transactions' connection,
Powertools' idempotency store) goes through ``tests.faults.FaultInjector``. For each route
or sweep a clean run is made once from a saved state, counting its calls; then, from the
same state each time, its N-th call is throttled, for every N. The design guarantees one
of two outcomes, and each run is checked for one of them:

- **nothing changed, the retry does it all**: the answer is 503 ``service_unavailable``
  with Retry-After (a sweep counts the item in ``errors`` and leaves it due, or its
  invocation fails for EventBridge to retry), the tables (but the idempotency store and
  the rate-limit counters, which count attempts) are as before, no charge stands but one
  the retry replays; the retry with the same ``Idempotency-Key`` (the next run, for a
  sweep) then does the whole work once;
- **done, then interrupted** (the throttle hit after the commit): the answer is the success
  itself (a notice's "sent" mark, the idempotency store's save of the answer: the work is
  done and the client is not asked to repeat it) or 503, and then the retry converges, a
  second after or once the first invocation's Lambda timeout let Powertools run it again.
  It may answer the route's "already done" conflict (409 ``user_exists``): the work was
  done.

Either way the final state is exactly the clean run's: every item of every table, every
charge and refund at the payment provider (its stand-in), every notice sent, with generated ids, shards
and instants masked. One exception is by design (RULES.md "Notify", at least once): a
notice sent whose "sent" mark was throttled stays unsent for the retry sweep.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.models import dynamodb_backends

from lifecycle import notifications, storage
from lifecycle.accounts import terms
from lifecycle.core import clock
from lifecycle.core.settings import get_settings
from lifecycle.entry import http
from lifecycle.storage import Notification, transactions
from lifecycle.vouchers.campaigns import CampaignInput, create_campaign
from local_runtime import template
from local_runtime.payment_standin import Book
from tests import figures, support
from tests.conftest import Ledger, new_payment_key, payment_environment, payment_standin, point_service_at
from tests.faults import CANCELLED, THROTTLES, Fault, FaultInjector
from tests.support import Reply, billing_details_body, call, deliver_notices, outbox_items, owner_of, pay, run_schedule
from tests.unit.conftest import create_tables
from tests.unit.test_campaigns import TERMS_DEAL
from tests.unit.test_signup import NOW, TRIAL, add_voucher, person

pytestmark = pytest.mark.hardening

REGION = "eu-central-1"
KEY = {"idempotency-key": "fault-1"}
# The first invocation's Lambda timeout, after which Powertools runs a retry of an
# in-progress key again (the template's API function timeouts are at most 30 s).
LAMBDA_TIMEOUT = timedelta(seconds=30)
RETRIES = 4
RETRY_DELAY = timedelta(seconds=1)  # a retry comes later: an instant-keyed purpose is new


# ---------------------------------------------------------------- a world to restore


@dataclass
class World:
    outbox: Path
    provider: Ledger
    context: dict[str, Any] = field(default_factory=dict)
    _tables: Any = None
    _now: Any = None
    _files: dict[Path, bytes | None] = field(default_factory=dict)
    _book: Book | None = None
    _checkpoints: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)

    def save(self) -> None:
        # The notifier's stream position is part of the state (a restored stream is read again).
        self._checkpoints = dict(support._checkpoints)
        self._now = clock.now()
        self._tables = copy.deepcopy(_backend().tables)
        self._files = {self.outbox: self.outbox.read_bytes() if self.outbox.exists() else None}
        self._book = self.provider.book()

    def restore(self) -> None:
        """Back to the state ``save`` kept: tables, the provider's account, outbox, the clock, cold caches."""
        _backend().tables = copy.deepcopy(self._tables)
        support._checkpoints.clear()
        support._checkpoints.update(self._checkpoints)
        assert self._book is not None
        payment_standin().restore(self.provider.api_key, self._book)
        for path, content in self._files.items():
            if content is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(content)
        clock.set_now(self._now)
        terms._cache_clear()


def _backend() -> Any:
    return dynamodb_backends["123456789012"][REGION]


@contextmanager
def world_at(base: Path) -> Iterator[World]:
    """Fresh moto tables from template.yaml, this test's own outbox and account at the payment stand-in."""
    base.mkdir(parents=True, exist_ok=True)
    with pytest.MonkeyPatch.context() as patch, mock_aws():
        create_tables(boto3.client("dynamodb", region_name=REGION), template.Resolver(template.load()))
        world = World(base / "outbox.jsonl", Ledger(new_payment_key()))
        point_service_at({"LOCAL_OUTBOX_PATH": str(world.outbox), **payment_environment(world.provider.api_key)}, patch)
        clock.set_now(NOW)
        terms._cache_clear()
        try:
            yield world
        finally:
            clock.set_now(None)
    get_settings.cache_clear()
    http._persistence.cache_clear()
    storage.configure(get_settings())


# ---------------------------------------------------------------- comparing states

_ID = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[A-Za-z]*_?[0-9a-f]{16,}(_[0-9a-f]{8})?"
)
_INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)?")
# Seconds prorated to the instant (R-PAY-5): "22,852,800 of its ...", "seconds": 22852800.
_SECONDS = re.compile(r'\d{1,3}(,\d{3})+|(?<=seconds\\": )\d+|(?<=seconds": )\d+')


def _masked(item: dict[str, Any]) -> str:
    """An item with what differs between two equal runs masked: ids, shards (of ids),
    instants and the seconds prorated to them (a retry comes a second later); amounts stay."""
    shown = {name: "<shard>" if name.endswith("_shard") or name == "trial_sweep" else v for name, v in item.items()}
    return _SECONDS.sub("<s>", _INSTANT.sub("<t>", _ID.sub("<id>", json.dumps(shown, sort_keys=True))))


def state(world: World) -> dict[str, list[str]]:
    """Every table but the idempotency store and the rate-limit counters (both count
    attempts, not work), the payment provider's objects and the outbox."""
    settings = get_settings()
    # The outbox first: reading it delivers what the Notifications stream holds, which marks
    # those notices sent; the tables are then read as delivery left them.
    outbox = sorted(_masked(notice) for notice in outbox_items(world.outbox))
    found: dict[str, list[str]] = {}
    # Read from moto's store directly (a test-only full read, much faster than Scans).
    for name, table in _backend().tables.items():
        if name not in {settings.idempotency_table, settings.rate_limits_table}:
            found[name] = sorted(_masked(item.to_json()["Attributes"]) for item in table.all_items())
    found["outbox"] = outbox
    found["payments"] = sorted(_masked(item) for item in _money_kept(world.provider.book()))
    return found


def _money_kept(book: Book) -> list[dict[str, Any]]:
    """The provider's customers, payment methods, payment intents and refunds, but the charges
    refunded in full and their refunds: what a customer pays (an interrupted charge refunded,
    then charged again by the retry, is one charge). Partial refunds (R-CREDIT-2) stay."""
    amounts = {intent["id"]: intent["amount"] for intent in book.payment_intents.values()}
    undone = {
        refund["payment_intent"]
        for refund in book.refunds.values()
        if refund["amount"] == amounts.get(refund["payment_intent"])
    }
    kept: list[dict[str, Any]] = [
        {"customer": customer.get("email"), "metadata": customer.get("metadata")}
        for customer in book.customers.values()
    ]
    kept += [{"method": method["type"], "customer": method["customer"]} for method in book.payment_methods.values()]
    kept += [
        {"intent": intent["status"], "amount": intent["amount"], "description": intent["description"]}
        for intent in book.payment_intents.values()
        if intent["id"] not in undone
    ]
    kept += [
        {"refund": refund["amount"], "intent": refund["payment_intent"]}
        for refund in book.refunds.values()
        if refund["payment_intent"] not in undone
    ]
    return kept


def differences(expected: dict[str, list[str]], seen: dict[str, list[str]]) -> dict[str, Any]:
    """Per table: the items missing from ``seen`` and the ones it has in addition."""
    diff = {}
    for name in sorted(set(expected) | set(seen)):
        want, got = expected.get(name, []), seen.get(name, [])
        if want != got:
            missing = [item for item in want if item not in got]
            extra = [item for item in got if item not in want]
            diff[name.removeprefix("helpdesk-local-")] = {"missing": missing, "extra": extra}
    return diff


def _expire_in_progress() -> None:
    """The first invocation's Lambda timeout passes: Powertools' in-progress record no
    longer blocks a retry (it stays when the throttle hit the store's own save)."""
    client = boto3.client("dynamodb", region_name=REGION)
    table = get_settings().idempotency_table
    for item in client.scan(TableName=table)["Items"]:
        if item.get("status", {}).get("S") == "INPROGRESS":
            client.update_item(
                TableName=table,
                Key={"id": item["id"]},
                UpdateExpression="SET in_progress_expiration = :past",
                ExpressionAttributeValues={":past": {"N": "0"}},
            )
    clock.set_now(clock.now() + LAMBDA_TIMEOUT)


# ---------------------------------------------------------------- routes and sweeps


def _signup(n: int = 9, billing_period: str = "monthly") -> dict[str, Any]:
    body = {**TRIAL, "email": f"sub{n}@example.com", "company_name": f"Sub {n}", "billing_period": billing_period}
    reply = call("POST", "/signups", body=body)
    assert reply.status == 201, reply.body
    return dict(reply.body)


def _trial(world: World) -> None:
    world.context["account"] = _signup()


def _with_details(world: World) -> None:
    account = _signup()
    claims = owner_of(account)
    given = call("PUT", f"/accounts/{account['id']}/billing-details", body=billing_details_body(), claims=claims)
    assert given.status == 200, given.body
    world.context["account"] = account


def _paying(world: World) -> None:
    account = _signup()
    assert pay(account).status == 200
    world.context["account"] = account


def _paying_annual(world: World) -> None:
    """An annual subscription, first year paid: an upgrade charges the prorated difference."""
    account = _signup(billing_period="annual")
    assert pay(account).status == 200
    world.context["account"] = account
    clock.set_now(NOW + timedelta(days=100))


def _with_credit(world: World) -> None:
    """A paying account with prepaid credit: cancelling it refunds half of what is left (R-CREDIT-2)."""
    _paying(world)
    account = world.context["account"]
    body = {"amount": {"amount": 10_000, "currency": "USD"}}
    bought = call("POST", f"/accounts/{account['id']}/credit", body=body, claims=owner_of(account))
    assert bought.status == 201, bought.body
    clock.set_now(NOW + timedelta(days=40))  # the credit runs from the paid period's end


def _voucher(world: World) -> None:
    """A code of a stored campaign (its redeemed count comes from the Vouchers stream, not the redemption)."""
    create_campaign(CampaignInput.model_validate(TERMS_DEAL), created_by="staff-1", now=NOW)
    add_voucher("FAULT-0000-0001", campaign_id=str(TERMS_DEAL["campaign_id"]))


def _trial_ended(world: World) -> None:
    _signup()
    clock.set_now(NOW + timedelta(days=15))


def _extra_seat_due(world: World) -> None:
    add_voucher("FAULT-0000-0002")
    redeemed = call("POST", "/redemptions", body=person(code="FAULT-0000-0002", email="deal@example.com"))
    assert redeemed.status == 201, redeemed.body
    account = dict(redeemed.body)
    for n in (1, 2):  # the second seat is the package's, the third an extra one (R-VOUCH-6)
        body = {"full_name": "Petar Georgiev", "email": f"agent{n}@example.com", "role": "agent"}
        added = call("POST", f"/accounts/{account['id']}/users", body=body, claims=owner_of(account))
        assert added.status == 201, added.body
    assert pay(account).status == 200
    clock.set_now(NOW + timedelta(days=30, hours=1))  # past the first period's end: bill the extra seat


def _on(method: str, path: str, body: Any = None) -> Callable[[World, dict[str, str]], Reply]:
    def request(world: World, headers: dict[str, str]) -> Reply:
        account = world.context.get("account")
        claims = owner_of(account) if account else None
        where = path.format(id=account["id"]) if account else path
        return call(method, where, body=body, claims=claims, headers=headers)

    return request


@dataclass
class Scenario:
    name: str
    rules: str
    setup: Callable[[World], None]
    status: int  # the success status; 0 for a sweep
    request: Callable[[World, dict[str, str]], Reply] | None = None
    schedule: str | None = None


SCENARIOS = [
    Scenario("POST /signups", "R-PAY-2", lambda world: None, 201, _on("POST", "/signups", TRIAL)),
    Scenario(
        "POST /redemptions",
        "R-VOUCH-1 R-VOUCH-2",
        _voucher,
        201,
        _on("POST", "/redemptions", person(code="FAULT-0000-0001")),
    ),
    Scenario(
        "POST /accounts/{id}/users",
        "R-USE-3",
        _trial,
        201,
        _on(
            "POST", "/accounts/{id}/users", {"full_name": "Petar Georgiev", "email": "a1@example.com", "role": "agent"}
        ),
    ),
    Scenario(
        "PUT /accounts/{id}/payment-method",
        "R-PAY-4 R-PAY-11 R-PAY-12",
        _with_details,
        200,
        _on("PUT", "/accounts/{id}/payment-method", {"type": "card", "token": "tok_visa"}),
    ),
    Scenario("POST /accounts/{id}/cancel", "R-TERM-1", _paying, 200, _on("POST", "/accounts/{id}/cancel")),
    Scenario(
        "POST /accounts/{id}/cancel (credit left)",
        "R-TERM-1 R-CREDIT-2",
        _with_credit,
        200,
        _on("POST", "/accounts/{id}/cancel"),
    ),
    Scenario(
        "POST /accounts/{id}/credit",
        "R-CREDIT-1",
        _paying,
        201,
        _on("POST", "/accounts/{id}/credit", {"amount": {"amount": 10_000, "currency": "USD"}}),
    ),
    Scenario(
        "PUT /accounts/{id}/subscription",
        "R-PAY-5",
        _paying_annual,
        200,
        _on("PUT", "/accounts/{id}/subscription", {"plan": "ticket-chat"}),
    ),
    Scenario("trial-sweep", "R-PAY-3", _trial_ended, 0, schedule="trial-sweep"),
    Scenario("billing-run", "R-VOUCH-6 R-PAY-11", _extra_seat_due, 0, schedule="billing-run"),
]


@dataclass
class Attempt:
    status: int  # HTTP status, or for a sweep 200 (clean summary), 207 (errors counted), 503 (raised a throttle)
    code: str | None
    retry_after: str | None
    errors: int = 0


def attempt(scenario: Scenario, world: World) -> Attempt:
    if scenario.request is not None:
        reply = scenario.request(world, KEY)
        return Attempt(reply.status, reply.code, reply.headers.get("retry-after"))
    assert scenario.schedule is not None
    try:
        summary = run_schedule(scenario.schedule)
    except Exception as exc:  # the invocation fails: EventBridge (and the next run) try again
        if not transactions.is_transient(exc):
            raise  # anything but the throttle is a bug
        return Attempt(503, "invocation_failed", None)
    return Attempt(207 if summary["errors"] else 200, None, None, summary["errors"])


def retried(scenario: Scenario, world: World) -> list[Attempt]:
    """Retries as a client (same Idempotency-Key) or the schedule (the next run) makes them,
    until one completes."""
    seen = []
    for _ in range(RETRIES):
        clock.set_now(clock.now() + RETRY_DELAY)
        again = attempt(scenario, world)
        seen.append(again)
        if again.code == "idempotency_in_progress":
            _expire_in_progress()
            continue
        if again.status in {503, 207}:
            continue
        break
    return seen


# Statuses a retry may answer when the interrupted attempt had done the work.
ALREADY_DONE: dict[str, set[tuple[int, str | None]]] = {
    "POST /signups": {(409, "subdomain_taken"), (409, "email_taken")},
    "POST /redemptions": {(409, "voucher_already_redeemed")},
    "POST /accounts/{id}/users": {(409, "user_exists")},
}


@dataclass
class Tally:
    faults: int = 0
    answered_503: int = 0
    absorbed: int = 0
    untouched: int = 0
    converged: int = 0
    left_unsent: int = 0
    notices_kept: int = 0
    half_done: list[str] = field(default_factory=list)


TALLY = Tally()
ROUTES_DONE: set[str] = set()


_DELIVERY = {"sent_at", "provider_message_id", "attempts", "last_error", "unsent_shard"}


def _but_delivery(found: dict[str, list[str]]) -> dict[str, list[str]]:
    """``found`` without the notices' delivery fields (whether and when the email went out)."""
    table = get_settings().notifications_table
    undelivered = [{k: v for k, v in json.loads(item).items() if k not in _DELIVERY} for item in found.get(table, [])]
    return {**found, table: sorted(json.dumps(item, sort_keys=True) for item in undelivered)}


def check_one(scenario: Scenario, world: World, index: int, fault: Fault, clean: dict[str, list[str]]) -> None:
    """One run with ``fault``, then, unless it answered the success, the retries; the
    outcome is tallied, and anything but the design's two outcomes is a half-done state."""
    world.restore()
    before = state(world)
    with FaultInjector(fault) as faults:
        first = attempt(scenario, world)
    label = f"{scenario.name} #{index} {faults.calls[index - 1].operation if len(faults.calls) >= index else '?'}"
    assert faults.injected, f"{label}: the call was not made"
    TALLY.faults += 1
    after = state(world)
    success = scenario.status or 200
    again: list[Attempt] = []
    if first.status == success and first.errors == 0:
        TALLY.absorbed += 1  # e.g. a notice's "sent" mark: the request does not fail for it
        final = after
    else:
        assert first.status in {503, 207}, (label, first)
        if scenario.request is not None:
            assert (first.code, first.retry_after) == ("service_unavailable", "1"), (label, first)
        TALLY.answered_503 += 1
        if after == before:
            TALLY.untouched += 1
        again = retried(scenario, world)
        final = state(world)
        last = again[-1]
        allowed: set[tuple[int, str | None]] = {(success, None)}
        if after != before:  # done, then interrupted: the retry may find it done
            allowed |= ALREADY_DONE.get(scenario.name, set())
        if (last.status, last.code) not in allowed:
            TALLY.half_done.append(f"{label}: first {first}, retries {again}: not completed")
            return
    if final == clean:
        TALLY.converged += after != before
    elif _but_delivery(final) == _but_delivery(clean):
        TALLY.left_unsent += 1  # sent, but the "sent" mark was throttled: kept for the retry sweep
    else:
        TALLY.half_done.append(f"{label}: first {first}, retries {again}, diff {differences(clean, final)}")


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: f"{s.name} {s.rules}")
def test_a_throttle_at_any_call_is_a_503_with_retry_after_and_never_half_done(
    scenario: Scenario, tmp_path: Path
) -> None:
    """Hardening: each of the clean run's DynamoDB calls throttled in turn (provisioned
    throughput and request throttling); every outcome is "nothing changed, the retry does
    it" or "done, the retry (if the answer asked for one) converges to the clean run's
    state" (module doc)."""
    with world_at(tmp_path) as world:
        scenario.setup(world)
        world.save()
        world.restore()
        with FaultInjector() as dry:
            clean_attempt = attempt(scenario, world)
        assert clean_attempt.status == (scenario.status or 200), clean_attempt
        clean = state(world)
        start = len(TALLY.half_done)
        for index in range(1, len(dry.calls) + 1):
            # Both throttles at every call under HARDENING=1; in ``make test`` they alternate.
            for code in THROTTLES if figures.long_run() else (THROTTLES[index % 2],):
                check_one(scenario, world, index, Fault(code, at=index), clean)
        ROUTES_DONE.add(scenario.name)
        assert TALLY.half_done[start:] == []


# ---------------------------------------------------------------- transactions


def _one(scenario_name: str) -> Scenario:
    (found,) = [s for s in SCENARIOS if s.name == scenario_name]
    return found


TRANSACTIONAL = ["POST /signups", "POST /accounts/{id}/users", "POST /accounts/{id}/credit", "billing-run"]


@pytest.mark.parametrize("name", TRANSACTIONAL)
def test_a_transaction_conflict_is_retried_and_commits_once(name: str, tmp_path: Path) -> None:
    """TransactionCanceledException (TransactionConflict) on the first TransactWriteItems:
    lifecycle.storage.transactions retries it; the answer is the success and the state that of a
    clean run (nothing twice: one account, one charge, one invoice, one notice)."""
    scenario = _one(name)
    with world_at(tmp_path) as world:
        scenario.setup(world)
        world.save()
        world.restore()
        assert attempt(scenario, world).status == (scenario.status or 200)
        clean = state(world)
        world.restore()
        with FaultInjector(Fault(CANCELLED, operation="TransactWriteItems", at=1)) as faults:
            done = attempt(scenario, world)
        assert [c.fault for c in faults.calls if c.operation == "TransactWriteItems"][:2] == [CANCELLED, None]
        assert done.status == (scenario.status or 200), done
        assert differences(clean, state(world)) == {}
        TALLY.faults += 1
        TALLY.converged += 1


@pytest.mark.parametrize("name", TRANSACTIONAL)
@pytest.mark.parametrize(
    ("error", "reason"),
    [(CANCELLED, "TransactionConflict"), (CANCELLED, "ThrottlingError"), ("ThrottlingException", "")],
)
def test_a_transaction_that_keeps_failing_is_a_503_and_changes_nothing(
    name: str, error: str, reason: str, tmp_path: Path
) -> None:
    """Every TransactWriteItems cancelled by a conflict (past the retries), cancelled by a
    throttled item (ThrottlingError) or throttled: 503 with Retry-After (a sweep leaves the
    item due), nothing changed, no charge kept; the retry then does the work once."""
    scenario = _one(name)
    with world_at(tmp_path) as world:
        scenario.setup(world)
        world.save()
        world.restore()
        assert attempt(scenario, world).status == (scenario.status or 200)
        clean = state(world)
        world.restore()
        before = state(world)
        with FaultInjector(Fault(error, operation="TransactWriteItems", reason=reason)) as faults:
            failed = attempt(scenario, world)
        assert faults.injected
        TALLY.faults += len(faults.injected)
        TALLY.answered_503 += 1
        if scenario.request is not None:
            assert (failed.status, failed.code, failed.retry_after) == (503, "service_unavailable", "1"), failed
        else:
            assert failed.status in {503, 207}, failed
        # No table changed; a charge made before the transaction stands only for the retry
        # to replay (its purpose comes again, R-PAY-4's first period, a billing period, a
        # purchase's Idempotency-Key), else it is refunded.
        assert differences(_tables_only(before), _tables_only(state(world))) == {}
        TALLY.untouched += 1
        again = retried(scenario, world)
        assert (again[-1].status, again[-1].code) == ((scenario.status or 200), None), again
        assert differences(clean, state(world)) == {}  # one charge, one invoice, one receipt


def _tables_only(found: dict[str, list[str]]) -> dict[str, list[str]]:
    return {name: items for name, items in found.items() if name not in {"payments", "outbox"}}


# ---------------------------------------------------------------- notices


def _unwelcome(notices: Any) -> list[Any]:
    """The notices but the signup's ``welcome`` (sent before the provider fails) and an added
    user's ``user_invited`` (to the user, not the owner: the provider fails for the owner's only)."""
    return [n for n in notices if (n["type"] if isinstance(n, dict) else n.type) not in ("welcome", "user_invited")]


def _retry_notices() -> dict[str, Any]:
    """One run of the template's ``notification-retry-sweep`` schedule, as EventBridge fires it."""
    return run_schedule("notification-retry-sweep")


def test_a_failed_send_keeps_the_notice_unsent_and_the_retry_sweep_sends_it_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RULES.md "Notify": the email provider failing never fails the request (201) and never
    loses the notice: it stays in the Notifications table, unsent (in the sparse ``unsent``
    index), each attempt counted with the error's class; ``notifications.retry_unsent``
    leaves a young notice to its own invocation, counts another failure, then sends it
    exactly once, and a later run sends nothing."""
    with world_at(tmp_path) as world:
        account = _signup()
        deliver_notices()  # the welcome is sent
        failing = {"on": True}
        original = notifications.OutboxSender.send

        def send(self: notifications.OutboxSender, notice: Any, now: Any) -> str:
            if failing["on"] and notice.to != "a1@example.com":
                raise ConnectionError("provider down")
            return original(self, notice, now)

        monkeypatch.setattr(notifications.OutboxSender, "send", send)
        body = {"full_name": "Petar Georgiev", "email": "a1@example.com", "role": "agent"}
        added = call("POST", f"/accounts/{account['id']}/users", body=body, claims=owner_of(account), headers=KEY)
        assert added.status == 201, added.body  # the provider's failure is not the request's
        deliver_notices()  # the notifier's send fails
        (kept,) = _unwelcome(Notification.query(account["id"], consistent_read=True))
        assert (kept.type, kept.sent_at, kept.attempts, kept.last_error) == (
            "extra_seat_warning",
            None,
            1,
            "ConnectionError",
        )
        assert kept.unsent_shard is not None
        assert _unwelcome(outbox_items(world.outbox)) == []
        listed = call("GET", f"/accounts/{account['id']}/notifications", claims=owner_of(account))
        assert [(n["id"], n["sent_at"]) for n in _unwelcome(listed.body["items"])] == [(kept.id, None)]

        assert _retry_notices()["examined"] == 0  # young: its own invocation may still send it
        clock.set_now(NOW + notifications.RETRY_AFTER)
        assert _retry_notices() == {"examined": 1, "changed": 0, "errors": 0, "next": None}  # fails again
        stored = Notification.get(kept.account_id, kept.notification_key, consistent_read=True)
        assert (stored.sent_at, stored.attempts, stored.last_error) == (None, 2, "ConnectionError")

        failing["on"] = False
        assert _retry_notices() == {"examined": 1, "changed": 1, "errors": 0, "next": None}
        assert _retry_notices()["examined"] == 0  # sent: out of the index
        (sent,) = _unwelcome(outbox_items(world.outbox))
        assert (sent["id"], sent["type"], sent["to"]) == (kept.id, kept.type, kept.to)
        stored = Notification.get(kept.account_id, kept.notification_key, consistent_read=True)
        assert (stored.attempts, stored.last_error, stored.unsent_shard) == (3, None, None)
        assert stored.sent_at == clock.now()
        TALLY.faults += 2
        TALLY.notices_kept += 1


def test_a_throttled_retry_sweep_leaves_the_notice_for_the_next_run(tmp_path: Path) -> None:
    """A notice whose retry meets a throttle (at any call of the sweep) stays unsent and a
    later run sends it: never lost. Sent exactly once, but when the throttle hit the "sent"
    mark after the provider accepted it: then it is sent again (at least once, by design)."""
    with world_at(tmp_path) as world:
        account = _signup()
        deliver_notices()  # the welcome is sent
        notice = notifications.compose(account["id"], "trial_ended", "sub9@example.com", NOW, **_trial_facts())
        notice.save()
        clock.set_now(NOW + notifications.RETRY_AFTER)
        world.save()
        world.restore()
        clock.set_now(NOW + notifications.RETRY_AFTER)
        with FaultInjector() as dry:
            assert _retry_notices()["changed"] == 1
        # The claim and the "sent" mark are both UpdateItems; the mark is the last.
        sent_mark = max(call.index for call in dry.calls if call.operation == "UpdateItem")
        for index in range(1, len(dry.calls) + 1):
            world.restore()
            clock.set_now(NOW + notifications.RETRY_AFTER)
            with FaultInjector(Fault(THROTTLES[index % 2], at=index)) as faults:
                try:
                    first = _retry_notices()
                except Exception as exc:  # a throttled index query fails the run: the next one retries
                    if not transactions.is_transient(exc):
                        raise
                    first = {"changed": 0}
            assert faults.injected
            TALLY.faults += 1
            runs = [first]
            while _unsent_count() and len(runs) < RETRIES:
                # The next run comes later (every 15 minutes), after any claim left by a throttled run.
                clock.set_now(clock.now() + notifications.SEND_LEASE)
                runs.append(_retry_notices())
            assert _unsent_count() == 0, (index, runs)
            # Sent once, or (the "sent" mark throttled) sent and left unsent for the next run
            # to send again: at least once, never lost. The sweep itself never repeats a send.
            sent = [item["id"] for item in outbox_items(world.outbox)]
            assert sent.count(notice.id) == (2 if faults.injected[0].index == sent_mark else 1), index
            TALLY.notices_kept += 1


def _unsent_count() -> int:
    return sum(1 for shard in range(get_settings().sweep_shards) for _ in Notification.unsent.query(str(shard)))


def _trial_facts() -> dict[str, Any]:
    return {"subdomain": "sub-9", "plan": "ticket", "trial_ends_at": NOW}


def test_zz_figures() -> None:
    """The figure line of this module (runs last in the module)."""
    routes = len(ROUTES_DONE)
    figures.record(
        f"failure injection: {TALLY.faults} faults injected into {routes} routes/sweeps and transactions, "
        f"{TALLY.answered_503} answered 503 + Retry-After (or left due), {TALLY.absorbed} absorbed, "
        f"{TALLY.untouched} changed nothing, {TALLY.converged} converged on retry, "
        f"{TALLY.left_unsent} sent notices left marked unsent for the retry sweep, "
        f"{TALLY.notices_kept} failed or throttled sends kept unsent and retried until sent, "
        f"{len(TALLY.half_done)} half-done states"
    )

"""The races that matter, over real concurrent HTTP requests to the local runtime on DynamoDB Local.

Each race releases its requests together (a ``threading.Barrier`` across a thread pool, one
``requests`` call per thread, the runtime's threaded server and its pool of function
environments answering them at once), then checks what is observable: the answers, the
accounts, users and invoices the API shows, the local outbox, and the payment provider's
stand-in (its customers, payment intents and refunds, through Stripe's list API). The races:

- one voucher code and 200 redeemers (R-VOUCH-2): one account, 199 refusals, no 5xx;
- users added at the seat limit (R-USE-3) and across a voucher's included seats (R-VOUCH-5,
  R-VOUCH-6, R-VOUCH-7): never more users than the limit, each billable seat warned once;
- the owners' cards and the trial sweep at the trial's end (R-PAY-3, R-PAY-4): every account
  active, charged once, never stuck;
- "Stop account" while the billing run renews and bills extra seats (R-TERM-1, R-PAY-1,
  R-VOUCH-6, R-PAY-7): every charge that stands has its invoice, nothing charged afterwards;
- two trial sweeps and two billing runs at once (R-PAY-3, R-PAY-1): each account changed,
  told and charged once.

The runtime is shared by the whole e2e session: each test runs on a stretch of time of its own
(``Timeline``) and puts the clock back to real time after (``real_time``). Checks are made per
account, never on the sweeps' global counts, except the two trial sweeps': a run a second
before their trials end first takes what other tests left due.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
import requests

from lifecycle.core import clock
from lifecycle.core.billing_periods import monthly_period
from tests import figures
from tests.e2e.conftest import Owned, Runtime
from tests.route_examples import registrant

pytestmark = [pytest.mark.e2e, pytest.mark.hardening]

TRIAL_DAYS = 14
# A 503 (contention outlasting the service's own retries) carries Retry-After; a client retries.
CLIENT_RETRIES = 8
# Between one owner's "Stop account" and the next, while the billing runs go through the accounts.
CANCEL_STAGGER_SECONDS = 0.15


class Timeline:
    """The instants this module's tests run at, each later than every one handed out before.

    The notices they create thus stay in time order in the shared outbox, which
    ``test_local_runtime`` checks is oldest first: after the tests before this module (the
    billing-run test's notices are at real time + 32 days) and before the fixed dates of the
    ones after (2032 on). Each test's hour is its own, so is the per-IP signup limit's window.
    """

    def __init__(self, first: datetime) -> None:
        self._next = first

    def take(self, days: float) -> datetime:
        """An instant whose next ``days`` are this test's alone."""
        start = self._next
        self._next = start + timedelta(days=days + 1)
        return start


@pytest.fixture(scope="module")
def timeline() -> Timeline:
    return Timeline(datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=60))


# ---------------------------------------------------------------- helpers


def _at(runtime: Runtime, instant: datetime) -> None:
    runtime.put("/_local/clock", json={"now": instant.strftime("%Y-%m-%dT%H:%M:%SZ")}).raise_for_status()


def together[T](calls: list[Callable[[], T]]) -> list[T]:
    """Run ``calls`` on as many threads, released at once by a barrier; their results in order."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], T]) -> T:
        barrier.wait(timeout=60)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


@dataclass
class Tries:
    """A request retried on 503 as a client would (Retry-After), with the 503s it met."""

    final: requests.Response
    unavailable: int = 0


def retrying(send: Callable[[], requests.Response]) -> Tries:
    unavailable = 0
    for _ in range(CLIENT_RETRIES):
        reply = send()
        if reply.status_code != 503:
            return Tries(reply, unavailable)
        assert reply.json()["code"] == "service_unavailable", reply.text
        assert reply.headers.get("Retry-After"), reply.headers
        unavailable += 1
        time.sleep(0.05 * unavailable)  # Retry-After is whole seconds; a test waits less
    return Tries(reply, unavailable)


def _redeem(runtime: Runtime, tag: str, code: str) -> requests.Response:
    return runtime.post("/redemptions", json=registrant(tag, code=code))


def _add_user(runtime: Runtime, account: Owned, n: int) -> Tries:
    return retrying(lambda: runtime.post(account.path("/users"), json=_agent(account.tag, n), token=account.owner))


def _schedule(runtime: Runtime, name: str) -> requests.Response:
    return runtime.post(f"/_local/schedules/{name}", json={})


def _staff(runtime: Runtime) -> str:
    return runtime.token("staff-1", None, "staff")


def _details(tag: str) -> dict[str, Any]:
    return {
        "first_name": "Petar",
        "last_name": "Petrov",
        "email": f"{tag}-billing@example.com",
        "company": f"Company {tag}",
        "address": {"street": "1 Vitosha Blvd", "city": "Sofia", "postal_code": "1000", "country": "BG"},
        "company_registration": "175074752",
    }


def _owned(runtime: Runtime, body: dict[str, Any], tag: str) -> Owned:
    return Owned(body["id"], runtime.token(body["owner_id"], body["id"], "owner"), tag, body)


def _trial(runtime: Runtime, prefix: str, *, details: bool = True) -> Owned:
    tag = f"{prefix}-{uuid.uuid4().hex[:10]}"
    signed = runtime.post("/signups", json=registrant(tag, plan="ticket", billing_period="monthly"))
    assert signed.status_code == 201, signed.text
    account = _owned(runtime, signed.json(), tag)
    if details:
        given = runtime.put(account.path("/billing-details"), json=_details(tag), token=account.owner)
        assert given.status_code == 200, given.text
    return account


def _card(runtime: Runtime, account: Owned) -> requests.Response:
    return runtime.put(account.path("/payment-method"), json={"type": "card", "token": "tok_visa"}, token=account.owner)


def _subscription(runtime: Runtime, prefix: str) -> Owned:
    """A monthly ticket subscription whose first period is paid (R-PAY-4)."""
    account = _trial(runtime, prefix)
    paid = _card(runtime, account)
    assert paid.status_code == 200, paid.text
    assert paid.json()["account"]["status"] == "active"
    return account


def _codes(runtime: Runtime, count: int) -> tuple[str, list[str]]:
    campaign_id = runtime.create_campaign("conc")
    generated = runtime.post(f"/admin/campaigns/{campaign_id}/codes", json={"count": count}, token=_staff(runtime))
    assert generated.status_code == 201, generated.text
    return campaign_id, generated.json()["codes"]


def _agent(tag: str, n: int) -> dict[str, str]:
    return {"full_name": "Ana Petrova", "email": f"{tag}-agent{n}@example.com", "role": "agent"}


def _voucher_with_extra_user(runtime: Runtime, code: str) -> Owned:
    """A lifetime account with one included and one billable user, paying by card (R-VOUCH-6)."""
    tag = f"vx-{uuid.uuid4().hex[:10]}"
    redeemed = runtime.post("/redemptions", json=registrant(tag, code=code))
    assert redeemed.status_code == 201, redeemed.text
    account = _owned(runtime, redeemed.json(), tag)
    for n, billable in ((1, False), (2, True)):
        added = runtime.post(account.path("/users"), json=_agent(tag, n), token=account.owner)
        assert (added.status_code, added.json()["billable"]) == (201, billable), added.text
    assert runtime.put(account.path("/billing-details"), json=_details(tag), token=account.owner).status_code == 200
    carded = _card(runtime, account)
    assert (carded.status_code, carded.json()["invoice"]) == (200, None), carded.text
    return account


def _outbox(runtime: Runtime) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = runtime.get("/_local/outbox").json()["items"]
    return items


def _notices(outbox: list[dict[str, Any]], account_id: str, kind: str) -> list[dict[str, Any]]:
    return [item for item in outbox if item["account_id"] == account_id and item["type"] == kind]


def _invoices(runtime: Runtime, account: Owned) -> list[dict[str, Any]]:
    listed = runtime.get(account.path("/invoices"), token=account.owner)
    assert listed.status_code == 200, listed.text
    return [item for item in listed.json()["items"] if item["kind"] == "invoice"]


def _account(runtime: Runtime, account: Owned) -> dict[str, Any]:
    seen = runtime.get(account.path(), token=account.owner)
    assert seen.status_code == 200, seen.text
    body: dict[str, Any] = seen.json()
    return body


@dataclass
class Money:
    """What the payment provider's stand-in says of one account."""

    charged: list[tuple[str, int]] = field(default_factory=list)  # (payment intent id, cents), successful only
    refunded: dict[str, int] = field(default_factory=dict)  # payment intent id -> cents refunded of it

    def standing(self) -> list[int]:
        """What each charge still stands at after its refunds, sorted; fully refunded ones left out."""
        left = [cents - self.refunded.get(charge_id, 0) for charge_id, cents in self.charged]
        return sorted(cents for cents in left if cents)


def _ledger(runtime: Runtime) -> dict[str, Money]:
    """Per account: the provider's successful charges and the refunds of them (R-PAY-12's provider)."""
    owner_of = {
        customer["id"]: customer["metadata"]["account_id"]
        for customer in runtime.provider_objects("customers")
        if not customer.get("deleted")
    }
    by_charge: dict[str, str] = {}
    ledger: dict[str, Money] = {}
    for intent in reversed(runtime.provider_objects("payment_intents")):  # oldest first
        if intent["status"] == "succeeded":
            account_id = owner_of[intent["customer"]]
            by_charge[intent["id"]] = account_id
            ledger.setdefault(account_id, Money()).charged.append((intent["id"], intent["amount"]))
    for refund in runtime.provider_objects("refunds"):
        charge_id, cents = refund["payment_intent"], refund["amount"]
        refunded = ledger.setdefault(by_charge[charge_id], Money()).refunded
        refunded[charge_id] = refunded.get(charge_id, 0) + cents
    return ledger


def _totals(invoices: list[dict[str, Any]]) -> list[int]:
    return sorted(int(invoice["total"]["amount"]) for invoice in invoices)


def _drain(runtime: Runtime, schedule: str) -> None:
    """Run ``schedule`` once so that what other tests left due by this instant is done with."""
    drained = runtime.post(f"/_local/schedules/{schedule}", json={})
    assert drained.status_code == 200, drained.text


def _stop_all(runtime: Runtime, accounts: list[Owned]) -> None:
    """Stop the accounts a test leaves paying (R-TERM-1): later billing runs in the shared
    runtime then have no months of theirs to catch up on."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        stopped = list(pool.map(lambda account: runtime.post(account.path("/cancel"), token=account.owner), accounts))
    assert {reply.status_code for reply in stopped} == {200}, [reply.text for reply in stopped]


def _first_month_due(runtime: Runtime, start: datetime, accounts: list[Owned]) -> datetime:
    """When the accounts' first month ends, all made at ``start``: the subscriptions' paid
    period (R-PAY-1) and the vouchers' first month in arrears (R-VOUCH-6) end together.
    A run a second earlier takes what other tests left due, so the race's runs reach these
    accounts at once rather than after a backlog."""
    due = monthly_period(start, start).ends_at
    ends = {invoice["period_end"] for account in accounts for invoice in _invoices(runtime, account)}
    assert ends == {clock.to_iso(due)}, ends
    _at(runtime, due - timedelta(seconds=1))
    _drain(runtime, "billing-run")
    return due


# ---------------------------------------------------------------- 1. one code, 200 redeemers


@pytest.mark.usefixtures("real_time")
def test_r_vouch_2_one_code_and_200_concurrent_redeemers_make_exactly_one_account(
    runtime: Runtime, timeline: Timeline
) -> None:
    # An hour of its own: the per-IP signup limit (R-REG-2) counts this test's requests only.
    _at(runtime, timeline.take(0))
    campaign_id, (code, *spares) = _codes(runtime, 4)
    tags = [f"r200-{uuid.uuid4().hex[:10]}" for _ in range(200)]

    replies = together([partial(_redeem, runtime, tag, code) for tag in tags])

    statuses = Counter(reply.status_code for reply in replies)
    assert not [status for status in statuses if status >= 500], statuses
    assert (statuses[201], statuses[409]) == (1, 199), statuses
    assert {reply.json()["code"] for reply in replies if reply.status_code == 409} == {"voucher_already_redeemed"}
    (winner,) = [(tag, reply.json()) for tag, reply in zip(tags, replies, strict=True) if reply.status_code == 201]
    account = _owned(runtime, winner[1], winner[0])
    seen = _account(runtime, account)
    assert (seen["status"], seen["lifetime"], seen["voucher"]["campaign_id"]) == ("active", True, campaign_id)

    runtime.campaign_counts(campaign_id, {"total": 4, "redeemed": 1, "abuse_signals": 199})
    # No loser left anything behind: nothing was sent to them, and their emails are free:
    # three of them redeem the spare codes at once.
    losers = [tag for tag in tags if tag != winner[0]]
    outbox = _outbox(runtime)
    assert not [item for item in outbox if item["to"] in {f"{tag}@example.com" for tag in losers}]
    # The winner's only possible notice is a welcome (none is sent today), and only one.
    assert [item["type"] for item in outbox if item["account_id"] == account.id] in ([], ["welcome"])
    again = together([partial(_redeem, runtime, tag, spare) for tag, spare in zip(losers[:3], spares, strict=True)])
    assert [reply.status_code for reply in again] == [201, 201, 201], [reply.text for reply in again]
    runtime.campaign_counts(campaign_id, {"total": 4, "redeemed": 4, "abuse_signals": 199})

    figures.record(
        f"concurrency: 200 redeemers of one code -> {statuses[201]} redeemed, {statuses[409]} refused "
        f"(voucher_already_redeemed), {sum(n for s, n in statuses.items() if s >= 500)} errors"
    )


# ---------------------------------------------------------------- 2. seats


@pytest.mark.usefixtures("real_time")
def test_r_use_3_fifty_concurrent_user_adds_at_the_seat_limit_never_pass_it(
    runtime: Runtime, timeline: Timeline
) -> None:
    """A ticket trial (seat limit 10, R-USE-3) with 3 seats left: 50 adds at once, 3 succeed."""
    _at(runtime, timeline.take(0))
    account = _trial(runtime, "seats", details=False)
    limit, left = 10, 3
    for n in range(limit - 1 - left):  # the owner holds one seat
        added = runtime.post(account.path("/users"), json=_agent(account.tag, 100 + n), token=account.owner)
        assert added.status_code == 201, added.text

    tries = together([partial(_add_user, runtime, account, n) for n in range(50)])

    replies = [attempt.final for attempt in tries]
    statuses = Counter(reply.status_code for reply in replies)
    assert (statuses[201], statuses[409]) == (left, 50 - left), [r.text for r in replies if r.status_code != 409][:5]
    assert {reply.json()["code"] for reply in replies if reply.status_code == 409} == {"seat_limit_reached"}
    assert _account(runtime, account)["seats"]["used"] == limit
    listed = runtime.get(account.path("/users"), token=account.owner).json()["items"]
    assert len(listed) == limit
    added_ids = {reply.json()["user_id"] for reply in replies if reply.status_code == 201}
    assert added_ids <= {user["user_id"] for user in listed}
    log = runtime.get(account.path("/audit"), token=account.owner).json()["items"]
    assert [item["type"] for item in log].count("user_added") == limit - 1
    unavailable = sum(attempt.unavailable for attempt in tries)
    figures.record(
        f"concurrency: 50 user adds with {left} seats left -> {statuses[201]} added, {statuses[409]} "
        f"seat_limit_reached, seats used {limit}/{limit}, {unavailable} retried 503s, 0 errors"
    )


@pytest.mark.usefixtures("real_time")
def test_r_vouch_5_r_vouch_6_r_vouch_7_thirty_concurrent_adds_across_the_included_seats(
    runtime: Runtime, timeline: Timeline
) -> None:
    """A voucher account (2 included seats, the owner's one taken): 30 adds at once, exactly
    one takes the free included seat; the other 29 are billable and warned once each."""
    _at(runtime, timeline.take(0))
    _, (code,) = _codes(runtime, 1)
    tag = f"incl-{uuid.uuid4().hex[:10]}"
    redeemed = runtime.post("/redemptions", json=registrant(tag, code=code))
    assert redeemed.status_code == 201, redeemed.text
    account = _owned(runtime, redeemed.json(), tag)

    tries = together([partial(_add_user, runtime, account, n) for n in range(30)])

    replies = [attempt.final for attempt in tries]
    assert [reply.status_code for reply in replies] == [201] * 30, [r.text for r in replies if r.status_code != 201]
    billable = Counter(reply.json()["billable"] for reply in replies)
    assert billable == {False: 1, True: 29}
    assert _account(runtime, account)["seats"] == {"included": 2, "used": 31, "extra": 29}
    listed = runtime.get(account.path("/users"), token=account.owner).json()["items"]
    assert Counter(user["billable"] for user in listed) == {False: 2, True: 29}
    warnings = _notices(_outbox(runtime), account.id, "extra_seat_warning")
    assert len(warnings) == 29
    unavailable = sum(attempt.unavailable for attempt in tries)
    figures.record(
        f"concurrency: 30 user adds across a voucher's included seats -> 1 included, 29 billable, "
        f"{len(warnings)} extra-seat warnings, {unavailable} retried 503s, 0 errors"
    )


# ---------------------------------------------------------------- 3. two sweeps of one kind at once


@pytest.mark.usefixtures("real_time")
def test_r_pay_3_two_trial_sweeps_at_once_expire_each_trial_once(runtime: Runtime, timeline: Timeline) -> None:
    """Trials ended without a payment method; two sweeps at once: each trial expires once
    (the two runs' changes add up to the trials), with one ``trial_ended`` notice each."""
    count = figures.scale(15, 60)
    start = timeline.take(TRIAL_DAYS + 1)
    _at(runtime, start)
    accounts = [_trial(runtime, "tts", details=False) for _ in range(count)]
    ends = {clock.parse_iso(account.body["trial_ends_at"]) for account in accounts}
    assert ends == {start + timedelta(days=TRIAL_DAYS)}  # R-PAY-2
    # A second before these trials end, a run takes what other tests left due; then only they are.
    _at(runtime, start + timedelta(days=TRIAL_DAYS, seconds=-1))
    _drain(runtime, "trial-sweep")

    _at(runtime, start + timedelta(days=TRIAL_DAYS, minutes=1))
    replies = together([partial(_schedule, runtime, "trial-sweep") for _ in range(2)])

    assert [reply.status_code for reply in replies] == [200, 200], [reply.text for reply in replies]
    summaries = [reply.json() for reply in replies]
    assert sum(summary["changed"] for summary in summaries) == count, summaries
    assert sum(summary["errors"] for summary in summaries) == 0, summaries
    outbox = _outbox(runtime)
    for account in accounts:
        seen = _account(runtime, account)
        assert (seen["status"], seen["access"]) == ("trial_expired", "trial_expired"), account.id
        assert len(_notices(outbox, account.id, "trial_ended")) == 1, account.id
    assert runtime.post("/_local/schedules/trial-sweep", json={}).json()["changed"] == 0
    figures.record(
        f"concurrency: 2 trial sweeps at once over {count} ended trials -> {count} expired once "
        f"({'+'.join(str(summary['changed']) for summary in summaries)}), {count} notices, 0 errors"
    )


@pytest.mark.usefixtures("real_time")
def test_r_pay_1_r_vouch_6_two_billing_runs_at_once_charge_each_account_once(
    runtime: Runtime, timeline: Timeline
) -> None:
    """Monthly subscriptions due for renewal (R-PAY-1) and voucher accounts whose first month
    with an extra user has ended (R-VOUCH-6); two runs at once: one invoice, one charge and
    one receipt (R-PAY-11) each, nothing refunded, and a third run changes nothing."""
    subscriptions, vouchers = figures.scale(10, 30), figures.scale(4, 10)
    start = timeline.take(33)
    _at(runtime, start)
    accounts = [_subscription(runtime, "tbr") for _ in range(subscriptions)]
    _, codes = _codes(runtime, vouchers)
    accounts += [_voucher_with_extra_user(runtime, code) for code in codes]
    before = {account.id: len(_invoices(runtime, account)) for account in accounts}
    due = _first_month_due(runtime, start, accounts)

    _at(runtime, due + timedelta(hours=1))
    replies = together([partial(_schedule, runtime, "billing-run") for _ in range(2)])

    assert [reply.status_code for reply in replies] == [200, 200], [reply.text for reply in replies]
    summaries = [reply.json() for reply in replies]
    assert sum(summary["errors"] for summary in summaries) == 0, summaries
    # Other tests' accounts due at the same midnight are in these counts too.
    assert sum(summary["changed"] for summary in summaries) >= len(accounts), summaries
    outbox, ledger = _outbox(runtime), _ledger(runtime)
    for account in accounts:
        invoices = _invoices(runtime, account)
        assert len(invoices) == before[account.id] + 1, account.id
        money = ledger[account.id]
        assert money.standing() == _totals(invoices), (account.id, money, invoices)
        assert money.refunded == {}, account.id
        assert len(_notices(outbox, account.id, "receipt")) == len(invoices), account.id
        assert _account(runtime, account)["status"] == "active", account.id
    third = runtime.post("/_local/schedules/billing-run", json={}).json()
    assert (third["changed"], third["errors"]) == (0, 0), third  # a run again at once changes nothing more
    assert [len(_invoices(runtime, account)) - before[account.id] for account in accounts] == [1] * len(accounts)
    _stop_all(runtime, accounts)
    figures.record(
        f"concurrency: 2 billing runs at once over {len(accounts)} due accounts ({subscriptions} renewals, "
        f"{vouchers} extra-seat months) -> each billed once ({len(accounts)} invoices, {len(accounts)} charges), "
        "0 refunds, 0 double charges, a third run changes nothing"
    )


# ---------------------------------------------------------------- 4. cards and the trial sweep


@pytest.mark.usefixtures("real_time")
def test_r_pay_3_r_pay_4_cards_added_while_the_trial_sweep_runs_charge_each_account_once(
    runtime: Runtime, timeline: Timeline
) -> None:
    """Trials with billing details whose end has just passed; in each round two trial sweeps
    and every owner's card arrive at once. Whichever wins, the account ends active with one
    invoice, one charge and one receipt: the card came first (R-PAY-4, the sweep then changes
    nothing) or the sweep expired it a moment before (R-PAY-3, the card reactivates it, and
    the owner was told once). Never both charged twice nor left expired."""
    rounds, per_round = figures.scale(3, 10), 10
    start = timeline.take(30 * rounds)
    outcomes: Counter[str] = Counter()
    accounts: list[Owned] = []
    for round_no in range(rounds):
        signed_up = start + timedelta(days=30 * round_no)
        _at(runtime, signed_up)
        batch = [_trial(runtime, f"cvt{round_no}") for _ in range(per_round)]
        accounts += batch
        # The trials ended a moment ago: two sweeps and the owners' cards arrive together.
        _at(runtime, signed_up + timedelta(days=TRIAL_DAYS, seconds=30))
        sweep = partial(_schedule, runtime, "trial-sweep")
        cards = [partial(_card, runtime, account) for account in batch]
        replies = together([sweep, *cards[: per_round // 2], sweep, *cards[per_round // 2 :]])
        sweeps = [replies[0], replies[per_round // 2 + 1]]
        card_replies = [reply for index, reply in enumerate(replies) if index not in (0, per_round // 2 + 1)]
        assert [reply.status_code for reply in sweeps] == [200, 200], [reply.text for reply in sweeps]
        assert [reply.status_code for reply in card_replies] == [200] * per_round, [r.text for r in card_replies]
        assert {reply.json()["account"]["status"] for reply in card_replies} == {"active"}
        assert all(reply.json()["invoice"] is not None for reply in card_replies)

    outbox, ledger = _outbox(runtime), _ledger(runtime)
    for account in accounts:
        seen = _account(runtime, account)
        assert (seen["status"], seen["access"]) == ("active", "full"), account.id
        invoices = _invoices(runtime, account)
        assert len(invoices) == 1, account.id
        assert ledger[account.id].standing() == _totals(invoices), account.id
        assert ledger[account.id].refunded == {}, account.id
        assert len(_notices(outbox, account.id, "receipt")) == 1, account.id
        expired = len(_notices(outbox, account.id, "trial_ended"))
        assert expired in (0, 1), account.id
        outcomes["expired-then-reactivated" if expired else "charged-before-the-sweep"] += 1
    # Nothing is left for a later sweep to change among them.
    again = runtime.post("/_local/schedules/trial-sweep", json={})
    assert again.status_code == 200, again.text
    assert {_account(runtime, account)["status"] for account in accounts} == {"active"}
    _stop_all(runtime, accounts)

    total = len(accounts)
    figures.record(
        f"concurrency: {total} cards added while 2 trial sweeps ran ({rounds} rounds) -> {total} active, "
        f"{outcomes['charged-before-the-sweep']} charged before the sweep, "
        f"{outcomes['expired-then-reactivated']} expired then reactivated by the card, "
        f"{total} charges and invoices, 0 double charges, 0 stuck"
    )


# ---------------------------------------------------------------- 5. cancel during the billing run


@pytest.mark.usefixtures("real_time")
def test_r_term_1_r_pay_7_stop_account_while_the_billing_run_charges(runtime: Runtime, timeline: Timeline) -> None:
    """Subscriptions due for renewal (R-PAY-1) and voucher accounts with an extra user due
    (R-VOUCH-6) are cancelled while two billing runs charge them. Each account ends cancelled;
    a renewal the run issued before the cancel stands (R-PAY-7: no refund for the period), one
    the cancel beat is not charged (or its charge is refunded): every charge that stands has
    exactly one invoice and one receipt, and no later run charges them again (R-TERM-1)."""
    subscriptions, vouchers = figures.scale(10, 30), figures.scale(4, 10)
    start = timeline.take(65)
    _at(runtime, start)
    accounts = [_subscription(runtime, "cxb") for _ in range(subscriptions)]
    _, codes = _codes(runtime, vouchers)
    accounts += [_voucher_with_extra_user(runtime, code) for code in codes]
    before = {account.id: len(_invoices(runtime, account)) for account in accounts}
    due = _first_month_due(runtime, start, accounts)

    # The first month has ended: renewals and extra seats are due.
    _at(runtime, due + timedelta(hours=1))
    run = partial(_schedule, runtime, "billing-run")

    def cancel(account: Owned, delay: float) -> requests.Response:
        time.sleep(delay)  # spread over the runs' work, so some cancels land before their bill, some after
        return runtime.post(account.path("/cancel"), token=account.owner)

    cancels = [partial(cancel, account, CANCEL_STAGGER_SECONDS * n) for n, account in enumerate(accounts)]
    half = len(cancels) // 2
    replies = together([run, *cancels[:half], run, *cancels[half:]])
    runs = [replies[0], replies[half + 1]]
    cancelled = [reply for index, reply in enumerate(replies) if index not in (0, half + 1)]
    assert [reply.status_code for reply in runs] == [200, 200], [reply.text for reply in runs]
    assert [reply.status_code for reply in cancelled] == [200] * len(accounts), [r.text for r in cancelled]
    # R-PAY-7: no refund of a period already paid (R-CREDIT-2's is the only one; none bought here).
    assert {(reply.json()["status"], reply.json()["refund"]) for reply in cancelled} == {("cancelled", None)}

    raced = {account.id: _invoices(runtime, account) for account in accounts}
    # A month later, another run: nothing more is charged to a cancelled account.
    _at(runtime, due + timedelta(days=32))
    assert runtime.post("/_local/schedules/billing-run", json={}).status_code == 200

    outbox, ledger = _outbox(runtime), _ledger(runtime)
    billed_first = refunded = 0
    for account in accounts:
        seen = _account(runtime, account)
        assert (seen["status"], seen["access"]) == ("cancelled", "cancelled"), account.id
        invoices = _invoices(runtime, account)
        assert invoices == raced[account.id], account.id
        money = ledger.get(account.id, Money())
        assert money.standing() == _totals(invoices), (account.id, money, invoices)
        assert len(invoices) - before[account.id] in (0, 1), account.id
        assert len(_notices(outbox, account.id, "receipt")) == len(invoices), account.id
        assert len(_notices(outbox, account.id, "cancellation_confirmed")) == 1, account.id
        billed_first += len(invoices) - before[account.id]
        refunded += len(money.refunded)

    figures.record(
        f"concurrency: {len(accounts)} accounts stopped while 2 billing runs charged -> {len(accounts)} cancelled, "
        f"{billed_first} billed before the cancel, {len(accounts) - billed_first} not billed "
        f"({refunded} charges refunded), every standing charge invoiced once, 0 charges after cancellation"
    )

"""Prepaid credit (R-CREDIT-1, R-CREDIT-2): bought with the payment method, run down by the
second at the account's seat cost (a voucher account's extra seats only, R-VOUCH-5), and half
of what is left refunded when the account is cancelled before it runs out (nothing else is,
R-PAY-7). Every settlement is one conditional update on what it was computed from. The model:
docs/ARCHITECTURE.md "Prepaid credit".
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict
from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from lifecycle.accounts import accounts, audit
from lifecycle.billing import payments, pricing, subscriptions
from lifecycle.billing.invoicing import (
    AccountChange,
    AccountMoved,
    Draft,
    InvoiceView,
    Known,
    Line,
    charge_and_issue,
    read_with_account,
)
from lifecycle.core import clock
from lifecycle.core.auth import Principal, require_member
from lifecycle.core.errors import Conflict, Forbidden, InvalidField, ServiceUnavailable
from lifecycle.core.money import Money, div_round_half_up
from lifecycle.core.settings import Settings
from lifecycle.storage import Account, AuditEvent, Claim, Invoice, invoices
from lifecycle.storage import audit as audit_events
from lifecycle.storage.accounts import ENDED
from lifecycle.storage.transactions import Build, Outcome, try_commit

YEAR_SECONDS = 365 * 86_400
MONTHS_PER_YEAR = 12
# "prepaid-credit#<the request's Idempotency-Key, hashed>", or without a key
# "prepaid-credit#<instant to the microsecond>": one invoice per purchase (corrections own "credit#").
PURPOSE = "prepaid-credit#"
# The operation a late-confirmed purchase's charge finishes (lifecycle.billing.webhooks).
PURCHASE = "credit_purchase"
REFUND_CLAIM = "credit-refund#"
# Stripe's largest single charge; a larger amount is a typo, not a purchase.
MAX_PURCHASE_CENTS = 99_999_999
SETTLE_RETRIES = 5
# Dates stay far inside what DynamoDB and datetime hold: an absurd balance for its seats
# (thousands of years' worth) lasts at most this long, running down correspondingly slower.
MAX_VALIDITY_SECONDS = 1000 * YEAR_SECONDS


# ---------------------------------------------------------------- arithmetic (pure)

Window = tuple[datetime, datetime]
SECOND = timedelta(seconds=1)


@dataclass(frozen=True)
class Credit:
    """The stored credit: ``balance`` cents as of ``updated_at``, running out at ``valid_until``;
    it does not run down while ``paused`` (the part of the current period the card paid for)."""

    balance: int
    updated_at: datetime | None
    valid_until: datetime | None
    paused: Window | None = None

    @classmethod
    def of(cls, account: Account) -> Credit:
        return cls(
            int(account.credit_balance or 0), account.credit_updated_at, account.credit_valid_until, paused(account)
        )


def paused(account: Account) -> Window | None:
    """``[credit_pays_until, period_end)``: the part of a subscription's current period its
    renewal (or first payment) charged to the card, which the credit never pays again; None
    when the card paid none of it, and on periods renewed before the split was kept."""
    since, end = account.credit_pays_until, account.period_end
    if account.lifetime or since is None or end is None or since >= end:
        return None
    return since, end


def _second(instant: datetime) -> datetime:
    return instant.replace(microsecond=0)


def running_seconds(since: datetime, until: datetime, pause: Window | None) -> int:
    """Whole seconds of ``[since, until)`` the credit runs down: outside ``pause``."""
    seconds = max(0, (until - since) // SECOND)
    if pause is not None:
        start, end = max(since, pause[0]), min(until, pause[1])
        if start < end:
            seconds -= (end - start) // SECOND
    return seconds


def _after_running(at: datetime, seconds: int, pause: Window | None) -> datetime:
    """The instant ``seconds`` of running time after ``at``: a pause on the way is stepped over."""
    end = at + timedelta(seconds=seconds)
    if pause is None:
        return end
    start, stop = pause
    if start <= at < stop:
        return stop + timedelta(seconds=seconds)
    if at < start < end:
        return end + (stop - start)
    return end


def settled(credit: Credit, now: datetime) -> Credit:
    """The credit at ``now`` (floored to the second): the rate since the last settlement
    (``balance`` over the running seconds from ``updated_at`` to ``valid_until``) taken off for
    the running seconds since; never negative, never back in time, nothing while paused."""
    at = _second(now)
    if credit.updated_at is None or credit.balance <= 0:
        lasts = None if credit.balance <= 0 else credit.valid_until
        return replace(credit, balance=max(credit.balance, 0), updated_at=at, valid_until=lasts)
    if at <= credit.updated_at:
        return credit
    if credit.valid_until is None:  # a seat cost of 0: it does not run down
        return replace(credit, updated_at=at)
    span = running_seconds(credit.updated_at, credit.valid_until, credit.paused)
    elapsed = running_seconds(credit.updated_at, at, credit.paused)
    if span <= 0 or elapsed >= span:
        return replace(credit, balance=0, updated_at=at)
    consumed = div_round_half_up(credit.balance * elapsed, span)
    return replace(credit, balance=max(credit.balance - consumed, 0), updated_at=at)


def valid_until(balance: int, at: datetime, monthly_seat_cost: int, pause: Window | None = None) -> datetime | None:
    """R-CREDIT-1: when ``balance`` runs out from ``at`` at ``monthly_seat_cost`` (cents per
    month for all the seats), not running while ``pause``; None when nothing runs it down."""
    if monthly_seat_cost <= 0:
        return None
    if balance <= 0:
        return at
    seconds = div_round_half_up(balance * YEAR_SECONDS, monthly_seat_cost * MONTHS_PER_YEAR)
    return _after_running(at, min(seconds, MAX_VALIDITY_SECONDS), pause)


def rebased(credit: Credit, now: datetime, monthly_seat_cost: int) -> Credit:
    """Settled to ``now`` and lasting at the seat cost of ``now``."""
    current = settled(credit, now)
    if current.balance <= 0:
        return current
    assert current.updated_at is not None  # settled() always dates a positive balance
    lasts = valid_until(current.balance, current.updated_at, monthly_seat_cost, current.paused)
    return replace(current, valid_until=lasts)


def topped_up(
    credit: Credit, amount: int, now: datetime, monthly_seat_cost: int, starts: datetime | None = None
) -> Credit:
    """A purchase of ``amount`` cents at ``now``. With credit left it adds to it (running, or
    waiting for its start), lasting past the part of the period the card paid for; with none
    left the new credit starts running at ``starts`` (``consumption_start``), or now."""
    current = settled(credit, now)
    if current.balance > 0 and current.updated_at is not None:
        at = current.updated_at
    else:
        at = _second(now) if starts is None else max(_second(now), _second(starts))
    balance = current.balance + amount
    return replace(
        current, balance=balance, updated_at=at, valid_until=valid_until(balance, at, monthly_seat_cost, current.paused)
    )


def consumption_start(account: Account, now: datetime) -> datetime:
    """When credit bought at ``now`` with none left starts to run down (R-CREDIT-1: never
    during time already paid): now, or the end of the part of the current period the card paid
    for when now is in it. A voucher account is billed in arrears and starts now. A period
    renewed before the split was kept counts as paid by card until its end."""
    at = _second(now)
    if account.lifetime:
        return at
    pause = paused(account)
    if pause is not None or account.credit_pays_until is not None:
        return _second(pause[1]) if pause is not None and pause[0] <= at < pause[1] else at
    start, end = account.period_start, account.period_end
    if start is None or end is None or not start <= at < end:
        return at
    return _second(end)


def refund_split(remaining: int, percent: int) -> tuple[int, int]:
    """R-CREDIT-2: (refund, cancellation fee) of the remaining credit."""
    refund = div_round_half_up(remaining * percent, 100)
    return refund, remaining - refund


# ---------------------------------------------------------------- the seats it pays for


@dataclass(frozen=True)
class SeatCost:
    seats: int
    seat_price: Money

    @property
    def monthly(self) -> int:
        return self.seats * self.seat_price.amount


def seat_cost(account: Account, at: datetime, settings: Settings) -> SeatCost:
    """The seats the credit pays for and their monthly price (module doc)."""
    if account.lifetime:
        included = int(account.included_seats)
        extra = int(account.seats_used) - min(int(account.included_seats_used), included)
        return SeatCost(max(extra, 0), Money(amount=settings.extra_seat_price_cents, currency=settings.currency))
    price = pricing.seat_price(account.plan, "monthly", at, settings, pricing.PriceNotices.of(account))  # type: ignore[arg-type]  # a stored Plan
    return SeatCost(subscriptions.billed_seats(account), price)


def _equal(attribute: Any, value: Any) -> Condition:
    condition: Condition = attribute.does_not_exist() if value is None else attribute == value
    return condition


def unchanged(account: Account) -> Condition:
    """The credit is still the one read with ``account``: balance, date and validity (two
    settlements within one second share a date, so the date alone does not tell)."""
    balance: Condition = Account.credit_balance == int(account.credit_balance or 0)
    if not account.credit_balance:
        balance = Account.credit_balance.does_not_exist() | balance
    condition: Condition = (
        balance
        & _equal(Account.credit_updated_at, account.credit_updated_at)
        & _equal(Account.credit_valid_until, account.credit_valid_until)
    )
    return condition


def _same_seats(account: Account) -> Condition:
    """The account still has the credit, seats and plan a settlement was computed from."""
    condition: Condition = (
        unchanged(account)
        & _equal(Account.seats, account.seats)
        & (Account.seats_used == account.seats_used)
        & (Account.included_seats_used == account.included_seats_used)
        & (Account.included_seats == account.included_seats)
        & (Account.plan == account.plan)
        & ~Account.status.is_in(*ENDED)
    )
    return condition


def _same_start(account: Account) -> Condition:
    """``_same_seats``, and what says when a purchase's credit starts and which run it
    continues (``consumption_start``, ``_previous_run``): the paid period, the run, lifetime."""
    lifetime: Condition = (
        Account.lifetime == True  # noqa: E712 - pynamodb condition
        if account.lifetime
        else Account.lifetime.does_not_exist() | (Account.lifetime == False)  # noqa: E712
    )
    condition: Condition = (
        _same_seats(account)
        & _equal(Account.period_start, account.period_start)
        & _equal(Account.period_end, account.period_end)
        & _equal(Account.credit_since, account.credit_since)
        & _equal(Account.credit_pays_until, account.credit_pays_until)
        & lifetime
    )
    return condition


def none_left(account: Account) -> bool:
    """No balance stored on ``account`` as read: ``rebase`` would write nothing."""
    return int(account.credit_balance or 0) <= 0


def still_none_left() -> Condition:
    """A seat change's own check of ``none_left`` at its commit: a change committed with it
    needs no ``rebase`` (nothing to settle), so it need not read the account again. A
    purchase that lands after the commit reads the new seats itself (``_same_seats``)."""
    condition: Condition = Account.credit_balance.does_not_exist() | (Account.credit_balance <= 0)
    return condition


def committed_without_credit(account: Account, change: Callable[[bool], Build]) -> bool:
    """A seat or plan change committed without a ``rebase`` after it (R-CREDIT-1; no rebase round trips):
    when ``account`` had no credit as read, ``change(True)`` (the change with
    ``still_none_left`` in its account condition) is tried once. True when it committed:
    there is nothing to settle. False, with nothing written, when the account had credit
    or any condition failed (credit bought meanwhile, or what the caller checks): the
    caller then commits ``change(False)`` its usual way, which answers its own failures,
    and rebases."""
    return none_left(account) and not try_commit(change(True))


def _stored(credit: Credit) -> list[Action]:
    actions: list[Action] = [Account.credit_balance.set(credit.balance)]
    if credit.updated_at is not None:
        actions.append(Account.credit_updated_at.set(credit.updated_at))
    if credit.valid_until is not None:
        actions.append(Account.credit_valid_until.set(credit.valid_until))
    else:
        actions.append(Account.credit_valid_until.remove())
    return actions


# ---------------------------------------------------------------- reading


class CreditView(BaseModel):
    """API.md "Prepaid credit"."""

    balance: Money
    valid_until: str | None
    seat_price: Money
    seats: int

    @classmethod
    def of(cls, account: Account, now: datetime, settings: Settings) -> CreditView:
        return cls.at(Credit.of(account), seat_cost(account, now, settings), now, settings)

    @classmethod
    def at(cls, stored: Credit, cost: SeatCost, now: datetime, settings: Settings) -> CreditView:
        """The view of the ``stored`` credit of an account whose seats cost ``cost`` now."""
        current = settled(stored, now)
        return cls(
            balance=Money(amount=current.balance, currency=settings.currency),
            valid_until=_iso(current.valid_until),
            seat_price=cost.seat_price,
            seats=cost.seats,
        )


class CreditPurchaseView(CreditView):
    invoice: InvoiceView


def _iso(instant: datetime | None) -> str | None:
    return clock.to_iso(instant) if instant is not None else None


def get_for(principal: Principal, account_id: str, now: datetime, settings: Settings) -> CreditView:
    """``GET /accounts/{id}/credit``: any member; a staff read is audited (R-USE-4)."""
    require_member(principal, account_id)
    account = accounts.load(account_id)
    audit.record_staff_access(principal, account_id, "credit", now)
    return CreditView.of(account, now, settings)


# ---------------------------------------------------------------- buying


class CreditPurchase(BaseModel):
    """``POST /accounts/{id}/credit``."""

    model_config = ConfigDict(extra="forbid")

    amount: Money


def _check_amount(amount: Money, settings: Settings) -> None:
    if amount.currency != settings.currency:
        raise InvalidField("amount.currency", f"credit is bought in the account's currency, {settings.currency}")
    if not 0 < amount.amount <= MAX_PURCHASE_CENTS:
        raise InvalidField("amount.amount", f"must be between 1 and {MAX_PURCHASE_CENTS} cents")


def purchase_purpose(now: datetime, request_key: str | None) -> str:
    """One purchase per request: a retry with the same Idempotency-Key is the same purchase
    (its charge replayed and its invoice found, never a second one), whenever it comes."""
    if request_key:
        return PURPOSE + "key-" + hashlib.sha256(request_key.encode("utf-8")).hexdigest()[:32]
    return PURPOSE + now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def buy(
    principal: Principal,
    account_id: str,
    form: CreditPurchase,
    now: datetime,
    settings: Settings,
    request_key: str | None = None,
) -> CreditPurchaseView:
    """R-CREDIT-1: the amount is charged to the payment method and invoiced; the credit is
    settled to now, topped up and its validity computed at the current seats, in the
    invoice's own transaction. With none left, a new run of credit begins (``credit_since``)
    at ``consumption_start``: a subscription's period paid by card is not paid again, so its
    credit runs from the period's end. A declined charge saves nothing (402)."""
    require_member(principal, account_id, roles=("owner",))
    if principal.is_staff:
        raise Forbidden("Only the account's owner buys credit")
    _check_amount(form.amount, settings)
    # Without a key, a retry is a new purchase: an interrupted charge is refunded (not replayable).
    purpose = purchase_purpose(now, request_key)
    account, known = read_with_account(account_id, purpose)
    if account.status in ENDED:
        raise Conflict("The account has ended")
    return purchase(
        principal, account, form.amount, purpose, now, settings, replayable=request_key is not None, known=known
    )


def purchase(
    principal: Principal,
    account: Account,
    price: Money,
    purpose: str,
    now: datetime,
    settings: Settings,
    replayable: bool = True,
    known: Known | None = None,
) -> CreditPurchaseView:
    """The purchase of ``price`` of credit for ``purpose`` (``buy``; a webhook finishes one whose
    payment was confirmed after the owner's request answered, R-PAY-12). ``known``: what
    was read with the account (``invoicing.read_with_account``)."""
    account_id = account.id
    amount = price.amount
    line = Line(description="Prepaid credit", quantity=1, unit_price=price, amount=price, rule="R-CREDIT-1")
    draft = Draft(
        account_id=account_id,
        purpose=purpose,
        lines=[line],
        replayable=replayable,
        resume={"operation": PURCHASE, "actor": principal.user_id, "amount": str(amount)},
    )

    built: list[tuple[Credit, SeatCost]] = []  # each build's credit and seat cost

    def build(tx: TransactWrite, outcome: Outcome, invoice: Invoice) -> None:
        # The first build uses the account read before the charge, conditioned on all it
        # reads; if that moved during the (slow) charge, the next builds read it again.
        current = Account.get(account_id, consistent_read=True) if built else account
        cost = seat_cost(current, now, settings)
        before = Credit.of(current)
        credit = topped_up(before, amount, now, cost.monthly, consumption_start(current, now))
        actions = [
            *_stored(credit),
            Account.last_invoice_id.set(invoice.invoice_id),
            Account.last_invoice_at.set(invoice.issued_at),
        ]
        run: dict[str, str] = {}
        if settled(before, now).balance <= 0:  # a new run of credit: time before it is not paid by it
            assert credit.updated_at is not None  # topped_up always dates a purchase
            actions.append(Account.credit_since.set(credit.updated_at))
            run = {"runs_from": clock.to_iso(credit.updated_at), **_previous_run(current, now)}
        condition = _same_seats(current) if built else _same_start(current)
        tx.update(Account(account_id), actions=actions, condition=condition)
        outcome.labels.append("update:account")
        event = audit.event(
            account_id, "credit_bought", principal.user_id, now, amount=amount, invoice_id=invoice.invoice_id, **run
        )
        outcome.put(tx, "audit", event, AuditEvent.event_key.does_not_exist())
        built.append((credit, cost))

    # ``build`` reads the account again: a concurrent purchase or a seat change during the
    # charge is built over once, not a failure.
    change = AccountChange(build, rebuilds=1)
    try:
        invoice = charge_and_issue(account, draft, now, change, settings, known=known)
    except AccountMoved as exc:
        raise Conflict(
            "The account changed while the credit was bought (it ended, or its seats changed); retry"
        ) from exc
    if change.made(invoice):
        # Committed under its condition (credit, seats and plan as built from): the view is
        # of what it wrote, not read again.
        credit, cost = built[-1]
        view = CreditView.at(credit, cost, now, settings)
    else:  # issued before, by an earlier attempt of the same purchase: as stored
        view = CreditView.of(accounts.load(account_id), now, settings)
    return CreditPurchaseView(**view.model_dump(), invoice=InvoiceView.of(invoice))


# ---------------------------------------------------------------- seat changes (R-CREDIT-1)


def rebase(account_id: str, now: datetime, settings: Settings) -> None:
    """R-CREDIT-1, after the seats changed: settle the credit to now and compute its validity
    at the current seats. One conditional update (the credit, seats and plan it read are
    unchanged); a concurrent change makes it read again. Accounts without credit left (or
    ended) are not written."""
    for _ in range(SETTLE_RETRIES):
        try:
            account = Account.get(account_id, consistent_read=True)
        except DoesNotExist:
            return
        stored = Credit.of(account)
        if account.status in ENDED or stored.balance <= 0:
            return
        credit = rebased(stored, now, seat_cost(account, now, settings).monthly)
        if credit.balance <= 0 or credit == stored:
            return  # run out already (its valid_until says when), or nothing moved

        def build(tx: TransactWrite, outcome: Outcome, account: Account = account, credit: Credit = credit) -> None:
            tx.update(Account(account_id), actions=_stored(credit), condition=_same_seats(account))
            outcome.labels.append("update:account")

        if not try_commit(build):
            return
        # Its credit or seats changed since it was read: read it again.
    raise ServiceUnavailable("Too many concurrent changes to this account's seats; retry shortly")


# ---------------------------------------------------------------- what it has paid for (the billing run)


def covered(
    account: Account, start: datetime, end: datetime, now: datetime, monthly_seat_cost: int | None = None
) -> list[Window]:
    """R-CREDIT-1 for the billing run: the parts ``[since, until)`` of ``[start, end)`` the
    credit pays for, as known at ``now``, in order and disjoint (empty: none).

    The current run: from ``credit_since`` (when it began: time before it was not paid by
    it, and a run that waits for the end of a period paid by card begins there) until
    ``valid_until`` settled to ``now`` (``settled``), or, given ``monthly_seat_cost`` (the
    seats change now), rebased at that cost now, as ``rebase`` will store it. A credit
    that does not run down (``valid_until`` null: its seats cost nothing) pays for nothing.
    Runs before a lapse (ran out, bought again later) that reach into ``[start, since)``
    are read from the ``credit_bought`` events that began a new run (one Query, only
    then): the lapse between is not covered. Accounts from before ``credit_since`` fall
    back to the first purchase's invoice when the credit was settled after ``start``."""
    stored = Credit.of(account)
    if stored.balance <= 0 or stored.updated_at is None:
        return []
    current = settled(stored, now) if monthly_seat_cost is None else rebased(stored, now, monthly_seat_cost)
    if current.valid_until is None or current.valid_until <= start:
        return []
    since = account.credit_since
    if since is None:
        since = start
        if stored.updated_at > start:  # bought or settled since ``start``: was it running before?
            first = _first_purchase(account.id)
            since = max(start, first) if first is not None else start
    until = min(current.valid_until, end)
    windows = _earlier_runs(account.id, start, min(since, end)) if since > start else []
    if max(since, start) < until:
        windows += _outside((max(since, start), until), current.paused)
    return windows


def _outside(window: Window, pause: Window | None) -> list[Window]:
    """``window`` without ``pause`` (the part the card paid for): zero, one or two windows."""
    if pause is None or pause[1] <= window[0] or window[1] <= pause[0]:
        return [window]
    pieces = [(window[0], pause[0]), (pause[1], window[1])]
    return [(since, until) for since, until in pieces if since < until]


def _previous_run(account: Account, now: datetime) -> dict[str, str]:
    """The run of credit that ran out before a purchase starts a new one, for its
    ``credit_bought`` event: ``previous_run_from`` (when known) and ``previous_run_until``."""
    stored = Credit.of(account)
    if stored.balance <= 0 or stored.valid_until is None or settled(stored, now).balance > 0:
        return {}  # none, closed (cancelled), or still running: nothing it paid for ended
    # Spent: at its validity, or a moment before it when what was left rounds to no cent.
    run = {"previous_run_until": clock.to_iso(min(stored.valid_until, _second(now)))}
    if account.credit_since is not None:
        run["previous_run_from"] = clock.to_iso(account.credit_since)
    return run


def _earlier_runs(account_id: str, start: datetime, before: datetime) -> list[Window]:
    """The parts of ``[start, before)`` paid by runs of credit that ran out before the
    current one began: the ``credit_bought`` events since ``start`` that record one."""
    found = audit_events.of_type(account_id, "credit_bought", after=start)
    windows = []
    for event in found:
        details = event.details.as_dict()  # type: ignore[no-untyped-call]  # pynamodb
        if "previous_run_until" not in details:
            continue
        since = clock.parse_iso(str(details.get("previous_run_from") or clock.to_iso(start)))
        until = min(clock.parse_iso(str(details["previous_run_until"])), before)
        if max(since, start) < until:
            windows.append((max(since, start), until))
    return _merged(windows)


def _merged(windows: list[Window]) -> list[Window]:
    merged: list[Window] = []
    for since, until in sorted(windows):
        if merged and since <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], until))
        else:
            merged.append((since, until))
    return merged


def _first_purchase(account_id: str) -> datetime | None:
    """When the account's credit first started to run: its first purchase (one Query)."""
    found = invoices.with_purpose(account_id, PURPOSE)
    for invoice in found:
        if invoice.kind == "invoice":
            return _second(invoice.issued_at)
    return None


# ---------------------------------------------------------------- leaving early (R-CREDIT-2)


@dataclass(frozen=True)
class Leaving:
    """What the cancellation does with the credit: the refund owed and the fee kept."""

    refund: Money
    cancellation_fee: Money

    def as_ref(self) -> str:
        return json.dumps(
            {"refund": self.refund.amount, "fee": self.cancellation_fee.amount, "currency": self.refund.currency}
        )

    @classmethod
    def of_ref(cls, ref: str) -> Leaving:
        data = json.loads(ref)
        currency = str(data["currency"])
        return cls(
            Money(amount=int(data["refund"]), currency=currency), Money(amount=int(data["fee"]), currency=currency)
        )


def leaving(account: Account, now: datetime, settings: Settings) -> Leaving | None:
    """R-CREDIT-2: with credit left and not expired, ``credit_refund_percent`` of it is
    refunded (never more than its purchases' charges), the rest is the cancellation fee."""
    current = settled(Credit.of(account), now)
    if current.balance <= 0 or (current.valid_until is not None and _second(now) >= current.valid_until):
        return None
    refund, _ = refund_split(current.balance, settings.credit_refund_percent)
    refund = min(refund, sum(amount for _, amount in _purchases(account.id)))
    return Leaving(
        Money(amount=refund, currency=settings.currency),
        Money(amount=current.balance - refund, currency=settings.currency),
    )


def close(
    tx: TransactWrite, outcome: Outcome, account: Account, now: datetime, left: Leaving | None
) -> tuple[list[Action], Condition]:
    """The cancelling transaction's part: the credit settled to 0 (the account's actions and
    the condition that it did not move since ``account`` was read) and, when some is left,
    the claim recording the refund owed (put as "credit_refund"; once per account)."""
    condition = unchanged(account)
    if int(account.credit_balance or 0) <= 0 and account.credit_updated_at is None:
        return [], condition
    actions: list[Action] = [
        Account.credit_balance.set(0),
        Account.credit_updated_at.set(max(_second(now), account.credit_updated_at or _second(now))),
        Account.credit_valid_until.remove(),
    ]
    if left is not None:
        claim = Claim(REFUND_CLAIM + account.id, account_id=account.id, claimed_at=now, ref=left.as_ref())
        outcome.put(tx, "credit_refund", claim, Claim.claim.does_not_exist())
    return actions, condition


def refund_owed(account_id: str, settings: Settings) -> Leaving | None:
    """R-CREDIT-2: pay the refund the cancellation recorded (again: every call is idempotent
    per charge) and answer what was refunded and kept; None when there was no credit."""
    try:
        claim = Claim.get(REFUND_CLAIM + account_id, consistent_read=True)
    except DoesNotExist:
        return None
    left = Leaving.of_ref(str(claim.ref))
    provider = payments.provider_for(settings)
    owed = left.refund.amount
    for charge_id, total in _purchases(account_id):
        if owed <= 0:
            break
        part = min(owed, total)
        provider.refund(
            charge_id,
            Money(amount=part, currency=left.refund.currency),
            idempotency_key=f"credit-refund:{account_id}:{charge_id}",
        )
        owed -= part
    return left


def _purchases(account_id: str) -> Iterator[tuple[str, int]]:
    """The charges credit was bought with and their totals, newest first."""
    for invoice in invoices.newest_first(account_id):
        if invoice.purpose.startswith(PURPOSE) and invoice.charge_id and invoice.kind == "invoice":
            yield str(invoice.charge_id), int(invoice.total)

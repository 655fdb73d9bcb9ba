"""The payment provider's signed webhook events (R-PAY-12), each applied exactly once.

``verified`` checks the ``Stripe-Signature`` header with the SDK (HMAC-SHA256 with the
webhook secret, within ``TOLERANCE_SECONDS`` of its timestamp); anything unsigned, badly
signed, stale or not an event is ``InvalidSignature`` (400) and changes nothing. ``apply``
then does what the event says, with the event's record (a ``payment-event#<event id>`` claim)
put in the same transaction as its effect, so a redelivery, a concurrent delivery or a delivery
after a later event finds the record and changes nothing:

- ``payment_intent.succeeded``: a payment confirmed after the request that asked for it had
  answered (the card holder authenticated, or it was processing) finishes that request: the
  charge's metadata names the operation (``Draft.resume``), which runs again with this payment
  as the charge of its purpose (``invoicing.settling``): invoice, receipt, account active. A
  purpose issued already (the owner's retry got there first) needs nothing; a payment whose
  purpose can no longer be issued (the account ended or moved on) is refunded.
- ``payment_intent.payment_failed``: as a declined charge: the owner's request had saved
  nothing; a billing run's charge is collected again now, which records the decline.
- ``payment_intent.processing``, ``payment_intent.requires_action``: the charge stays unpaid.
- ``charge.refunded``: each refund made at the provider (not by the service) gets a credit note
  for its amount against the invoice its payment paid.
- ``charge.dispute.created``: the account is flagged for staff, the owner and staff are told;
  ``dispute_policy`` ``suspend`` also blocks the account's access until staff decide.
- ``customer.source.expiring``, ``payment_method.automatically_updated``: the owner is asked
  to check, or replace, the card the next charges go to.

Other event types are acknowledged and ignored. docs/ARCHITECTURE.md "Payments".
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from lifecycle import notifications
from lifecycle.accounts import audit
from lifecycle.billing import billing_run, bills, credit, invoicing, payment_methods, payments
from lifecycle.core import clock, secrets
from lifecycle.core.auth import Principal
from lifecycle.core.errors import DomainError, InvalidSignature, ServiceUnavailable
from lifecycle.core.money import Money, div_round_half_up
from lifecycle.core.notices import NoticeType
from lifecycle.core.observability import logger
from lifecycle.core.settings import Settings
from lifecycle.storage import Account, AuditEvent, Claim, Invoice, Notification, invoices
from lifecycle.storage.accounts import ENDED, AccountStatus
from lifecycle.storage.claims import PAYMENT_EVENT
from lifecycle.storage.transactions import Outcome, try_commit

# Stripe's own default: an event signed longer ago than this is refused as a possible replay.
# Measured on the wall clock by the SDK (the provider signs with real time), not the service's clock.
TOLERANCE_SECONDS = 300
# A late payment whose purpose is not issued is refunded only once the request (or run) that made
# it cannot still be issuing it: longer than any function's timeout (the billing run's 300 s).
# Before that its event is answered 503, and the provider delivers it again.
IN_FLIGHT_SECONDS = 900
REFUND = "provider-refund#"  # the purpose of a refund's credit note: one per refund
RULE = "R-PAY-12"
Outcome_ = Literal["applied", "duplicate", "ignored"]


@dataclass(frozen=True)
class ProviderEvent:
    """A verified event: its id, type and the object it is about (Stripe's JSON)."""

    id: str
    type: str
    object: dict[str, Any]


def verified(payload: bytes, signature: str | None, settings: Settings) -> ProviderEvent:
    """The event ``payload`` is, when ``signature`` is the provider's for it and recent."""
    import stripe  # ~0.4 s: imported on the first event, never at the handler's import

    secret = secrets.payment_webhook_secret(settings)
    if not secret:
        raise RuntimeError("the webhook endpoint needs payment_webhook_secret")
    if not signature:
        raise InvalidSignature("The event is not signed (Stripe-Signature header)")
    try:
        text = payload.decode("utf-8")
        stripe.WebhookSignature.verify_header(text, signature, secret, TOLERANCE_SECONDS)
    except (UnicodeDecodeError, stripe.SignatureVerificationError):
        # Which check failed is not said: a forger learns nothing from the answer.
        logger.warning("payment event refused: signature")
        raise InvalidSignature("The event's signature is not valid or too old") from None
    return _event(text)


def _event(text: str) -> ProviderEvent:
    try:
        body = json.loads(text)
        event_id, kind, obj = body["id"], body["type"], body["data"]["object"]
    except (ValueError, KeyError, TypeError):
        raise InvalidSignature("The signed body is not an event") from None
    if not (isinstance(event_id, str) and event_id and isinstance(kind, str) and isinstance(obj, dict)):
        raise InvalidSignature("The signed body is not an event")
    return ProviderEvent(event_id, kind, obj)


def apply(event: ProviderEvent, now: datetime, settings: Settings) -> Outcome_:
    """Apply the event once (module doc). ``ServiceUnavailable`` (the database or the provider
    busy) leaves it unapplied: the provider delivers it again."""
    handler = HANDLERS.get(event.type)
    if handler is None:
        return "ignored"
    if _recorded(PAYMENT_EVENT + event.id):
        return "duplicate"
    logger.info("payment event", extra={"event_id": event.id, "event_type": event.type})
    return handler(event, now, settings)


# ---------------------------------------------------------------- the event's record


def _claim(event: ProviderEvent, account_id: str, now: datetime) -> Claim:
    claim = Claim(PAYMENT_EVENT + event.id, account_id=account_id, claimed_at=now)
    claim.ref = event.type
    return claim


def _recorded(key: str) -> bool:
    try:
        Claim.get(key, consistent_read=True)
    except DoesNotExist:
        return False
    return True


def _record(claim: Claim) -> Outcome_:
    """The event's record alone: its effect was made otherwise (or it has none)."""

    def build(tx: TransactWrite, outcome: Outcome) -> None:
        outcome.put(tx, "event", claim, Claim.claim.does_not_exist())

    return "duplicate" if try_commit(build) else "applied"


# ---------------------------------------------------------------- payments


@dataclass(frozen=True)
class Intent:
    """What a payment intent (or its charge) says about the payment."""

    id: str
    amount: Money
    customer: str | None
    method: str | None
    metadata: dict[str, str]
    created: datetime | None = None

    @classmethod
    def of(cls, obj: dict[str, Any], intent_id: str | None = None) -> Intent:
        metadata = obj.get("metadata") or {}
        return cls(
            id=str(intent_id or obj.get("id") or ""),
            amount=Money(amount=int(obj.get("amount") or 0), currency=str(obj.get("currency") or "").upper()),
            customer=obj.get("customer"),
            method=obj.get("payment_method"),
            metadata={str(k): str(v) for k, v in metadata.items()} if isinstance(metadata, dict) else {},
            created=datetime.fromtimestamp(int(obj["created"]), UTC) if isinstance(obj.get("created"), int) else None,
        )

    @property
    def account_id(self) -> str | None:
        return self.metadata.get("account_id") or None

    @property
    def purpose(self) -> str | None:
        return self.metadata.get("purpose") or None


def _succeeded(event: ProviderEvent, now: datetime, settings: Settings) -> Outcome_:
    intent = Intent.of(event.object)
    if intent.account_id is None or intent.purpose is None:
        return "ignored"  # not a charge of this service's
    claim = _claim(event, intent.account_id, now)
    return settle_intent(intent, claim, now, settings)


def settle_intent(intent: Intent, claim: Claim | None, now: datetime, settings: Settings) -> Outcome_:
    """Finish the request whose payment ``intent`` is (module doc), with the event's ``claim`` in
    its issuing transaction; refund the payment when its purpose cannot be issued any more."""
    account_id, purpose = str(intent.account_id), str(intent.purpose)
    if invoicing.issued_for(account_id, purpose) is not None:
        return _record(claim) if claim is not None else "applied"
    settled = invoicing.Settled(intent.id, intent.amount, purpose, claim)
    try:
        with invoicing.settling(settled):
            _resume(intent, now, settings)
    except ServiceUnavailable:
        raise
    except (DomainError, invoicing.AccountMoved, bills.Moved) as exc:
        logger.info("late payment not applied", extra={"account_id": account_id, "reason": type(exc).__name__})
    if invoicing.issued_for(account_id, purpose) is None:
        if intent.created is not None and now - intent.created < timedelta(seconds=IN_FLIGHT_SECONDS):
            # The request that charged it may still be issuing it: not refunded yet.
            raise ServiceUnavailable("The payment's request may still be running; deliver the event again later")
        _refund(intent, settings)
    if claim is None:
        return "applied"
    # Issued with this payment by this delivery (the event's record was in its transaction);
    # else the record is put now: a duplicate when a concurrent delivery of the event put it.
    return "applied" if settled.issued else _record(claim)


def _refund(intent: Intent, settings: Settings) -> None:
    """A payment nothing was issued for goes back to the payer (its key makes it once)."""
    logger.warning("late payment refunded: its purpose was not issued", extra={"payment_intent": intent.id})
    invoicing.refund_unissued(payments.provider_for(settings), intent.id, intent.amount)


def _resume(intent: Intent, now: datetime, settings: Settings) -> None:
    """Run the operation the charge's metadata names again, as the request (or run) that made it."""
    operation = intent.metadata.get("operation", "")
    resume = RESUMES.get(operation)
    if resume is None:
        raise invoicing.AccountMoved([f"operation:{operation or 'none'}"])
    account = _account(str(intent.account_id))
    if account is None or account.status in ENDED:
        raise invoicing.AccountMoved(["account:ended"])
    resume(account, intent, now, settings)


def _account(account_id: str) -> Account | None:
    try:
        return Account.get(account_id, consistent_read=True)
    except DoesNotExist:
        return None


def _owner(account: Account, intent: Intent) -> Principal:
    return Principal(user_id=intent.metadata.get("actor") or "payment-provider", account_id=account.id, role="owner")


def _with_method(account: Account, intent: Intent) -> Account:
    """The account charging the method the payment was made with (a new one is not stored
    until its first charge is, R-PAY-12)."""
    if intent.method and intent.method != account.payment_method_ref:
        method_type, shown = payments.method_of_metadata(intent.metadata)
        account.payment_method_type = method_type or account.payment_method_type
        account.payment_method_display = shown
    account.payment_customer_id = intent.customer or account.payment_customer_id
    account.payment_method_ref = intent.method or account.payment_method_ref
    return account


def _resume_end_trial(account: Account, intent: Intent, now: datetime, settings: Settings) -> None:
    payment_methods.end_trial_paid(_owner(account, intent), _with_method(account, intent), now, settings)


def _resume_settle(account: Account, intent: Intent, now: datetime, settings: Settings) -> None:
    if account.status != AccountStatus.PAYMENT_REQUIRED:
        raise invoicing.AccountMoved(["account:settled"])
    bills.settle(_with_method(account, intent), now, settings, actor=_owner(account, intent).user_id)


def _resume_credit(account: Account, intent: Intent, now: datetime, settings: Settings) -> None:
    amount = Money(amount=int(intent.metadata.get("amount") or 0), currency=settings.currency)
    credit.purchase(_owner(account, intent), _with_method(account, intent), amount, str(intent.purpose), now, settings)


def _resume_billing_run(account: Account, intent: Intent, now: datetime, settings: Settings) -> None:
    billing_run.collect(account, now, settings)


Resume = Callable[[Account, Intent, datetime, Settings], None]
RESUMES: dict[str, Resume] = {
    payment_methods.END_TRIAL: _resume_end_trial,
    bills.SETTLE: _resume_settle,
    credit.PURCHASE: _resume_credit,
    billing_run.COLLECT: _resume_billing_run,
}


def register(operation: str, resume: Resume) -> None:
    """An operation of a higher tier (a subscription change) that can be finished by its payment."""
    RESUMES[operation] = resume


def _failed(event: ProviderEvent, now: datetime, settings: Settings) -> Outcome_:
    """As a declined charge: nothing to undo for the owner's request (it saved nothing); a billing
    run's charge is collected again now, which finds the decline and records it."""
    intent = Intent.of(event.object)
    if intent.account_id is None:
        return "ignored"
    if intent.metadata.get("operation") == billing_run.COLLECT:
        account = _account(intent.account_id)
        if account is not None:
            billing_run.collect(account, now, settings)
    return _record(_claim(event, intent.account_id, now))


def _pending(event: ProviderEvent, now: datetime, settings: Settings) -> Outcome_:
    """Processing, or waiting for the card holder: not paid yet, nothing changes."""
    intent = Intent.of(event.object)
    if intent.account_id is None:
        return "ignored"
    return _record(_claim(event, intent.account_id, now))


# ---------------------------------------------------------------- refunds made at the provider


def _refunded(event: ProviderEvent, now: datetime, settings: Settings) -> Outcome_:
    """Each refund made at the provider gets a credit note against the invoice the payment paid
    (its purpose is the refund's id: one note per refund whatever the events); a payment not
    applied yet is applied first (the events may come in any order)."""
    charge = event.object
    intent_id = charge.get("payment_intent")
    intent = Intent.of(charge, intent_id=intent_id)
    if intent.account_id is None or not intent_id:
        return "ignored"
    claim = _claim(event, intent.account_id, now)
    original = _paid_invoice(intent.account_id, intent_id)
    if original is None and intent.purpose is not None:
        settle_intent(intent, None, now, settings)
        original = _paid_invoice(intent.account_id, intent_id)
    refunds = [r for r in _refunds(charge) if (r.get("metadata") or {}).get("refunded_by") != "service"]
    if original is None or not refunds:
        return _record(claim)
    for refund in refunds:
        _credit_refund(original, refund, claim if refund is refunds[-1] else None, now)
    return "applied" if _recorded(claim.claim) else _record(claim)


def _refunds(charge: dict[str, Any]) -> list[dict[str, Any]]:
    listed = charge.get("refunds") or {}
    data = listed.get("data") if isinstance(listed, dict) else None
    return [r for r in data or [] if isinstance(r, dict) and r.get("id") and r.get("status") != "failed"]


def _paid_invoice(account_id: str, intent_id: str) -> Invoice | None:
    """The invoice a payment paid: the latest issued with it (a correction reissues it with the same charge)."""
    paid = [
        item for item in invoices.newest_first(account_id) if item.kind == "invoice" and item.charge_id == intent_id
    ]
    return paid[0] if paid else None


def _credit_refund(original: Invoice, refund: dict[str, Any], claim: Claim | None, now: datetime) -> None:
    """A credit note for ``refund``'s amount, split into net and VAT as the original invoice was."""
    purpose = REFUND + str(refund["id"])
    if invoicing.issued_for(original.account_id, purpose) is not None:
        return
    gross = int(refund.get("amount") or 0)
    total, subtotal = int(original.total), int(original.subtotal)
    net = div_round_half_up(gross * subtotal, total) if total else gross
    amount = Money(amount=-net, currency=original.currency)
    line = invoicing.Line(
        description=f"Refund of invoice {original.number} made at the payment provider",
        quantity=1,
        unit_price=amount,
        amount=amount,
        rule=RULE,
    )
    note = Invoice(
        original.account_id,
        f"cn_{now.strftime('%Y%m%d%H%M%S%f')}_{str(refund['id'])[-8:]}",
        number="",
        kind="credit_note",
        status=invoicing.ISSUED,
        issued_at=now,
        period_start=original.period_start,
        period_end=original.period_end,
        currency=original.currency,
        lines=[line.model_dump(mode="json")],
        subtotal=-net,
        tax=-(gross - net),
        tax_rate_basis_points=int(original.tax_rate_basis_points or 0),
        tax_note=original.tax_note,
        total=-gross,
        billing_details=original.billing_details,
        vat_check=original.vat_check,
        purpose=purpose,
        corrects=original.invoice_id,
        charge_id=original.charge_id,
    )
    event = audit.event(
        original.account_id,
        "refunded_at_provider",
        "payment-provider",
        now,
        invoice_id=original.invoice_id,
        amount=gross,
    )

    def build(tx: TransactWrite, outcome: Outcome, _: Invoice) -> None:
        outcome.put(tx, "audit", event, AuditEvent.event_key.does_not_exist())
        if claim is not None:
            outcome.put(tx, "event", claim, Claim.claim.does_not_exist())

    with contextlib.suppress(invoicing.PurposeIssued):  # a concurrent delivery issued it
        invoicing.issue(note, now, invoicing.AccountChange(build))


# ---------------------------------------------------------------- disputes


def _disputed(event: ProviderEvent, now: datetime, settings: Settings) -> Outcome_:
    """The account is flagged for staff (``payment_dispute``), staff and the owner are told, and
    with ``dispute_policy`` ``suspend`` its access is blocked until staff decide; one transaction
    with the event's record."""
    dispute = event.object
    account_id = _account_of_payment(str(dispute.get("payment_intent") or ""), dispute, settings)
    account = _account(account_id) if account_id else None
    if account is None:
        return "ignored"
    claim = _claim(event, account.id, now)
    amount = Money(amount=int(dispute.get("amount") or 0), currency=str(dispute.get("currency") or "").upper())
    flag = {
        "id": str(dispute.get("id") or ""),
        "payment_intent": str(dispute.get("payment_intent") or ""),
        "amount": amount.amount,
        "currency": amount.currency,
        "reason": str(dispute.get("reason") or "general"),
        "opened_at": clock.to_iso(now),
    }
    suspend = settings.dispute_policy == "suspend" and account.status == AccountStatus.ACTIVE
    actions: list[Action] = [Account.payment_dispute.set(flag)]
    if suspend:
        # As staff's suspension (lifecycle.ending.staff_actions): staff reinstate it.
        actions += [
            Account.status.set(AccountStatus.SUSPENDED),
            Account.access_blocked_reason.set(AccountStatus.SUSPENDED),
            Account.status_before_suspension.set(account.status),
            Account.suspended_at.set(now),
            Account.status_reason.set("payment_disputed"),
        ]
    subdomain = account.subdomain or account.id
    told = [
        notifications.compose(
            account.id,
            "dispute_opened",
            settings.staff_email,
            now,
            account=account.id,
            amount=amount,
            reason=flag["reason"],
            policy=settings.dispute_policy,
        ),
    ]
    if account.owner_email:
        told.append(
            notifications.compose(
                account.id, "payment_disputed", account.owner_email, now, subdomain=subdomain, amount=amount
            )
        )
    audit_event = audit.event(
        account.id, "payment_disputed", "payment-provider", now, amount=amount.amount, suspended=suspend
    )

    def build(tx: TransactWrite, outcome: Outcome) -> None:
        condition = Account.id.exists() & (Account.status == account.status)
        tx.update(Account(account.id), actions=actions, condition=condition)
        outcome.labels.append("update:account")
        outcome.put(tx, "event", claim, Claim.claim.does_not_exist())
        outcome.put(tx, "audit", audit_event, AuditEvent.event_key.does_not_exist())
        for notice in told:
            outcome.put(tx, "notice", notice, Notification.notification_key.does_not_exist())

    failed = try_commit(build)
    if "event" in failed:
        return "duplicate"
    if failed:
        raise ServiceUnavailable("The account changed while the dispute was recorded; deliver again")
    return "applied"


def _account_of_payment(intent_id: str, obj: dict[str, Any], settings: Settings) -> str | None:
    """The account a payment was for: the object's metadata when it carries the charge's, else
    the payment intent's at the provider (a dispute has metadata of its own)."""
    metadata = obj.get("metadata") or {}
    if isinstance(metadata, dict) and metadata.get("account_id"):
        return str(metadata["account_id"])
    if intent_id:
        return payments.provider_for(settings).account_of_payment(intent_id)
    return None


# ---------------------------------------------------------------- cards


def _card_notice(event: ProviderEvent, now: datetime, settings: Settings) -> Outcome_:
    """The card the account charges is expiring, or the card network updated it: the owner is
    asked to check it or give a new one, once per event."""
    card = event.object
    customer = card.get("customer")
    if not isinstance(customer, str) or not customer:
        return "ignored"
    account_id = payments.provider_for(settings).account_of_customer(customer)
    account = _account(account_id) if account_id else None
    if account is None or account.status in ENDED or account.payment_method_ref != card.get("id"):
        return "ignored"  # not the method the account charges
    nested = card.get("card")
    details: dict[str, Any] = nested if isinstance(nested, dict) else card
    kind: NoticeType = "card_expiring" if event.type == "customer.source.expiring" else "card_updated"
    if not account.owner_email:
        return _record(_claim(event, account.id, now))
    notice = notifications.compose(
        account.id,
        kind,
        account.owner_email,
        now,
        subdomain=account.subdomain or account.id,
        brand=str(details.get("brand") or "card"),
        last4=str(details.get("last4") or "????"),
        expires=f"{int(details.get('exp_month') or 0):02d}/{int(details.get('exp_year') or 0)}",
    )
    claim = _claim(event, account.id, now)

    def build(tx: TransactWrite, outcome: Outcome) -> None:
        outcome.put(tx, "event", claim, Claim.claim.does_not_exist())
        outcome.put(tx, "notice", notice, Notification.notification_key.does_not_exist())

    if try_commit(build):
        return "duplicate"
    return "applied"


Handler = Callable[[ProviderEvent, datetime, Settings], Outcome_]
HANDLERS: dict[str, Handler] = {
    "payment_intent.succeeded": _succeeded,
    "payment_intent.payment_failed": _failed,
    "payment_intent.processing": _pending,
    "payment_intent.requires_action": _pending,
    "charge.refunded": _refunded,
    "charge.dispute.created": _disputed,
    "customer.source.expiring": _card_notice,
    "payment_method.automatically_updated": _card_notice,
}

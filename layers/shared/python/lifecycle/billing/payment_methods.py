"""The owner's payment method (R-PAY-3, R-PAY-4, R-PAY-12, R-VOUCH-10).

Only the provider's references are stored (customer and payment method ids), and what the
provider shows of the method (a card's brand, last four digits and expiry; PayPal as such), never
card data; a token of another type than the owner said is refused before anything is stored.
During a trial (or after it expired) adding one ends the trial and charges the first period at
once; on a ``payment_required`` account it settles what is due (``lifecycle.billing.bills.settle``)
and restores access at once; otherwise it replaces the method for the next charges.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pynamodb.transactions import TransactWrite

from lifecycle.accounts import accounts, audit
from lifecycle.accounts.accounts import AccountView
from lifecycle.billing import billing_details, bills, payments, subscriptions
from lifecycle.billing.billing_details import InForce
from lifecycle.billing.invoicing import (
    AccountChange,
    AccountMoved,
    InvoiceView,
    Known,
    charge_and_issue,
    read_with_account,
)
from lifecycle.core.auth import Principal, require_member
from lifecycle.core.errors import BillingDetailsRequired, Conflict, Forbidden, InvalidField
from lifecycle.core.settings import Settings
from lifecycle.storage import Account, AuditEvent, Invoice
from lifecycle.storage.accounts import ENDED, TRIAL, AccountStatus
from lifecycle.storage.transactions import Outcome, try_commit

MethodType = Literal["card", "paypal"]
# The operation a late-confirmed first charge finishes (lifecycle.billing.webhooks).
END_TRIAL = "end_trial"


class PaymentMethodInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: MethodType
    token: str = Field(
        min_length=5,
        max_length=255,
        pattern=r"^[A-Za-z0-9_\-]+$",
        description="the payment provider's token (API.md: `tok_visa` locally); never a card number",
    )


class PaymentMethodView(BaseModel):
    """The method's type, the account after the change, and the invoice of an immediate charge."""

    type: MethodType
    account: AccountView
    invoice: InvoiceView | None


def put_for(
    principal: Principal, account_id: str, form: PaymentMethodInput, now: datetime, settings: Settings
) -> PaymentMethodView:
    require_member(principal, account_id, roles=("owner",))
    if principal.is_staff:
        raise Forbidden("Only the account's owner gives its payment method")
    # With the account, what ending a trial would read: whether its first period was issued.
    account, known = read_with_account(account_id, subscriptions.FIRST_PERIOD)
    if account.status in ENDED:
        raise Conflict("The account has ended")
    details = billing_details.in_force_at(account.id, now)
    if details is None:
        raise BillingDetailsRequired("Give the billing details first: invoices are made out to them (R-VOUCH-8)")
    previous = account.payment_method_ref if account.has_payment_method else None
    _attach(account, form, settings)
    invoice, as_stored = _after_attach(principal, account, now, settings, details, previous, known)
    return PaymentMethodView(
        type=form.type,
        account=AccountView.of(account if as_stored else accounts.load(account_id)),
        invoice=InvoiceView.of(invoice) if invoice is not None else None,
    )


def _attach(account: Account, form: PaymentMethodInput, settings: Settings) -> None:
    """The provider keeps the token; the account keeps the provider's references."""
    provider = payments.provider_for(settings)
    customer = account.payment_customer_id or provider.create_customer(
        account.id, account.owner_email or "", idempotency_key=f"customer:{account.id}"
    )
    token_digest = hashlib.sha256(form.token.encode()).hexdigest()[:32]
    attached = provider.attach(customer, form.type, form.token, idempotency_key=f"attach:{account.id}:{token_digest}")
    if attached.type != form.type:
        # The token decides what the provider attached; the account would show (and charge) the wrong
        # kind. It stays attached at the provider, unused: nothing is stored here.
        raise InvalidField("token", f"is a {attached.type} token, not a {form.type} one; send type {attached.type!r}")
    account.payment_customer_id = customer
    account.payment_method_ref = attached.id
    account.payment_method_type = form.type
    account.payment_method_display = attached.display()


def _after_attach(
    principal: Principal,
    account: Account,
    now: datetime,
    settings: Settings,
    details: InForce,
    previous: str | None = None,
    known: Known | None = None,
) -> tuple[Invoice | None, bool]:
    """The invoice of an immediate charge, and whether ``account`` now shows what is stored
    for the answer (its read, with what this request wrote under its condition), else it
    is read again."""
    in_trial = account.status in TRIAL and not account.lifetime
    if in_trial and not account.has_payment_method:
        return _end_trial(principal, account, now, settings, details, known)
    if account.status == AccountStatus.PAYMENT_REQUIRED:
        # R-VOUCH-10: everything due is charged to the new method, then access returns at once;
        # on session (R-PAY-12), as the owner's request, so a card holder can authenticate.
        # What the settlement wrote (its status and access) is the billing run's: read again.
        return bills.settle(account, now, settings, actor=principal.user_id), False
    if account.payment_method_ref == previous:
        # The method the account has (the provider's attach replayed it): a retry of a change
        # that was made, or the same card again. Nothing to replace, nothing to record.
        return None, True
    _replace(principal, account, now)  # the method only, which the account view does not show
    return None, True


def _end_trial(
    principal: Principal,
    account: Account,
    now: datetime,
    settings: Settings,
    details: InForce,
    known: Known | None = None,
) -> tuple[Invoice | None, bool]:
    """R-PAY-4 (during the trial) or R-PAY-3 (after it expired): the first period, charged now
    (``known``: what was read with the account, ``invoicing.read_with_account``)."""
    rule = "R-PAY-4" if account.status == AccountStatus.TRIALING else "R-PAY-3"
    period, draft = subscriptions.first_period(account, now, rule, settings)
    draft.details = details  # valid at ``now`` with their VAT ID's confirmation, read already (R-PAY-14)
    draft.resume = _resume(END_TRIAL, principal, account)
    event = audit.event(account.id, "trial_ended_by_payment_method", principal.user_id, now, rule=rule)

    def build(tx: TransactWrite, outcome: Outcome, invoice: Invoice | None) -> None:
        subscriptions.start_paid_period(tx, outcome, account, period, invoice, settings)
        outcome.put(tx, "audit", event, AuditEvent.event_key.does_not_exist())

    moved = Conflict("The account changed meanwhile (a payment method was added or it ended); reload it")
    if draft.subtotal == 0:  # a free plan: nothing to charge, the trial still ends
        if try_commit(lambda tx, outcome: build(tx, outcome, None)):
            raise moved
        _started(account)
        return None, True
    change = AccountChange(build)
    try:
        invoice = charge_and_issue(account, draft, now, change, settings, off_session=False, known=known)
    except AccountMoved as exc:
        raise moved from exc
    if change.made(invoice):
        _started(account)
        return invoice, True
    return invoice, False  # issued before, by an earlier attempt: read what is stored


def _resume(operation: str, principal: Principal, account: Account) -> dict[str, str]:
    return {"operation": operation, "actor": principal.user_id, **payments.method_metadata(account)}


def end_trial_paid(principal: Principal, account: Account, now: datetime, settings: Settings) -> Invoice | None:
    """The first charge confirmed after the owner's request answered (R-PAY-12, its webhook):
    the trial ends as that request would have ended it, with ``account`` carrying the method
    the payment was made with. ``Conflict`` when the account left its trial meanwhile."""
    if account.status not in TRIAL or account.lifetime or account.has_payment_method:
        raise Conflict("The account's trial ended otherwise meanwhile")
    details = billing_details.in_force_at(account.id, now)
    if details is None:
        raise BillingDetailsRequired("The billing details were removed meanwhile")
    invoice, _ = _end_trial(principal, account, now, settings, details)
    return invoice


def _started(account: Account) -> None:
    """``account`` as ``subscriptions.start_paid_period`` left it, for the answer: its
    condition held the trial read, and of what the view shows it wrote the status and access."""
    account.status = AccountStatus.ACTIVE
    account.access_blocked_reason = None
    account.has_payment_method = True


def _replace(principal: Principal, account: Account, now: datetime) -> None:
    """R-PAY-12: the new method is used from the next charge."""
    event = audit.event(account.id, "payment_method_replaced", principal.user_id, now, type=account.payment_method_type)

    def build(tx: TransactWrite, outcome: Outcome) -> None:
        tx.update(
            Account(account.id),
            actions=[
                Account.has_payment_method.set(True),
                Account.payment_method_type.set(account.payment_method_type),
                Account.payment_method_ref.set(account.payment_method_ref),
                Account.payment_method_display.set(account.payment_method_display),
                Account.payment_customer_id.set(account.payment_customer_id),
            ],
            condition=Account.id.exists() & ~Account.status.is_in(*ENDED),
        )
        outcome.labels.append("update:account")
        outcome.put(tx, "audit", event, AuditEvent.event_key.does_not_exist())

    if try_commit(build):
        raise Conflict("The account has ended")

"""Custom development requests (R-CUSTOM-1, the Terms' "Разработка по поръчка"): the owner files a request;
staff approve it with the agreed specification and price, or refuse it with a reason, once (a conditional
update on ``status = requested``, else 409 ``already_decided``). The results are the vendor's; the
approval notice, stating the specification, the price and the results' owner, is the written agreement
the Terms ask for.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pynamodb.exceptions import DoesNotExist
from pynamodb.transactions import TransactWrite

from lifecycle import notifications
from lifecycle.accounts import accounts, audit
from lifecycle.core import clock, errors
from lifecycle.core.auth import Principal, require_member
from lifecycle.core.money import Money
from lifecycle.core.notices import NoticeType
from lifecycle.core.observability import logger
from lifecycle.storage import Account, CustomRequest, Notification
from lifecycle.storage import custom_requests as stored_requests
from lifecycle.storage.base import apply_values, set_or_remove
from lifecycle.storage.custom_requests import REQUESTED
from lifecycle.storage.transactions import Outcome, commit

LIST_LIMIT = 200
# A decision whose request changed between the read and the write reads it again.
DECIDE_RETRIES = 3
VENDOR: Literal["vendor"] = "vendor"
# One line, as it is also an email subject: no control characters.
SINGLE_LINE = r"^[^\x00-\x1f\x7f]+$"

Status = Literal["requested", "approved", "refused"]


class CustomRequestInput(BaseModel):
    """``POST /accounts/{id}/custom-requests``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: Annotated[str, Field(min_length=1, max_length=200, pattern=SINGLE_LINE)]
    description: Annotated[str, Field(min_length=1, max_length=10_000, description="what to build, and why")]


class ApproveInput(BaseModel):
    """``POST /admin/custom-requests/{request_id}/approve``: what was agreed with the customer."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    specification: Annotated[str, Field(min_length=1, max_length=20_000, description="the agreed specification")]
    price: Money = Field(description="the price agreed in advance, in integer cents")

    @field_validator("price")
    @classmethod
    def _not_negative(cls, price: Money) -> Money:
        if price.amount < 0:
            raise ValueError("the price cannot be negative")
        return price


class RefuseInput(BaseModel):
    """``POST /admin/custom-requests/{request_id}/refuse``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: Annotated[str, Field(min_length=1, max_length=2000, description="told to the owner as written")]


class CustomRequestView(BaseModel):
    id: str
    account_id: str
    title: str
    description: str
    status: Status
    results_owner: Literal["vendor"] = Field(description="the Terms: the results belong to the vendor")
    created_at: str
    created_by: str
    decided_at: str | None
    decided_by: str | None
    specification: str | None = Field(description="approved: the agreed specification")
    price: Money | None = Field(description="approved: the price agreed in advance")
    refusal_reason: str | None = Field(description="refused: the staff's reason")

    @classmethod
    def of(cls, item: CustomRequest) -> CustomRequestView:
        price = None
        if item.price_amount is not None and item.price_currency is not None:
            price = Money(amount=int(item.price_amount), currency=item.price_currency)
        return cls(
            id=item.id,
            account_id=item.account_id,
            title=item.title,
            description=item.description,
            status=item.status,  # type: ignore[arg-type]  # written from Status only
            results_owner=VENDOR,
            created_at=clock.to_iso(item.created_at),
            created_by=item.created_by,
            decided_at=clock.to_iso(item.decided_at) if item.decided_at is not None else None,
            decided_by=item.decided_by,
            specification=item.specification,
            price=price,
            refusal_reason=item.refusal_reason,
        )


class CustomRequestList(BaseModel):
    items: list[CustomRequestView]


# ---------------------------------------------------------------- the owner's side


def file(principal: Principal, account_id: str, form: CustomRequestInput, now: datetime) -> CustomRequestView:
    """R-CUSTOM-1: the owner files a request; it awaits staff's decision."""
    if principal.is_staff:
        raise errors.Forbidden("Customers file custom development requests; staff decide them")
    require_member(principal, account_id, roles=("owner",))
    accounts.load(account_id)
    item = CustomRequest(
        f"cdr_{uuid.uuid4().hex[:20]}",
        account_id=account_id,
        title=form.title,
        description=form.description,
        status=REQUESTED,
        results_owner=VENDOR,
        created_at=now,
        created_by=principal.user_id,
        awaiting_decision=REQUESTED,
    )
    item.save(condition=CustomRequest.id.does_not_exist())
    return CustomRequestView.of(item)


def list_for(principal: Principal, account_id: str, now: datetime) -> CustomRequestList:
    """The account's requests, newest first (at most ``LIST_LIMIT``); staff's reads are audited (R-USE-4)."""
    require_member(principal, account_id, roles=("owner",))
    audit.record_staff_access(principal, account_id, "custom_requests", now)
    found = stored_requests.newest_of_account(account_id, LIST_LIMIT)
    return CustomRequestList(items=[CustomRequestView.of(item) for item in found])


# ---------------------------------------------------------------- staff's side


def awaiting_decision() -> CustomRequestList:
    """Undecided requests, oldest first, through the sparse ``awaiting-decision`` index."""
    found = stored_requests.awaiting_decision(LIST_LIMIT)
    return CustomRequestList(items=[CustomRequestView.of(item) for item in found])


def approve(request_id: str, form: ApproveInput, staff_id: str, now: datetime) -> CustomRequestView:
    """R-CUSTOM-1: approved with the agreed specification and the price agreed in advance."""
    agreed = {
        "specification": form.specification,
        "price_amount": form.price.amount,
        "price_currency": form.price.currency,
    }
    price = {"price_amount": form.price.amount, "currency": form.price.currency}
    item = _decide(request_id, "approved", agreed, "custom_request_approved", staff_id, now, price)
    return CustomRequestView.of(item)


def refuse(request_id: str, form: RefuseInput, staff_id: str, now: datetime) -> CustomRequestView:
    """R-CUSTOM-1: staff may refuse custom development; the owner is told why."""
    item = _decide(request_id, "refused", {"refusal_reason": form.reason}, "custom_request_refused", staff_id, now, {})
    return CustomRequestView.of(item)


def _decide(
    request_id: str,
    status: Status,
    values: dict[str, Any],
    type: NoticeType,
    staff_id: str,
    now: datetime,
    details: dict[str, Any],
) -> CustomRequest:
    """The one transition out of ``requested``, with its audit event and the owner's notice
    in the same transaction; a request already decided is 409, a missing one 404. Answers
    the request as written (its condition held it as read), not read again."""
    decision = {
        "status": status,
        "decided_at": now,
        "decided_by": staff_id,
        "awaiting_decision": None,
        **values,
    }
    for _ in range(DECIDE_RETRIES):
        item = _undecided(request_id)
        try:
            _commit_decision(item, decision, type, staff_id, now, details)
        except _Moved:
            continue  # decided, removed or masked meanwhile: read again to tell which
        return item
    raise errors.ServiceUnavailable("The request is changing; retry shortly")


def _undecided(request_id: str) -> CustomRequest:
    try:
        item = CustomRequest.get(request_id, consistent_read=True)
    except DoesNotExist as missing:
        raise errors.NotFound("No such custom development request") from missing
    if item.status != REQUESTED:
        raise errors.AlreadyDecided(f"This request was {item.status} already", decision=item.status)
    return item


def _commit_decision(
    item: CustomRequest,
    decision: dict[str, Any],
    type: NoticeType,
    staff_id: str,
    now: datetime,
    details: dict[str, Any],
) -> None:
    """One transaction on ``item`` as read: still undecided, its words unchanged (an erasure
    masks them); ``item`` then holds the decision, as stored. The owner's notice is sent
    after the commit."""
    actions = set_or_remove(CustomRequest, decision)
    as_read = (
        CustomRequest.id.exists()
        & (CustomRequest.status == REQUESTED)
        & (CustomRequest.title == item.title)
        & (CustomRequest.description == item.description)
    )
    apply_values(item, decision)  # what the notice tells, and the answer once committed
    event = audit.event(item.account_id, type, staff_id, now, request_id=item.id, **details)
    notice = _decision_notice(item, type, now)

    def build(tx: TransactWrite, outcome: Outcome) -> None:
        tx.update(CustomRequest(item.id), actions=actions, condition=as_read)
        outcome.labels.append("update:request")
        outcome.put(tx, "audit", event, None)
        if notice is not None:
            outcome.put(tx, "notice", notice, Notification.notification_key.does_not_exist())

    commit(build, _moved)


class _Moved(Exception):
    """The request changed since it was read; nothing was written."""


def _moved(failed: list[str]) -> None:
    if "update:request" in failed:
        raise _Moved
    # Only a random notice id colliding fails otherwise; a retry draws another.
    raise errors.ServiceUnavailable("The decision could not be recorded; retry shortly")


def _decision_notice(item: CustomRequest, type: NoticeType, now: datetime) -> Notification | None:
    """The owner told of the decision (unsaved); None when there is nobody to tell."""
    try:
        account = Account.get(item.account_id, consistent_read=True)
    except DoesNotExist:
        logger.warning("custom request of a removed account", extra={"account_id": item.account_id})
        return None
    if not account.owner_email:
        logger.warning("no owner email to notify", extra={"account_id": account.id, "notice_type": type})
        return None
    facts: dict[str, object] = {"subdomain": account.subdomain or account.id, "title": item.title}
    if type == "custom_request_approved":
        price = Money(amount=int(item.price_amount or 0), currency=item.price_currency or "USD")
        facts |= {"specification": item.specification, "price": price}
    else:
        facts |= {"reason": item.refusal_reason}
    return notifications.compose(account.id, type, account.owner_email, now, **facts)

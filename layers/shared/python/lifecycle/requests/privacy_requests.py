"""Data subject requests (R-GDPR-10): received → verified → in progress → completed, or rejected, due
``privacy_response_days`` after receipt. Each step is one conditional write that appends its ``history``
entry; a completion holds a lease and runs the type's idempotent action (``ACTIONS``); the
``privacy-request-sweep`` escalates overdue ones. docs/ARCHITECTURE.md "Data protection" (Requests).
"""

from __future__ import annotations

import hmac
import importlib
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator
from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action as UpdateAction
from pynamodb.transactions import TransactWrite

from lifecycle import notifications
from lifecycle.core import clock, errors, notices
from lifecycle.core.observability import logger
from lifecycle.core.settings import Settings, get_settings
from lifecycle.entry.sweeps import QueryDue, SweepRequest, SweepSummary, due_in, run_sweep
from lifecycle.privacy import consents, privacy, retention
from lifecycle.privacy.privacy import OPEN_STATUSES, PURPOSES, Completing, Purpose, RequestStatus, RequestType
from lifecycle.registration import rate_limit
from lifecycle.registration.registration import normalise_email
from lifecycle.storage import Notification, PrivacyRequest
from lifecycle.storage import privacy as stored_privacy
from lifecycle.storage.base import apply_values, set_or_remove, shard_of, update_if
from lifecycle.storage.transactions import CONFLICT_RETRIES, Outcome, backoff, commit, try_commit


def _deferred(module: str, name: str) -> privacy.Action:
    """An action imported when a request is first completed with it: erasure, rectification
    and the exports reach into every table (and erasure into billing), and the functions that
    only receive, verify, list or escalate requests never run them (a faster cold start)."""

    def action(completing: Completing) -> dict[str, Any]:
        done: dict[str, Any] = getattr(importlib.import_module(module), name)(completing)
        return done

    return action


ACTIONS: dict[RequestType, privacy.Action] = {
    "access": _deferred("lifecycle.requests.exports", "complete_access"),
    "portability": _deferred("lifecycle.requests.exports", "complete_portability"),
    "rectification": _deferred("lifecycle.requests.rectification", "complete"),
    "erasure": _deferred("lifecycle.requests.erasure", "complete"),
    "restriction": consents.complete_restriction,
    "objection": consents.complete_objection,
    "withdraw_consent": consents.complete_withdrawal,
}

SWEEP = "privacy-request-sweep"
LIST_LIMIT = 200
PAGE_SIZE = 100
# Actors of history steps besides staff user ids.
DATA_SUBJECT = "data_subject"
EMAIL_LINK = "email_link"
CLOSED: tuple[RequestStatus, ...] = ("completed", "rejected")
# Longer than PrivacyAdminFunction's Timeout (60 s): a completion that died without recording
# its failure (a timeout) is taken over after this; one that failed visibly, at once.
COMPLETION_LEASE = timedelta(seconds=90)
_RUNNING_STEPS = ("in_progress", "retried")
# A request that keeps changing under a step (the sweep, another staff member) is read again.
STEP_RETRIES = 5
# R-REG-2's fixed windows, counted apart from signups: asking about one's data never uses up
# a signup, and the reverse.
RATE_IP = "privacy-ip"
RATE_EMAIL = "privacy-email"
DETAILS_MAX = 4000
TYPED_PURPOSES: tuple[RequestType, ...] = ("objection", "withdraw_consent")
# An open request's status as the overdue notice tells staff ("... and is still <words>").
STATUS_WORDS: dict[str, str] = {
    "received": "waiting for the subject's identity to be verified",
    "verified": "verified but not started",
    "in_progress": "in progress",
}


# ---------------------------------------------------------------- input


def _address(email: str) -> str:
    # Syntax and domain form only (R-REG-3); disposable addresses are people too.
    return normalise_email(email)


def _unique(purposes: list[Purpose]) -> list[Purpose]:
    return list(dict.fromkeys(purposes))


SubjectEmail = Annotated[str, Field(min_length=3, max_length=254), AfterValidator(_address)]
Purposes = Annotated[
    list[Purpose],
    Field(min_length=1, max_length=len(PURPOSES), description=f"some of: {', '.join(PURPOSES)}; default all"),
    AfterValidator(_unique),
]
Corrections = Annotated[
    dict[Annotated[str, Field(min_length=1, max_length=64)], Annotated[str, Field(max_length=1000)] | None],
    Field(
        max_length=10,
        description="field → corrected value (null: remove it); the rectification checks the fields on completion",
    ),
]
Note = Annotated[str, Field(min_length=1, max_length=1000)]


class RequestInput(BaseModel):
    """``POST /privacy/requests``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    type: RequestType
    email: SubjectEmail
    details: Annotated[str, Field(max_length=DETAILS_MAX)] | dict[str, Any] | None = Field(
        default=None, description=f"free text (at most {DETAILS_MAX} characters) or a JSON object, kept as given"
    )
    purposes: Purposes | None = Field(default=None, description="objection, withdraw_consent: the purposes")
    corrections: Corrections | None = Field(default=None, description="rectification: what to correct")

    @field_validator("details")
    @classmethod
    def _small_object(cls, details: str | dict[str, Any] | None) -> str | dict[str, Any] | None:
        if isinstance(details, dict) and len(json.dumps(details)) > DETAILS_MAX:
            raise ValueError(f"the details are at most {DETAILS_MAX} characters as JSON")
        return details

    @model_validator(mode="after")
    def _typed_parts_fit_the_type(self) -> RequestInput:
        if self.purposes is not None and self.type not in TYPED_PURPOSES:
            raise ValueError("purposes are given only with an objection or a withdrawal of consent")
        if self.corrections is not None and self.type != "rectification":
            raise ValueError("corrections are given only with a rectification")
        return self


class TokenInput(BaseModel):
    """A signed link's token sent as a JSON body instead of the query."""

    model_config = ConfigDict(extra="forbid")

    token: Annotated[str, Field(min_length=1, max_length=2048)]


class VerifyInput(BaseModel):
    """``POST /admin/privacy/requests/{request_id}/verify``: how staff verified the identity."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    note: Note = Field(description="how the identity was verified, e.g. a call back to the number on file")


class CompleteInput(BaseModel):
    """``POST …/complete``: staff's corrections or purposes replace the subject's."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    corrections: Corrections | None = None
    purposes: Purposes | None = None


class RejectInput(BaseModel):
    """``POST …/reject``: told to the subject as written."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: Note = Field(description="why the request is not carried out; told to the subject")


# ---------------------------------------------------------------- views


class HistoryEntry(BaseModel):
    at: str
    step: str = Field(description="received, verified, in_progress, retried, failed, completed, rejected, escalated")
    actor: str = Field(description="data_subject, email_link, privacy-request-sweep or a staff user id")
    note: str | None = None


class SubjectRequestView(BaseModel):
    """What the subject sees of their request (API.md: 202 with status and ``due_at``)."""

    id: str
    type: RequestType
    status: RequestStatus
    received_at: str
    due_at: str

    @classmethod
    def of(cls, item: PrivacyRequest) -> SubjectRequestView:
        return cls(
            id=item.id,
            type=item.type,  # type: ignore[arg-type]  # written from RequestType only
            status=item.status,  # type: ignore[arg-type]  # written from RequestStatus only
            received_at=clock.to_iso(item.received_at),
            due_at=clock.to_iso(item.due_at),
        )


def _iso(instant: datetime | None) -> str | None:
    return clock.to_iso(instant) if instant is not None else None


class StaffRequestView(SubjectRequestView):
    """Staff's view: the whole request, its audit trail and whether it is overdue."""

    email: str
    details: str | dict[str, Any] | None
    purposes: list[str] | None
    corrections: dict[str, Any] | None
    verified_at: str | None
    verified_by: str | None
    started_at: str | None
    completed_at: str | None
    rejected_at: str | None
    reject_reason: str | None
    escalated_at: str | None
    result: dict[str, Any] | None
    history: list[HistoryEntry]
    overdue: bool = Field(description="open and past its due date")

    @classmethod
    def at(cls, item: PrivacyRequest, now: datetime) -> StaffRequestView:
        # Staff's list builds up to LIST_LIMIT of these per request: the item's values are read
        # from pynamodb's ``attribute_values`` (keyed by attribute name, as the model declares
        # them), not through its descriptors, which cost half of this view each.
        values: dict[str, Any] = item.attribute_values
        value = values.get
        status, due_at, purposes = values["status"], values["due_at"], value("purposes")
        return cls(
            id=values["id"],
            type=values["type"],
            status=status,
            received_at=clock.to_iso(values["received_at"]),
            due_at=clock.to_iso(due_at),
            email=values["email"],
            details=value("details"),
            purposes=[str(one) for one in purposes] if purposes is not None else None,
            corrections=value("corrections"),
            verified_at=_iso(value("verified_at")),
            verified_by=value("verified_by"),
            started_at=_iso(value("started_at")),
            completed_at=_iso(value("completed_at")),
            rejected_at=_iso(value("rejected_at")),
            reject_reason=value("reject_reason"),
            escalated_at=_iso(value("escalated_at")),
            result=value("result"),
            history=[HistoryEntry.model_validate(entry) for entry in value("history") or []],
            overdue=status in OPEN_STATUSES and due_at <= now,
        )


class StaffRequestList(BaseModel):
    items: list[StaffRequestView]


# ---------------------------------------------------------------- steps


@dataclass
class _Step:
    """One audited change of a request: its history entry and what it sets."""

    name: str
    actor: str
    note: str | None = None
    status: RequestStatus | None = None
    # The attributes it sets (None: removes): written to the request, then to the item in
    # memory, so the answer is the request as stored without reading it back (a round trip saved).
    changes: Mapping[str, Any] = field(default_factory=dict)
    # A notice that tells of the step and commits with it (sent after the commit).
    notice: Notification | None = None
    # R-GDPR-2: the person's retention moved on, written with the step unless a later one is stored.
    retention: bool = False


RETENTION = "retention"  # the label of the person's retention in a step's transaction


class _Moved(Exception):
    """The request changed since it was read; it is read again and the step decided again."""


Plan = Callable[[PrivacyRequest], _Step | None]


def _load(request_id: str, missing: errors.DomainError) -> PrivacyRequest:
    try:
        return PrivacyRequest.get(request_id, consistent_read=True)
    except DoesNotExist as exc:
        raise missing from exc


def _stored(item: PrivacyRequest, step: _Step, now: datetime) -> dict[str, Any]:
    """R-GDPR-10: every attribute the step writes: its own, its history entry, its status."""
    entry = {"at": clock.to_iso(now), "step": step.name, "actor": step.actor}
    if step.note:
        entry["note"] = step.note
    stored = {**step.changes, "history": [*(item.history or []), entry]}
    if step.status is not None:
        stored["status"] = step.status
    return stored


def _written(item: PrivacyRequest, stored: Mapping[str, Any]) -> tuple[list[UpdateAction], Condition]:
    """The update of ``stored`` and the condition that the request is as read (its status
    and history unchanged)."""
    actions = set_or_remove(PrivacyRequest, stored)
    unchanged: Condition = (PrivacyRequest.status == item.status) & (PrivacyRequest.history == item.history)
    return actions, unchanged


def _apply(item: PrivacyRequest, step: _Step, now: datetime, settings: Settings | None = None) -> None:
    """R-GDPR-10: the step in one conditional write with the notice that tells of it and the
    person's retention (R-GDPR-2; left out when a later one is stored, as ``keep_non_customer``
    leaves it); then ``item`` holds what was written (the condition held it as read)."""
    stored = _stored(item, step, now)
    actions, unchanged = _written(item, stored)
    keep = step.retention

    def build(tx: TransactWrite, outcome: Outcome) -> None:
        tx.update(PrivacyRequest(item.id), actions=actions, condition=unchanged)
        outcome.labels.append("update:request")
        if step.notice is not None:
            outcome.put(tx, "notice", step.notice, Notification.notification_key.does_not_exist())
        if keep:
            schedule, later = retention.non_customer_kept(item.person_key, now, settings or get_settings())
            outcome.put(tx, RETENTION, schedule, later)

    failed = try_commit(build)
    if failed and keep and failed == [RETENTION]:
        keep = False  # a later consent's retention is stored: it stands
        failed = try_commit(build)
    if failed:
        _moved(failed)
    apply_values(item, stored)


def _moved(failed: list[str]) -> None:
    if "update:request" in failed:
        raise _Moved
    # Only a random notice id colliding fails otherwise; a retry draws another.
    raise errors.ServiceUnavailable("The request could not be recorded; retry shortly")


def _update(item: PrivacyRequest, step: _Step, now: datetime) -> None:
    """``_apply`` for a step without a notice, as one conditional UpdateItem: pynamodb reads
    back what it stored (ALL_NEW) into ``item``, so the request is not read again. An update
    meeting a transaction in flight on the request is tried again, as ``commit`` does."""
    actions, unchanged = _written(item, _stored(item, step, now))
    for attempt in range(CONFLICT_RETRIES + 1):
        try:
            updated = update_if(item, actions, unchanged)
        except UpdateError as exc:
            if exc.cause_response_code != "TransactionConflictException":
                raise
            if attempt == CONFLICT_RETRIES:
                raise errors.ServiceUnavailable("The request is changing; retry shortly") from exc
            backoff(attempt)
            continue
        if not updated:
            raise _Moved
        return


def _advance(
    request_id: str,
    missing: errors.DomainError,
    plan: Plan,
    now: datetime,
    settings: Settings,
    known: PrivacyRequest | None = None,
) -> tuple[PrivacyRequest, _Step | None]:
    """Read the request (unless ``known``: as this request last wrote it), let ``plan`` decide
    the step (raise to refuse it, None when there is nothing to do), write it; read again and
    decide again when the request moved meanwhile. Returns the request as it now is and the
    step written, if any; its notice is sent. A step without a notice or retention is one
    conditional UpdateItem, one with either a transaction; neither is read back (one read
    per step, none after a step of the same request)."""
    item = known
    for _ in range(STEP_RETRIES):
        item = item or _load(request_id, missing)
        step = plan(item)
        if step is None:
            return item, None
        try:
            if step.notice is None and not step.retention:
                _update(item, step, now)
            else:
                _apply(item, step, now, settings)
        except _Moved:
            item = None
            continue
        return item, step
    raise errors.ServiceUnavailable("The request is changing; retry shortly")


def _refuse_closed(item: PrivacyRequest) -> None:
    if item.status in CLOSED:
        raise errors.RequestClosed(f"This request was {item.status} already")


def _running_since(item: PrivacyRequest) -> datetime | None:
    """When the latest completion attempt started, if none ended since (``failed``/``completed``)."""
    for entry in reversed(item.history or []):
        if entry.get("step") == "escalated":
            continue  # the sweep's entry says nothing about a running completion
        return clock.parse_iso(entry["at"]) if entry.get("step") in _RUNNING_STEPS else None
    return None


def _refuse_running(item: PrivacyRequest, now: datetime) -> None:
    started = _running_since(item)
    if item.status == "in_progress" and started is not None and now < started + COMPLETION_LEASE:
        raise errors.RequestInProgress("Another completion of this request is running; retry shortly")


def _person_notices(item: PrivacyRequest) -> str:
    return privacy.PERSON_NOTICES + item.person_key


def _deliverable(address: str) -> bool:
    # An erasure masks the request's address; nothing can be sent to the mask.
    return "@" in address


def _type_words(item: PrivacyRequest) -> str:
    return notices.REQUEST_TYPE_WORDS[item.type]


# ---------------------------------------------------------------- the subject's side


def receive(form: RequestInput, ip: str, now: datetime, settings: Settings) -> SubjectRequestView:
    """R-GDPR-10: the request is received, due ``privacy_response_days`` later, and the subject
    is sent the signed link that verifies it. Any address is accepted alike (no customer check)."""
    counted = rate_limit.per_ip_and_email((RATE_IP, RATE_EMAIL), ip, form.email, settings, now)
    item = _received(form, now, settings)
    notice = _verification_notice(item, now, settings)

    def build(tx: TransactWrite, outcome: Outcome) -> None:
        counted.count_in(tx, outcome)  # R-REG-2, in the request's own transaction (no round trip of its own)
        outcome.put(tx, "request", item, PrivacyRequest.id.does_not_exist())
        outcome.put(tx, "notice", notice, Notification.notification_key.does_not_exist())

    def refused(failed: list[str]) -> None:
        counted.raise_if_reached(failed)
        _id_taken(failed)

    with counted.counted_if_refused():
        commit(build, refused)
    consents.keep_for_retention(item.person_key, now, settings)  # R-GDPR-2, see _kept_until_due
    logger.info("privacy request received", extra={"request_id": item.id, "request_type": item.type})
    return SubjectRequestView.of(item)


def _kept_until_due(item: PrivacyRequest, status: RequestStatus) -> bool:
    """R-GDPR-2: the request and the notices about it are the person's data too; they are kept
    ``retention_years`` from the person's latest request (or consent), then the retention
    sweep masks the answered requests and deletes the notices (lifecycle.privacy.retention). An
    erasure has erased them already, so its completion schedules nothing. Whether the step
    that closes ``item`` with ``status`` writes the retention (``_Step.retention``)."""
    return not (item.type == "erasure" and status == "completed")


def _received(form: RequestInput, now: datetime, settings: Settings) -> PrivacyRequest:
    request_id = f"dsr_{uuid.uuid4().hex[:20]}"
    purposes = form.purposes
    if purposes is None and form.type in TYPED_PURPOSES:
        purposes = list(PURPOSES)
    return PrivacyRequest(
        request_id,
        type=form.type,
        status="received",
        email=form.email,
        person_key=privacy.person_key(form.email, settings),
        details=form.details,
        purposes=purposes,
        corrections=form.corrections,
        received_at=now,
        due_at=now + timedelta(days=settings.privacy_response_days),
        escalation_shard=shard_of(request_id, settings.sweep_shards),
        history=[{"at": clock.to_iso(now), "step": "received", "actor": DATA_SUBJECT}],
    )


def _verification_notice(item: PrivacyRequest, now: datetime, settings: Settings) -> Notification:
    expires_at = now + timedelta(hours=settings.privacy_verification_hours)
    token = privacy.sign("verify", item.id, expires_at, settings)
    return notifications.compose(
        _person_notices(item),
        "privacy_request_verification",
        item.email,
        now,
        request_type=_type_words(item),
        reference=item.id,
        verification_link=privacy.link(f"/privacy/requests/{item.id}/verification", token, settings),
        link_expires_at=expires_at,
        due_at=item.due_at,
    )


def _id_taken(failed: list[str]) -> None:
    # Only a random id colliding fails a condition; a retry draws another.
    raise errors.ServiceUnavailable("The request could not be recorded; retry shortly")


def verify_by_link(request_id: str, token: str, now: datetime, settings: Settings) -> SubjectRequestView:
    """R-GDPR-10: received → verified by the emailed link. The token must be valid, unexpired and
    name this request (else 400 ``invalid_token``, an unknown request too: ids are not probed).
    A verified request answers the same again; a closed one is 409 ``request_closed``."""
    if not hmac.compare_digest(privacy.verify(token, "verify", now, settings).encode(), request_id.encode()):
        raise errors.InvalidToken()

    def plan(item: PrivacyRequest) -> _Step | None:
        _refuse_closed(item)
        if item.status != "received":
            return None  # verified already (or being completed): the link did its work
        verified = {"verified_at": now, "verified_by": EMAIL_LINK}
        return _Step("verified", EMAIL_LINK, status="verified", changes=verified)

    item, _ = _advance(request_id, errors.InvalidToken(), plan, now, settings)
    return SubjectRequestView.of(item)


# ---------------------------------------------------------------- staff's side


def _no_such_request() -> errors.NotFound:
    return errors.NotFound("No such data subject request")


def read(request_id: str, now: datetime) -> StaffRequestView:
    return StaffRequestView.at(_load(request_id, _no_such_request()), now)


def list_requests(status: RequestStatus | None, now: datetime) -> StaffRequestList:
    """Requests in ``status`` (default: every open one), oldest first, at most ``LIST_LIMIT``,
    through the ``by-status`` index."""
    statuses = (status,) if status is not None else OPEN_STATUSES
    found = [item for one in statuses for item in stored_privacy.requests_in_status(one, LIST_LIMIT)]
    found.sort(key=lambda item: item.received_at)
    return StaffRequestList(items=[StaffRequestView.at(item, now) for item in found[:LIST_LIMIT]])


def staff_verify(
    request_id: str, form: VerifyInput, staff_id: str, now: datetime, settings: Settings
) -> StaffRequestView:
    """R-GDPR-10: staff verified the subject's identity by other means; the note says how."""

    def plan(item: PrivacyRequest) -> _Step | None:
        _refuse_closed(item)
        if item.status != "received":
            return None
        verified = {"verified_at": now, "verified_by": staff_id}
        return _Step("verified", staff_id, note=form.note, status="verified", changes=verified)

    item, _ = _advance(request_id, _no_such_request(), plan, now, settings)
    return StaffRequestView.at(item, now)


def reject(request_id: str, form: RejectInput, staff_id: str, now: datetime, settings: Settings) -> StaffRequestView:
    """R-GDPR-10: an open request rejected with its reason, which the subject is told."""

    def plan(item: PrivacyRequest) -> _Step | None:
        _refuse_closed(item)
        _refuse_running(item, now)
        rejected = {"rejected_at": now, "reject_reason": form.reason, "escalation_shard": None}
        notice = None
        if _deliverable(item.email):
            notice = notifications.compose(
                _person_notices(item),
                "privacy_request_rejected",
                item.email,
                now,
                request_type=_type_words(item),
                reference=item.id,
                reason=form.reason,
            )
        retention = _kept_until_due(item, "rejected")
        return _Step(
            "rejected",
            staff_id,
            note=form.reason,
            status="rejected",
            changes=rejected,
            notice=notice,
            retention=retention,
        )

    item, _ = _advance(request_id, _no_such_request(), plan, now, settings)
    return StaffRequestView.at(item, now)


# ---------------------------------------------------------------- completing


def complete(
    request_id: str,
    form: CompleteInput,
    staff_id: str,
    now: datetime,
    settings: Settings,
    remaining_ms: Callable[[], int],
) -> StaffRequestView:
    """R-GDPR-10: a verified request is put in progress, its type's action runs, and it is
    completed with the action's result; the subject is told. A request not verified yet is
    409 ``request_not_verified``, a closed one 409 ``request_closed``. When the action fails
    the request stays in progress with the error's code in its history, and the error is
    the answer; completing it again re-runs the (idempotent) action."""
    claimed, _ = _advance(request_id, _no_such_request(), _claim(form, staff_id, now), now, settings)
    completing = Completing(
        request=claimed,
        now=now,
        settings=settings,
        staff_id=staff_id,
        corrections=dict(claimed.corrections or {}),
        purposes=tuple(claimed.purposes or PURPOSES),  # type: ignore[arg-type]  # written from Purpose only
        remaining_ms=remaining_ms,
    )
    # Read before the action: an erasure masks the request's address.
    address = claimed.email
    try:
        result = ACTIONS[claimed.type](completing)  # type: ignore[index]  # written from RequestType only
    except Exception as exc:
        _record_failure(request_id, exc, staff_id, now, settings)
        raise
    told = _tell_erased(claimed, address, result, now, settings) if claimed.type == "erasure" else None
    # The claim's write left ``claimed`` as stored: the completion is conditioned on it, not read again.
    item, _ = _advance(request_id, _no_such_request(), _finish(result, told, staff_id, now), now, settings, claimed)
    return StaffRequestView.at(item, now)


def _claim(form: CompleteInput, staff_id: str, now: datetime) -> Plan:
    def plan(item: PrivacyRequest) -> _Step | None:
        _refuse_closed(item)
        if item.status == "received":
            raise errors.RequestNotVerified("Verify the subject's identity first")
        _refuse_running(item, now)
        given: dict[str, Any] = {}
        if form.corrections:
            given["corrections"] = form.corrections
        if form.purposes:
            given["purposes"] = list(form.purposes)
        named = [name for name, value in (("corrections", form.corrections), ("purposes", form.purposes)) if value]
        note = f"staff gave the {' and '.join(named)}" if named else None
        if item.status == "in_progress":
            return _Step("retried", staff_id, note=note, changes=given)
        started = {"started_at": now, **given}
        return _Step("in_progress", staff_id, note=note, status="in_progress", changes=started)

    return plan


def _finish(result: dict[str, Any], told: str | None, staff_id: str, now: datetime) -> Plan:
    # The download link is the subject's key to their export, used once: it is emailed, not kept.
    kept = {name: value for name, value in result.items() if name != "download_url"}

    def plan(item: PrivacyRequest) -> _Step | None:
        if item.status == "completed":
            return None  # a completion that took over after the lease finished it
        if item.status != "in_progress":
            raise errors.RequestClosed(f"This request was {item.status} meanwhile")
        done = {"completed_at": now, "result": kept, "escalation_shard": None}
        notice = None
        if item.type != "erasure" and _deliverable(item.email):
            notice = _completion_notice(item, result, now)
        retention = _kept_until_due(item, "completed")
        return _Step(
            "completed", staff_id, note=told, status="completed", changes=done, notice=notice, retention=retention
        )

    return plan


def _completion_facts(item: PrivacyRequest, result: dict[str, Any], now: datetime) -> dict[str, object]:
    # The summary says how long the link lasts (lifecycle.requests.exports); the link goes below it.
    url = result.get("download_url")
    download = f"\n\nThe download link:\n{url}" if url else ""
    return {
        "request_type": _type_words(item),
        "reference": item.id,
        "completed_at": now,
        "summary": str(result.get("summary") or "We have carried out your request."),
        "download": download,
    }


def _completion_notice(item: PrivacyRequest, result: dict[str, Any], now: datetime) -> Notification:
    facts = _completion_facts(item, result, now)
    return notifications.compose(_person_notices(item), "privacy_request_completed", item.email, now, **facts)


def _tell_erased(item: PrivacyRequest, address: str, result: dict[str, Any], now: datetime, settings: Settings) -> str:
    """R-GDPR-5, R-GDPR-10: the erased subject is told, by an ephemeral notice kept under the
    request (not the person) until the notifier has sent it, then deleted (a kept notice would keep
    the erased address). Returns what the completed step's note records."""
    if not _deliverable(address):
        return "notice not sent: the address was erased by an earlier attempt"
    notice = notifications.compose_ephemeral(
        item.id,
        _person_notices(item),
        "privacy_request_completed",
        address,
        now,
        **_completion_facts(item, result, now),
    )
    notice.save(condition=Notification.notification_key.does_not_exist())
    return "notice committed for sending, not kept once sent"


def _record_failure(request_id: str, error: Exception, staff_id: str, now: datetime, settings: Settings) -> None:
    """The failed attempt in the history (its error's code); the request stays in progress and
    the lease is released, so completing it again retries at once."""
    code = error.code if isinstance(error, errors.DomainError) else "internal_error"

    def plan(item: PrivacyRequest) -> _Step | None:
        if item.status != "in_progress":
            return None
        return _Step("failed", staff_id, note=code)

    try:
        _advance(request_id, _no_such_request(), plan, now, settings)
    except Exception:  # the action's error is the answer; this one is only logged
        logger.exception("failed completion not recorded", extra={"request_id": request_id, "code": code})


# ---------------------------------------------------------------- the escalation sweep


def _overdue(now: datetime) -> QueryDue:
    return due_in(PrivacyRequest.overdue_due, PrivacyRequest.due_at <= now, PAGE_SIZE)


def _escalate(now: datetime, settings: Settings) -> Callable[[PrivacyRequest], bool]:
    def plan(item: PrivacyRequest) -> _Step | None:
        if item.status not in OPEN_STATUSES or item.escalation_shard is None or item.due_at > now:
            return None  # completed, rejected or escalated meanwhile
        notice = notifications.compose(
            _person_notices(item),
            "privacy_request_overdue",
            settings.staff_email,
            now,
            request_id=item.id,
            request_type=item.type,
            received_at=item.received_at,
            due_at=item.due_at,
            status=STATUS_WORDS[item.status],
        )
        escalated = {"escalated_at": now, "escalation_shard": None}
        return _Step("escalated", SWEEP, changes=escalated, notice=notice)

    def act(due: PrivacyRequest) -> bool:
        """R-GDPR-10: staff told once, the escalation in the request's history; the request
        leaves the index in the same write, so a rerun finds nothing more to do."""
        try:
            _, step = _advance(due.id, _no_such_request(), plan, now, settings)
        except errors.NotFound:
            return False
        return step is not None

    return act


def escalate_overdue(
    request: SweepRequest, now: datetime, remaining_ms: Callable[[], int], settings: Settings
) -> SweepSummary:
    """The ``privacy-request-sweep`` schedule (R-GDPR-10)."""
    return run_sweep(
        shards=settings.sweep_shards,
        query_due=_overdue(now),
        act=_escalate(now, settings),
        request=request,
        remaining_ms=remaining_ms,
        margin_ms=settings.sweep_time_margin_ms,
    )

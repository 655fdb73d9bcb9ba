"""Consent records (R-GDPR-1) and what they allow: marketing and profiling (R-PAY-10's enterprise offer)
stop on restriction (R-GDPR-6), objection (R-GDPR-8) and withdrawal (R-GDPR-9, also the one-click
unsubscribe); customer service rests on the contract and never stops. Every step is appended to
``history`` by the write that makes it and moves the person's retention (R-GDPR-2).
docs/ARCHITECTURE.md "Data protection" (Consents).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Literal

from pynamodb.attributes import UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from lifecycle.core import clock
from lifecycle.core.notices import plain
from lifecycle.core.observability import logger
from lifecycle.core.settings import Settings
from lifecycle.privacy import privacy, retention
from lifecycle.privacy.privacy import PURPOSES, Completing, Purpose
from lifecycle.storage import Consent
from lifecycle.storage import privacy as stored_privacy
from lifecycle.storage.base import update_if
from lifecycle.storage.transactions import Outcome, commit

RESTRICTION = "restriction"  # the purpose (range key) of a person's R-GDPR-6 item
UNSUBSCRIBE = "unsubscribe"  # how a withdrawal by the one-click link is recorded
UNSUBSCRIBE_PATH = "/privacy/unsubscribe"
GivenSource = Literal["signup", "redemption", "privacy_request"]
Step = Literal["given", "withdrawn", "objected", "restricted"]
# Why a message for a purpose may not be sent (logged as a reason code, never with an address).
Refusal = Literal["restricted", "objected", "withdrawn", "not_given"]
# What the contract needs goes on whatever the person objects to or withdraws.
NOT_STOPPABLE: frozenset[Purpose] = frozenset({"customer_service"})
PURPOSE_WORDS: dict[Purpose, str] = {
    "marketing": "marketing",
    "customer_service": "customer service messages",
    "profiling": "profiling (analysing your usage to make you offers)",
}
CONTRACT_CONTINUES = (
    " Customer service messages continue: they are how we provide the service you use under its "
    "contract, so they do not rest on consent, and neither a withdrawal nor an objection stops them."
)


# ---------------------------------------------------------------- steps


def _distinct(purposes: Iterable[str]) -> list[Purpose]:
    """The purposes once each, in order; ``ValueError`` for one that is not a purpose."""
    chosen: list[Purpose] = []
    for purpose in purposes:
        if purpose not in PURPOSES:
            raise ValueError(f"not a consent purpose: {purpose!r}")
        if purpose not in chosen:
            chosen.append(purpose)
    return chosen


def _appended(step: Step, now: datetime, **details: str | None) -> Action:
    """``history`` with one more step, by ``list_append`` (created on the item's first step)."""
    entry = {"at": clock.to_iso(now), "action": step, **{k: v for k, v in details.items() if v is not None}}
    return Consent.history.set((Consent.history | []).append([entry]))


def _given(email: str, source: GivenSource, account_id: str | None, now: datetime, settings: Settings) -> list[Action]:
    version = settings.consent_text_version
    return [
        Consent.email.set(email),
        Consent.account_id.set(account_id) if account_id is not None else Consent.account_id.remove(),
        Consent.given_at.set(now),
        Consent.given_source.set(source),
        Consent.text_version.set(version),
        # The person's latest word on the purpose: an earlier withdrawal or objection ends (kept in history).
        Consent.withdrawn_at.remove(),
        Consent.withdrawn_how.remove(),
        Consent.objected_at.remove(),
        Consent.objected_how.remove(),
        _appended("given", now, source=source, text_version=version, account_id=account_id),
    ]


def record_given(
    tx: TransactWrite,
    outcome: Outcome,
    email: str,
    purposes: Sequence[Purpose],
    source: GivenSource,
    account_id: str | None,
    now: datetime,
    settings: Settings,
) -> None:
    """R-GDPR-1: the consents given, as writes of the caller's transaction (signup and
    redemption record them with the account they are given with), with the person's
    non-customer retention moved on to ``retention_years`` from now (R-GDPR-2). Nothing
    when no purpose was given."""
    chosen = _distinct(purposes)
    if not chosen:
        return
    address = privacy.normalised(email)
    person_key = privacy.person_key(address, settings)
    for purpose in chosen:
        tx.update(Consent(person_key, purpose), actions=_given(address, source, account_id, now, settings))
        outcome.labels.append(f"update:consent#{purpose}")
    # No condition: in a transaction a failed one would refuse the consent itself. ``now`` is
    # the latest consent, so the put moves the date on (as schedule_non_customer's condition).
    outcome.put(tx, "retention", retention.non_customer(person_key, now, settings), None)


def keep_for_retention(email_or_person_key: str, now: datetime, settings: Settings) -> None:
    """R-GDPR-2: the person's records are kept ``retention_years`` from now (moved on, never back)."""
    retention.keep_non_customer(_person_key(email_or_person_key, settings), now, now, settings)


def give(
    email: str,
    purposes: Sequence[Purpose],
    source: GivenSource,
    account_id: str | None,
    now: datetime,
    settings: Settings,
) -> str:
    """R-GDPR-1: record the consents ``email`` gave and the person's non-customer retention
    (R-GDPR-2), in one transaction; the person key."""
    if not purposes:
        return privacy.person_key(email, settings)
    commit(
        lambda tx, outcome: record_given(tx, outcome, email, purposes, source, account_id, now, settings),
        lambda failed: None,  # the writes have no conditions: only a conflict fails them, and is retried
    )
    return privacy.person_key(email, settings)


def _step(
    item: Consent,
    at: UTCDateTimeAttribute,
    how_attribute: UnicodeAttribute,
    step: Step,
    how: str,
    now: datetime,
    email: str | None,
    condition: Condition,
) -> bool:
    """One conditional update setting ``at`` and ``how`` and appending the step; False when
    the condition says it is done already (a second click, a retried completion)."""
    actions: list[Action] = [at.set(now), how_attribute.set(how), _appended(step, now, how=how)]
    if email is not None:
        actions.append(Consent.email.set(Consent.email | email))  # kept as given, filled where missing
    return update_if(item, actions, condition)


def withdraw(
    person_key: str, purposes: Sequence[Purpose], how: str, now: datetime, email: str | None = None
) -> list[Purpose]:
    """R-GDPR-9: withdraw the consents given for ``purposes`` (only those: the others are
    untouched); the purposes this call withdrew. A purpose already withdrawn, or never
    consented to, is left as it is (nothing to withdraw), so a second click changes nothing."""
    withdrawn = []
    for purpose in _distinct(purposes):
        condition = Consent.given_at.exists() & Consent.withdrawn_at.does_not_exist()
        item = Consent(person_key, purpose)
        if _step(item, Consent.withdrawn_at, Consent.withdrawn_how, "withdrawn", how, now, email, condition):
            withdrawn.append(purpose)
    return withdrawn


def object_to(
    person_key: str, purposes: Sequence[Purpose], how: str, now: datetime, email: str | None = None
) -> list[Purpose]:
    """R-GDPR-8: record the person's objection to ``purposes`` (with or without a consent on
    record: profiling needs none); the purposes this call recorded it for."""
    objected = []
    for purpose in _distinct(purposes):
        item = Consent(person_key, purpose)
        condition = Consent.objected_at.does_not_exist()
        if _step(item, Consent.objected_at, Consent.objected_how, "objected", how, now, email, condition):
            objected.append(purpose)
    return objected


def restrict(person_key: str, how: str, now: datetime, email: str | None = None) -> bool:
    """R-GDPR-6: flag the person's processing as restricted (their ``restriction`` item);
    False if it was already."""
    item = Consent(person_key, RESTRICTION)
    condition = Consent.restricted_at.does_not_exist()
    return _step(item, Consent.restricted_at, Consent.restricted_how, "restricted", how, now, email, condition)


def unsubscribe_link(person_key: str, settings: Settings) -> str:
    """R-GDPR-9: the one-click link of a marketing email; it does not expire, as a sent email's must not."""
    return privacy.link(UNSUBSCRIBE_PATH, privacy.sign("unsubscribe", person_key, None, settings), settings)


def unsubscribe(token: str, now: datetime, settings: Settings) -> None:
    """R-GDPR-9: ``POST /privacy/unsubscribe``: the link's person no longer gets marketing.

    ``InvalidToken`` (400) for a tampered token or one made for another use. A second click,
    or one by a person without a marketing consent on record, changes nothing and succeeds.
    """
    person_key = privacy.verify(token, "unsubscribe", now, settings)
    changed = withdraw(person_key, ("marketing",), UNSUBSCRIBE, now)
    logger.info("unsubscribed from marketing", extra={"changed": bool(changed)})


# ---------------------------------------------------------------- reading


def _person_key(email_or_person_key: str, settings: Settings) -> str:
    if "@" in email_or_person_key:
        return privacy.person_key(email_or_person_key, settings)
    return email_or_person_key


def _items(person_key: str) -> dict[str, Consent]:
    return {item.purpose: item for item in stored_privacy.consents_of(person_key)}


def refusal(items: dict[str, Consent], purpose: Purpose) -> Refusal | None:
    """Why a message or processing for ``purpose`` may not happen, given the person's items;
    None when it may (see the module's docstring for each purpose's basis)."""
    if purpose in NOT_STOPPABLE:
        return None
    restriction = items.get(RESTRICTION)
    if restriction is not None and restriction.restricted_at is not None:
        return "restricted"
    item = items.get(purpose)
    if item is not None and item.objected_at is not None:
        return "objected"
    if item is not None and item.withdrawn_at is not None:
        return "withdrawn"
    if purpose == "marketing" and (item is None or item.given_at is None):
        return "not_given"
    return None


def why_not(email_or_person_key: str, purpose: Purpose, settings: Settings) -> Refusal | None:
    """The reason ``purpose`` may not be pursued for the person, or None (``refusal``)."""
    if purpose not in PURPOSES:
        raise ValueError(f"not a consent purpose: {purpose!r}")
    if purpose in NOT_STOPPABLE:
        return None  # contract: no read needed
    return why_not_person(_person_key(email_or_person_key, settings), purpose)


def why_not_person(person_key: str, purpose: Purpose) -> Refusal | None:
    """``why_not`` for a person key already known (a notice's, kept under it): no secret read."""
    if purpose not in PURPOSES:
        raise ValueError(f"not a consent purpose: {purpose!r}")
    if purpose in NOT_STOPPABLE:
        return None
    return refusal(_items(person_key), purpose)


def may_send(email_or_person_key: str, purpose: Purpose, settings: Settings) -> bool:
    """R-GDPR-6, R-GDPR-8, R-GDPR-9: whether the person may be written to (or, for
    profiling, profiled) for ``purpose`` now."""
    return why_not(email_or_person_key, purpose, settings) is None


def _iso(instant: datetime | None) -> str | None:
    return clock.to_iso(instant) if instant is not None else None


def view(item: Consent) -> dict[str, Any]:
    """One consent item as JSON (the export's, R-GDPR-3 and R-GDPR-7)."""
    return {
        "purpose": item.purpose,
        "email": item.email,
        "account_id": item.account_id,
        "given_at": _iso(item.given_at),
        "given_source": item.given_source,
        "text_version": item.text_version,
        "withdrawn_at": _iso(item.withdrawn_at),
        "withdrawn_how": item.withdrawn_how,
        "objected_at": _iso(item.objected_at),
        "objected_how": item.objected_how,
        "restricted_at": _iso(item.restricted_at),
        "restricted_how": item.restricted_how,
        "history": list(item.history or []),
    }


def status_of(person_key: str) -> list[dict[str, Any]]:
    """R-GDPR-1: every consent item of the person (and their restriction), as JSON."""
    return [view(item) for item in stored_privacy.consents_of(person_key)]


# ---------------------------------------------------------------- completing requests


def _how(completing: Completing) -> str:
    return f"request:{completing.request.id}"


def _email_of(completing: Completing) -> str | None:
    """The request's address, normalised; None once an erasure has masked it."""
    try:
        return privacy.normalised(completing.request.email)
    except ValueError:
        return None


def _words(purposes: Iterable[Purpose]) -> str:
    names = [PURPOSE_WORDS[purpose] for purpose in purposes]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _when(times: Iterable[datetime | None], now: datetime) -> datetime:
    return max((time for time in times if time is not None), default=now)


def _recorded(completing: Completing) -> dict[str, Consent]:
    """The person's items after a step. Their retention (R-GDPR-2) is moved on by the
    request's completion (lifecycle.requests.privacy_requests), in its transaction."""
    return _items(completing.request.person_key)


def complete_restriction(completing: Completing) -> dict[str, Any]:
    """R-GDPR-6: the person's processing is restricted: marketing and profiling stop (from
    now when this step restricted it, else since it was, as read)."""
    since = completing.now
    if not restrict(completing.request.person_key, _how(completing), completing.now, _email_of(completing)):
        item = _recorded(completing).get(RESTRICTION)
        since = item.restricted_at if item is not None and item.restricted_at is not None else completing.now
    summary = (
        f"The processing of your personal data is restricted from {plain(since)}: we no longer send you "
        "marketing or use your data for profiling (such as analysing usage to make offers). We keep your "
        "data, and messages about the service you use continue."
    )
    return {
        "action": "restricted",
        "restricted_at": clock.to_iso(since),
        "stopped": ["marketing", "profiling"],
        "summary": summary,
    }


def complete_objection(completing: Completing) -> dict[str, Any]:
    """R-GDPR-8: processing for the purposes the person objected to stops (customer service,
    which the contract needs, is recorded but goes on)."""
    purposes = _distinct(completing.purposes)
    object_to(completing.request.person_key, purposes, _how(completing), completing.now, _email_of(completing))
    items = _recorded(completing)
    times = {purpose: _objected_at(items, purpose) for purpose in purposes}
    stopped = [purpose for purpose in purposes if purpose not in NOT_STOPPABLE]
    summary = ""
    if stopped:
        since = _when((times[purpose] for purpose in stopped), completing.now)
        summary = f"Your objection to {_words(stopped)} is recorded and that processing stopped on {plain(since)}."
    if len(stopped) < len(purposes):
        summary = (summary + CONTRACT_CONTINUES).strip()
    if not purposes:
        summary = "The request named no purpose to object to, so nothing changed."
    return {
        "action": "objected",
        "purposes": {purpose: _iso(time) for purpose, time in times.items()},
        "stopped": stopped,
        "summary": summary,
    }


def _objected_at(items: dict[str, Consent], purpose: Purpose) -> datetime | None:
    item = items.get(purpose)
    return item.objected_at if item is not None else None


def complete_withdrawal(completing: Completing) -> dict[str, Any]:
    """R-GDPR-9: the consents for the purposes named are withdrawn; other purposes are untouched."""
    purposes = _distinct(completing.purposes)
    withdraw(completing.request.person_key, purposes, _how(completing), completing.now, _email_of(completing))
    items = _recorded(completing)
    times = {purpose: _withdrawn_at(items, purpose) for purpose in purposes}
    withdrawn = [purpose for purpose in purposes if times[purpose] is not None]
    never = [purpose for purpose in purposes if times[purpose] is None]
    parts = []
    if withdrawn:
        since = _when((times[purpose] for purpose in withdrawn), completing.now)
        parts.append(f"Your consent to {_words(withdrawn)} is withdrawn, in effect from {plain(since)}.")
    if never:
        parts.append(f"We hold no consent of yours to {_words(never)}, so there was nothing to withdraw.")
    parts.append("Your other choices are unchanged.")
    summary = " ".join(parts) + (CONTRACT_CONTINUES if "customer_service" in purposes else "")
    return {
        "action": "withdrawn",
        "purposes": {purpose: _iso(time) for purpose, time in times.items()},
        "summary": summary,
    }


def _withdrawn_at(items: dict[str, Consent], purpose: Purpose) -> datetime | None:
    item = items.get(purpose)
    return item.withdrawn_at if item is not None else None

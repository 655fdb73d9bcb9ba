"""R-REG-2: per-IP and per-email limits on registrations, fixed windows in DynamoDB: one counter per scope,
window and hashed subject, expired by TTL. A hit is an atomic ADD (no read-then-write); a request that
writes anyway counts in its own transaction (``Limits.count_in``), one refused for another reason by
itself (``Limits.counted_if_refused``). docs/ARCHITECTURE.md "Accounts coming into being".

Subjects (IPs, emails) are keyed hashes: a plain hash of an IPv4 address is reversed by hashing
all 2^32 of them, so the table would hold the addresses after all.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from lifecycle.core import secrets
from lifecycle.core.errors import DomainError, RateLimited
from lifecycle.core.settings import Settings
from lifecycle.registration.registration import InvalidEmail, canonical_email
from lifecycle.storage import RateCounter
from lifecycle.storage.transactions import Outcome

SIGNUP_IP = "signup-ip"
SIGNUP_EMAIL = "signup-email"
# The item outlives its window a little so a hit at the last instant still finds it.
_TTL_GRACE = timedelta(seconds=60)
# A whole IPv6 /64 usually belongs to one subscriber, who can pick any address in it.
_IPV6_PREFIX = 64


@dataclass(frozen=True)
class Window:
    """A fixed window: ``index`` = floor(epoch seconds / length)."""

    index: int
    end: datetime

    @classmethod
    def at(cls, now: datetime, seconds: int) -> Window:
        if now.tzinfo is None:
            raise ValueError("rate limits take timezone-aware instants")
        index = math.floor(now.timestamp() / seconds)
        return cls(index, datetime.fromtimestamp((index + 1) * seconds, tz=UTC))

    def seconds_left(self, now: datetime) -> int:
        """Whole seconds until the window ends, at least 1 (a Retry-After of 0 invites a retry storm)."""
        return max(1, math.ceil((self.end - now).total_seconds()))


# The person key secret keys the counters too, under this label: a counter's hash of an email is
# never that email's person key, so the rate-limit table cannot be joined with consent records.
_COUNTER_LABEL = b"rate-limit-counter-subjects"


def counter_secret(settings: Settings) -> bytes:
    """The HMAC key of counter subjects, derived from the person key secret by its own label."""
    return hmac.new(secrets.person_key_secret(settings).encode(), _COUNTER_LABEL, hashlib.sha256).digest()


def counter_key(scope: str, window_index: int, subject: str, secret: bytes) -> str:
    """``scope:window:hmac``; the subject is a keyed hash so the table holds no IP or email, in
    clear or recoverable by hashing every candidate."""
    digest = hmac.new(secret, subject.encode("utf-8"), hashlib.sha256).hexdigest()[:32]
    return f"{scope}:{window_index}:{digest}"


def hit(scope: str, subject: str, limit: int, window_seconds: int, now: datetime, settings: Settings) -> None:
    """R-REG-2: count one request of ``subject``; raise ``RateLimited`` beyond ``limit`` per window.

    The refused hit is counted too: a client hammering a full window keeps it full.
    """
    Limit(scope, subject, limit, Window.at(now, window_seconds), counter_secret(settings)).hit(now)


def ip_subject(ip: str) -> str:
    """The IP as counted: canonical text, IPv4-mapped IPv6 as IPv4, other IPv6 by its /64."""
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return ip.strip().lower()
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, _IPV6_PREFIX), strict=False))
    return str(address)


def email_subject(email: str) -> str:
    """The email as counted: its canonical form, so ``+tag`` variants share one counter."""
    try:
        return canonical_email(email)
    except InvalidEmail:
        # An invalid address is refused elsewhere; it still counts, under its plain form.
        return email.strip().lower()


@dataclass(frozen=True)
class Limit:
    """One limit of a request: ``limit`` hits of ``subject`` per window of ``scope``."""

    scope: str
    subject: str
    limit: int
    window: Window
    secret: bytes = field(repr=False)

    @property
    def label(self) -> str:
        """Its counter's label in a transaction (``lifecycle.storage.transactions.Outcome``)."""
        return f"update:rate:{self.scope}"

    @property
    def key(self) -> str:
        return counter_key(self.scope, self.window.index, self.subject, self.secret)

    @property
    def one_more(self) -> list[Action]:
        """The counter's update for one hit (it expires a little after its window)."""
        return [RateCounter.hits.add(1), RateCounter.expires_at.set(self.window.end + _TTL_GRACE)]

    def hit(self, now: datetime) -> None:
        """Count one hit by itself (one UpdateItem); ``RateLimited`` beyond the limit."""
        counter = RateCounter(self.key)
        counter.update(actions=self.one_more)
        if counter.hits > self.limit:
            raise self.refusal(now)

    def refusal(self, now: datetime) -> RateLimited:
        retry_after = self.window.seconds_left(now)
        return RateLimited(f"Too many attempts; retry in {retry_after} seconds", retry_after=retry_after)


@dataclass(frozen=True)
class Limits:
    """The limits one request counts against, in the order they are checked."""

    items: tuple[Limit, ...]
    now: datetime

    def check(self) -> None:
        """Count one hit on each, in order, by itself; ``RateLimited`` at the first one over
        (the ones after it are not touched)."""
        for limit in self.items:
            limit.hit(self.now)

    def count_in(self, tx: TransactWrite, outcome: Outcome) -> None:
        """Count one hit on each in the request's transaction, which fails (the limit's
        label) if one is reached: a refused request writes nothing."""
        for limit in self.items:
            tx.update(
                RateCounter(limit.key),
                actions=limit.one_more,
                condition=RateCounter.hits.does_not_exist() | (RateCounter.hits < limit.limit),
            )
            outcome.labels.append(limit.label)

    def raise_if_reached(self, failed: list[str]) -> None:
        """After a cancelled transaction: ``RateLimited`` if one of these limits failed it."""
        for limit in self.items:
            if limit.label in failed:
                raise limit.refusal(self.now)

    @contextmanager
    def counted_if_refused(self) -> Iterator[None]:
        """Counts the hits of a request the block refuses (a client error, 4xx) as ``check``
        does, so a refused attempt counts like an accepted one; a limit over by now turns
        the refusal into ``RateLimited``. A refusal by the transaction's own counters counts
        here too: the cancelled transaction counted nothing."""
        try:
            yield
        except DomainError as exc:
            if exc.status >= 500:
                raise  # not the client's doing (a provider or the database): its retry counts
            self.check()
            raise


def per_ip_and_email(scopes: tuple[str, str], ip: str, email: str, settings: Settings, now: datetime) -> Limits:
    """R-REG-2: the per-IP, then the per-email limit of the public routes that register
    someone, each under its own pair of ``scopes`` (counters of their own)."""
    window = Window.at(now, settings.signup_window_seconds)
    ip_scope, email_scope = scopes
    secret = counter_secret(settings)
    return Limits(
        (
            Limit(ip_scope, ip_subject(ip), settings.signup_limit_per_ip, window, secret),
            Limit(email_scope, email_subject(email), settings.signup_limit_per_email, window, secret),
        ),
        now,
    )


def signup_limits(ip: str, email: str, settings: Settings, now: datetime) -> Limits:
    """R-REG-2: the limits of signups and redemptions."""
    return per_ip_and_email((SIGNUP_IP, SIGNUP_EMAIL), ip, email, settings, now)


def check_signup_limits(ip: str, email: str, settings: Settings, now: datetime) -> None:
    """R-REG-2: the per-IP, then the per-email limit of signups and redemptions, by themselves.

    Raises ``RateLimited`` (429, Retry-After) on the first limit exceeded; the email
    counter is not touched when the IP is already over its limit.
    """
    signup_limits(ip, email, settings, now).check()

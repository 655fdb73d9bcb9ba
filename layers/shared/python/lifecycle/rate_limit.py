"""R-REG-2: per-IP and per-email limits on registrations, fixed windows in DynamoDB.

One counter item per scope, window and subject. A hit is one UpdateItem with an
atomic ADD that returns the new count, so concurrent hits can never both see room
that only one of them has: no read-then-write. Subjects (IPs, emails) are personal
data and are stored only as a hash; the items expire by TTL after their window.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from lifecycle.errors import RateLimited
from lifecycle.registration import InvalidEmail, canonical_email
from lifecycle.settings import Settings
from lifecycle.storage import RateCounter

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


def counter_key(scope: str, window_index: int, subject: str) -> str:
    """``scope:window:hash``; the subject is hashed so the table holds no IP or email in clear."""
    digest = hashlib.sha256(subject.encode("utf-8")).hexdigest()[:32]
    return f"{scope}:{window_index}:{digest}"


def hit(scope: str, subject: str, limit: int, window_seconds: int, now: datetime) -> None:
    """R-REG-2: count one request of ``subject``; raise ``RateLimited`` beyond ``limit`` per window.

    The refused hit is counted too: a client hammering a full window keeps it full.
    """
    window = Window.at(now, window_seconds)
    counter = RateCounter(counter_key(scope, window.index, subject))
    counter.update(actions=[RateCounter.hits.add(1), RateCounter.expires_at.set(window.end + _TTL_GRACE)])
    if counter.hits > limit:
        retry_after = window.seconds_left(now)
        raise RateLimited(f"Too many attempts; retry in {retry_after} seconds", retry_after=retry_after)


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


def check_signup_limits(ip: str, email: str, settings: Settings, now: datetime) -> None:
    """R-REG-2: the per-IP, then the per-email limit of signups and redemptions.

    Raises ``RateLimited`` (429, Retry-After) on the first limit exceeded; the email
    counter is not touched when the IP is already over its limit.
    """
    window = settings.signup_window_seconds
    hit(SIGNUP_IP, ip_subject(ip), settings.signup_limit_per_ip, window, now)
    hit(SIGNUP_EMAIL, email_subject(email), settings.signup_limit_per_email, window, now)

"""Versions of the Terms of Service (R-TERMS-1, R-TERMS-3): staff publish one at any time, in force on
publication; the current one is the newest published at or before ``now`` (else
``settings.terms_version``). Signup and redemption record it as accepted (R-TERMS-1), an account's first
activity after a publication as accepted by continued use (R-TERMS-3). A claim written with the version
publishes each version string once.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from lifecycle.core import clock, errors
from lifecycle.core.settings import get_settings
from lifecycle.storage import TermsVersion, transactions
from lifecycle.storage import terms as stored_terms
from lifecycle.storage.terms import TERMS_OF_SERVICE

VERSION_PATTERN = r"^[A-Za-z0-9._-]{1,40}$"
# A version's claim sits in a partition of its own, under one fixed sort key, so a second
# publication of the same string fails the claim's condition.
VERSION_CLAIM = TERMS_OF_SERVICE + "#version#"
CLAIM_SORT_KEY = datetime(1970, 1, 1, tzinfo=UTC)
CACHE_TTL = timedelta(seconds=60)
_VERSION = re.compile(VERSION_PATTERN)

Version = Annotated[str, Field(pattern=VERSION_PATTERN, description="free text: letters, digits, '.', '_', '-'")]


class PublishInput(BaseModel):
    """``POST /admin/terms``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    version: Version


class TermsView(BaseModel):
    version: str
    published_at: str
    published_by: str

    @classmethod
    def of(cls, item: TermsVersion) -> TermsView:
        return cls(version=item.version, published_at=clock.to_iso(item.published_at), published_by=item.published_by)


class TermsHistory(BaseModel):
    """``GET /admin/terms``: every published version, newest first."""

    items: list[TermsView]


# ---------------------------------------------------------------- publishing


def publish(version: str, staff_id: str, now: datetime) -> TermsView:
    """R-TERMS-3: ``version`` becomes the current terms at ``now``, without notice.

    A version string already published is refused (409 ``terms_version_exists``); the
    claim makes that a condition of the write, never a read-then-write.
    """
    if _VERSION.fullmatch(version) is None:
        raise errors.InvalidField("version", "1 to 40 letters, digits, '.', '_' or '-'")
    item = TermsVersion(TERMS_OF_SERVICE, now, version=version, published_by=staff_id)
    claim = TermsVersion(VERSION_CLAIM + version, CLAIM_SORT_KEY, version=version, published_by=staff_id)
    try:
        with TransactWrite(connection=transactions.connection()) as tx:
            tx.save(claim, condition=TermsVersion.document.does_not_exist())
            tx.save(item, condition=TermsVersion.document.does_not_exist())
    except TransactWriteError as exc:
        codes = transactions.reason_codes(exc)
        if codes[:1] == ["ConditionalCheckFailed"]:
            raise errors.TermsVersionExists(f"Version {version!r} has been published already") from exc
        if "ConditionalCheckFailed" in codes:  # a clock stood still (locally) publishes twice at one instant
            raise errors.Conflict("Another version was published at this very instant; publish later") from exc
        if "TransactionConflict" in codes:
            raise errors.ServiceUnavailable("Another version is being published; retry") from exc
        raise
    # This container sees its own publication at once; others within CACHE_TTL (see current_version).
    _cache_clear()
    return TermsView.of(item)


def history() -> list[TermsView]:
    """Every published version, newest first (the claims live in other partitions)."""
    return [TermsView.of(item) for item in stored_terms.published()]


# ---------------------------------------------------------------- the current version


@dataclass(frozen=True)
class _Cached:
    fetched_at: datetime
    version: str | None  # None: nothing was published by fetched_at


_lock = threading.Lock()
_cached: _Cached | None = None


def _cache_clear() -> None:
    """Forget the cached current version (tests; and this container's own publications)."""
    global _cached
    with _lock:
        _cached = None


def _newest_published(now: datetime) -> str | None:
    """One Query: the newest version published at or before ``now``."""
    newest = stored_terms.newest_published(now)
    return None if newest is None else newest.version


def _usable(cached: _Cached, now: datetime, fresh_after: datetime | None) -> bool:
    if not cached.fetched_at <= now < cached.fetched_at + CACHE_TTL:
        return False
    return fresh_after is None or cached.fetched_at >= fresh_after


def current_version(now: datetime, *, fresh_after: datetime | None = None) -> str:
    """R-TERMS-1, R-TERMS-3: the newest version published at or before ``now``, or
    ``settings.terms_version`` while none is.

    The answer is cached in this process (one Lambda container) for 60 s of the clock's
    time, so a signup or an activity within a minute of a publication, in a container
    that looked before it, may still see the previous version; the next look after the
    minute sees the new one. ``fresh_after`` asks for an answer looked up no earlier than
    that instant: activity passes the account's last acceptance, so a stale container
    never records an older version over a newer one already accepted.
    """
    version = _cached_version(now, fresh_after)
    return version if version is not None else get_settings().terms_version


def _cached_version(now: datetime, fresh_after: datetime | None) -> str | None:
    global _cached
    with _lock:
        cached = _cached
    if cached is None or not _usable(cached, now, fresh_after):
        cached = _Cached(now, _newest_published(now))
        with _lock:
            _cached = cached
    return cached.version

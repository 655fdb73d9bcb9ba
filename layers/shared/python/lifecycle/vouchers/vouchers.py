"""Voucher codes (RULES.md §3): normalising, hashing, generating and adding them to a campaign.

A code is stored only as an HMAC of its normalised form keyed by a secret pepper, so a
leaked table dump holds no redeemable code. Each Voucher item carries a copy of its
campaign's terms, ``campaigns.redeemable_until`` included, so redemption needs only the item.

Codes are written with conditional puts, grouped into transactions of up to 100: an
existing code (redeemed, revoked or not) is never changed, only counted as a duplicate.
BatchWriteItem cannot be conditional, so it is never used here.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pynamodb.connection import Connection
from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from lifecycle.core.observability import logger
from lifecycle.core.secrets import voucher_pepper
from lifecycle.core.settings import get_settings
from lifecycle.storage import Campaign, Voucher, transactions
from lifecycle.storage.base import put_if
from lifecycle.vouchers.campaigns import get_or_default, redeemable_until

# No 0/O, 1/I/L: a code read aloud or retyped from paper cannot be misread.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_GROUPS = 4
GROUP_LENGTH = 4
MIN_CODE_LENGTH = 6
MAX_CODE_LENGTH = 64
# Per request; keeps an import within the function's 30 s timeout and the response small.
MAX_CODES_PER_REQUEST = 10_000
# DynamoDB's limit of actions per TransactWriteItems.
TRANSACTION_SIZE = 100
# Transactions in flight at once: the import is latency-bound, not CPU-bound.
WRITERS = 8
# A cancelled transaction is retried without the codes it found existing this many times
# before the chunk is written code by code.
TRANSACTION_ROUNDS = 3
# A single put racing another importer's transaction on the same code is retried briefly.
PUT_ATTEMPTS = 4
# A chunk's transaction DynamoDB could not serve now (throttled, or its own transient failure) is
# tried again after a growing pause, this many times, before the import answers 503.
BUSY_RETRIES = 5

# Spaces (any whitespace), underscores, the ASCII dash and the dashes word processors substitute.
_SEPARATORS = re.compile(r"[\s_\-\u2010-\u2015\u2212]+")
_VALID_CODE = re.compile(rf"[A-Z0-9]{{{MIN_CODE_LENGTH},{MAX_CODE_LENGTH}}}")
_EXISTS = "ConditionalCheckFailed"


class InvalidVoucherCode(ValueError):
    """Not a code: after normalising, not 6..64 characters of A-Z and 0-9."""


def normalise_code(raw: str) -> str:
    """The canonical form of a code as typed: upper case, without spaces, dashes or underscores.

    ``"abcd-efgh 2345"`` and ``"ABCDEFGH2345"`` are the same code. Non-ASCII letters are
    refused rather than folded (``"ß".upper()`` is ``"SS"``), so lookalikes never match.
    """
    compact = _SEPARATORS.sub("", raw)
    if not compact.isascii():
        raise InvalidVoucherCode("a code has only the letters A-Z and the digits 0-9")
    code = compact.upper()
    if not _VALID_CODE.fullmatch(code):
        raise InvalidVoucherCode(
            f"a code has {MIN_CODE_LENGTH} to {MAX_CODE_LENGTH} letters A-Z or digits 0-9, "
            "apart from spaces, dashes and underscores"
        )
    return code


def code_hash(code: str, pepper: str) -> str:
    """The key a code is stored under: hex HMAC-SHA256 of the normalised code, keyed by ``pepper``.

    Without the pepper the stored keys cannot be turned back into codes, nor checked
    against guesses.
    """
    return hmac.new(pepper.encode(), normalise_code(code).encode(), hashlib.sha256).hexdigest()


def generate_codes(count: int) -> list[str]:
    """``count`` distinct random codes shown as ``XXXX-XXXX-XXXX-XXXX`` (about 79 bits each)."""
    length = CODE_GROUPS * GROUP_LENGTH
    codes: dict[str, None] = {}  # a dict keeps the order codes were made in
    while len(codes) < count:
        plain = "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))
        codes["-".join(plain[i : i + GROUP_LENGTH] for i in range(0, length, GROUP_LENGTH))] = None
    return list(codes)


def _valid_code(raw: str) -> str:
    normalise_code(raw)
    return raw


class CodesInput(BaseModel):
    """``POST /admin/campaigns/{id}/codes``: import ``codes`` or generate ``count`` codes."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"count": 100}, {"codes": ["ABCD-EFGH-2345", "wxyz 2345 6789"]}]},
    )

    codes: (
        Annotated[
            list[Annotated[str, Field(max_length=200), AfterValidator(_valid_code)]],
            Field(min_length=1, max_length=MAX_CODES_PER_REQUEST),
        ]
        | None
    ) = Field(default=None, description="codes to import; case, spaces and dashes do not matter")
    count: Annotated[int, Field(ge=1, le=MAX_CODES_PER_REQUEST)] | None = Field(
        default=None, description="how many codes to generate"
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.codes is None) == (self.count is None):
            raise ValueError("give either codes or count, not both and not neither")
        return self


class CodesAdded(BaseModel):
    """What an import or a generation added: the generated codes are shown this once."""

    campaign_id: str
    added: int = Field(description="codes written now")
    duplicates: int = Field(description="codes repeated in the request or already stored (left unchanged)")
    codes: list[str] = Field(description="the generated codes (never stored in clear); [] for an import")


@dataclass
class _Outcome:
    """The code hashes a write stored, and the first error that stopped part of it."""

    written: list[str] = field(default_factory=list)
    error: BaseException | None = None

    def merge(self, other: _Outcome) -> None:
        self.written += other.written
        self.error = self.error or other.error


class _Contended(Exception):
    """A transaction was cancelled for a reason other than existing codes (e.g. a conflict)."""


def add_codes(
    campaign_id: str, *, codes: list[str] | None = None, count: int | None = None, now: datetime
) -> CodesAdded:
    """Import ``codes`` or generate ``count`` codes into a campaign; the default one is made on first use.

    Each code becomes a Voucher item with the campaign's terms and its redeemable-until
    instant (R-VOUCH-3). Existing codes are never overwritten (a redeemed code keeps its
    redemption, a code keeps its campaign); they and repeats within the request count as
    ``duplicates``. The campaign's ``codes_total`` grows by what was written, in one atomic ADD.
    """
    if (codes is None) == (count is None):
        raise ValueError("give either codes or count")
    if (count if count is not None else len(codes or [])) > MAX_CODES_PER_REQUEST:
        raise ValueError(f"at most {MAX_CODES_PER_REQUEST} codes per request")
    shown = generate_codes(count) if count is not None else list(codes or [])
    campaign = get_or_default(campaign_id, now)
    pepper = voucher_pepper(get_settings())
    by_hash = _unique_by_hash(shown, pepper)
    outcome = _write_all([_voucher(key, campaign, now) for key in by_hash], campaign)
    stored = set(outcome.written)
    logger.info("voucher codes added", campaign_id=campaign_id, added=len(stored), requested=len(shown))
    return CodesAdded(
        campaign_id=campaign_id,
        added=len(stored),
        duplicates=len(shown) - len(stored),
        # A generated code that (against all odds) already existed is not this campaign's: not shown.
        codes=[by_hash[key] for key in by_hash if key in stored] if count is not None else [],
    )


def _unique_by_hash(codes: Iterable[str], pepper: str) -> dict[str, str]:
    """Code hash → the code as given, first spelling kept; later repeats are dropped."""
    unique: dict[str, str] = {}
    for code in codes:
        unique.setdefault(code_hash(code, pepper), code)
    return unique


def _voucher(key: str, campaign: Campaign, now: datetime) -> Voucher:
    return Voucher(
        key,
        campaign_id=campaign.id,
        plan=campaign.plan,
        included_seats=campaign.included_seats,
        price_amount=campaign.price_amount,
        price_currency=campaign.price_currency,
        redeemable_until=redeemable_until(campaign),
        imported_at=now,
    )


def _write_all(items: list[Voucher], campaign: Campaign) -> _Outcome:
    """Write ``items`` in parallel transactions, then count what was written on the campaign.

    The counter is updated even when a chunk failed (its error is raised afterwards), so
    ``codes_total`` matches the codes stored whatever happened to the rest.
    """
    connection = transactions.connection()
    chunks = [items[i : i + TRANSACTION_SIZE] for i in range(0, len(items), TRANSACTION_SIZE)]
    total = _Outcome()
    with ThreadPoolExecutor(max_workers=max(1, min(WRITERS, len(chunks)))) as pool:
        futures = [pool.submit(_write_chunk, connection, chunk) for chunk in chunks]
        for future in futures:
            total.merge(_result(future))
    if total.written:
        campaign.update(actions=[Campaign.codes_total.add(len(total.written))], condition=Campaign.id.exists())
    if total.error is not None:
        raise total.error
    return total


def _result(future: Future[_Outcome]) -> _Outcome:
    try:
        return future.result()
    except Exception as exc:  # kept and re-raised once the written codes are counted
        return _Outcome(error=exc)


def _write_chunk(connection: Connection, items: list[Voucher]) -> _Outcome:
    """One chunk: a transaction, retried without the codes it found existing; code by code
    if the transaction keeps being cancelled (another importer racing on the same codes)."""
    pending = items
    rounds = busy = 0
    while rounds < TRANSACTION_ROUNDS:
        try:
            existing = _transact(connection, pending)
        except _Contended:
            break
        except Exception as exc:
            if not transactions.is_transient(exc) or busy == BUSY_RETRIES:
                raise
            busy += 1
            time.sleep(min(2.0, 0.1 * 2**busy))
            continue
        rounds += 1
        if not existing:
            return _Outcome(written=[item.code_hash for item in pending])
        # Codes are never deleted: one found existing stays a duplicate, so it is dropped for good.
        refused = set(existing)
        pending = [item for item in pending if item.code_hash not in refused]
        if not pending:
            return _Outcome()
    return _put_each(pending)


def _put_each(items: list[Voucher]) -> _Outcome:
    """Code by code; a failure stops the rest but keeps what was written so it is counted."""
    outcome = _Outcome()
    for item in items:
        try:
            if _put_if_new(item):
                outcome.written.append(item.code_hash)
        except Exception as exc:  # re-raised by _write_all once the written codes are counted
            outcome.error = exc
            break
    return outcome


def _transact(connection: Connection, items: list[Voucher]) -> list[str]:
    """Put ``items`` all or none; the code hashes that already exist if that cancelled it.

    Raises ``_Contended`` when anything else cancelled the transaction.
    """
    try:
        with TransactWrite(connection=connection) as transaction:
            for item in items:
                transaction.save(item, condition=Voucher.code_hash.does_not_exist())
    except TransactWriteError as exc:
        if exc.cause_response_code != "TransactionCanceledException":
            raise
        reasons = exc.cancellation_reasons
        codes = [reason.code if reason is not None else None for reason in reasons]
        if len(codes) != len(items) or _EXISTS not in codes or set(codes) - {_EXISTS, None}:
            raise _Contended from exc
        return [item.code_hash for item, code in zip(items, codes, strict=True) if code == _EXISTS]
    return []


def _put_if_new(item: Voucher) -> bool:
    """A conditional put of one code: False if the code already exists (it is left unchanged)."""
    for attempt in range(PUT_ATTEMPTS):
        try:
            return put_if(item, Voucher.code_hash.does_not_exist())
        except PutError as exc:
            if exc.cause_response_code != "TransactionConflictException" or attempt == PUT_ATTEMPTS - 1:
                raise
            time.sleep(0.05 * 2**attempt)  # another importer's transaction holds this code
    raise AssertionError("unreachable")

"""The shape every sweep shares (API.md "Schedules").

A sweep reads only due items, shard by shard, from a sparse index (never a Scan); acts
on each with a conditional write so that running it twice changes nothing more; stops
while Lambda time remains and reports ``next`` so the rest can be handed on. Items it
changes leave the index, so a run stopped half-way is finished by the next run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from lifecycle.core.observability import logger


class SweepCursor(BaseModel):
    """Where a sweep stopped: the shard and the index key it had reached."""

    shard: int = Field(ge=0)
    key: dict[str, Any] | None = None


class SweepRequest(BaseModel):
    """The ``detail`` of the scheduled event; empty from the real schedule."""

    model_config = ConfigDict(extra="ignore")

    dry_run: bool = False
    next: SweepCursor | None = None


class SweepSummary(BaseModel):
    examined: int = 0
    changed: int = 0
    errors: int = 0
    next: SweepCursor | None = None


class DuePage(Protocol):
    """One page of due item keys from a shard, and the key to continue after it."""

    def __iter__(self) -> Iterator[Any]: ...

    @property
    def last_evaluated_key(self) -> dict[str, Any] | None: ...


QueryDue = Callable[[str, dict[str, Any] | None], DuePage]


def due_in(index: Any, due: Any, page_size: int) -> QueryDue:
    """The ``QueryDue`` of a sparse due index: one shard's items whose range key meets ``due``
    (e.g. ``Account.trial_ends_at <= now``), ``page_size`` at a time, after the key ``after``.
    The index holds only items waiting for the sweep, so a Query reads what is due and
    nothing else (items read / items due ≈ 1)."""

    def query(shard: str, after: dict[str, Any] | None) -> DuePage:
        page: DuePage = index.query(shard, due, limit=page_size, page_size=page_size, last_evaluated_key=after)
        return page

    return query


Act = Callable[[Any], bool]


def run_sweep(
    *,
    shards: int,
    query_due: QueryDue,
    act: Act,
    request: SweepRequest,
    remaining_ms: Callable[[], int],
    margin_ms: int,
) -> SweepSummary:
    """Walk every shard's due items from ``request.next`` on; ``act`` returns True if it changed one.

    A dry run only counts what is due. An item whose action raises is counted in
    ``errors`` and left due for the next run; the sweep goes on with the others.
    """
    summary = SweepSummary()
    start = request.next or SweepCursor(shard=0)
    for shard in range(start.shard, shards):
        key = start.key if shard == start.shard else None
        while True:
            if remaining_ms() < margin_ms:
                summary.next = SweepCursor(shard=shard, key=key)
                return summary
            page = query_due(str(shard), key)
            for item in page:
                summary.examined += 1
                if request.dry_run:
                    continue
                try:
                    summary.changed += int(act(item))
                except Exception:
                    # Only the key is logged: items may hold personal data.
                    logger.exception("sweep action failed", extra={"shard": shard})
                    summary.errors += 1
            key = page.last_evaluated_key
            if key is None:
                break
    return summary

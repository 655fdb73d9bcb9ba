"""Shared pieces of the storage models."""

from __future__ import annotations

import hashlib


def shard_of(key: str, shards: int) -> str:
    """A stable shard ("0".."shards-1") for a sweep index's partition key.

    Sweep indexes are sparse and partitioned by shard so that no GSI partition runs hot
    and a sweep reads only due items, shard by shard, never a Scan.
    """
    digest = hashlib.sha256(key.encode()).digest()
    return str(int.from_bytes(digest[:4], "big") % shards)

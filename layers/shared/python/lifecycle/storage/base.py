"""Shared pieces of the storage models."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from pynamodb.expressions.update import Action
from pynamodb.models import Model


def shard_of(key: str, shards: int) -> str:
    """A stable shard ("0".."shards-1") for a sweep index's partition key.

    Sweep indexes are sparse and partitioned by shard so that no GSI partition runs hot
    and a sweep reads only due items, shard by shard, never a Scan.
    """
    digest = hashlib.sha256(key.encode()).digest()
    return str(int.from_bytes(digest[:4], "big") % shards)


def set_or_remove(model: type[Model], values: Mapping[str, Any]) -> list[Action]:
    """The update actions that write ``values`` to an item of ``model``: set each value,
    remove the attributes given None."""
    attributes = model.get_attributes()
    return [attributes[name].remove() if v is None else attributes[name].set(v) for name, v in values.items()]


def apply_values(item: Model, values: Mapping[str, Any]) -> None:
    """``values`` on the item in hand, as an update of ``set_or_remove(values)`` stored them:
    the answer (or the next condition) without reading the item back."""
    for name, value in values.items():
        setattr(item, name, value)

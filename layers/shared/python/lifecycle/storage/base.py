"""Shared pieces of the storage models."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from pynamodb.attributes import Attribute, ListAttribute
from pynamodb.constants import NULL
from pynamodb.exceptions import AttributeDeserializationError, AttributeNullError, DeleteError, PutError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model


class LeanModel(Model):
    """A pynamodb ``Model`` that turns its items into DynamoDB's typed values and back without
    going through an attribute descriptor per attribute: pynamodb's own loops read and set each
    of an item's attributes (68 on an account) through ``Attribute.__get__``/``__set__``, which
    cost more CPU than botocore's parsing of the item. The loops here do what pynamodb's
    ``_container_serialize``, ``_instantiate`` and ``_container_deserialize`` do, on the
    instance's ``attribute_values`` (where those descriptors keep the values), with each
    attribute's own ``serialize``/``deserialize``, defaults and null checks.

    Only for plain attributes: a model with an attribute that has a descriptor of its own (a
    map, a version or a discriminator attribute) stays a plain pynamodb ``Model``
    (tests/unit/test_lean_model.py holds every model to this)."""

    def _container_serialize(self, null_check: bool = True) -> dict[str, dict[str, Any]]:
        values = self.attribute_values
        serialized: dict[str, dict[str, Any]] = {}
        for name, attribute in self.get_attributes().items():
            value = values.get(name)
            if value is None:
                item_value = None
            elif isinstance(attribute, ListAttribute):
                item_value = attribute.serialize(value, null_check=null_check)
            else:
                item_value = attribute.serialize(value)
            if item_value is None:
                if null_check and not attribute.null:
                    raise AttributeNullError(name)
                continue
            serialized[attribute.attr_name] = {attribute.attr_type: item_value}
        return serialized

    def _container_deserialize(self, attribute_values: dict[str, dict[str, Any]]) -> None:
        values: dict[str, Any] = {}
        for name, attribute in self.get_attributes().items():
            stored = attribute_values.get(attribute.attr_name)
            if stored and NULL not in stored:
                if attribute.attr_type not in stored:
                    raise AttributeDeserializationError(attribute.attr_name, attribute.attr_type)
                values[name] = attribute.deserialize(stored[attribute.attr_type])
            elif (default := _default_of(attribute)) is not None:
                values[name] = default
        self.attribute_values = values

    @classmethod
    def _instantiate(cls, attribute_values: dict[str, dict[str, Any]]) -> Any:
        # pynamodb's makes the instance (setting every default) and then deserialises (setting
        # them again) through AttributeContainer's loop, which a subclass cannot replace.
        instance = cls.__new__(cls)
        instance._container_deserialize(attribute_values)
        return instance


def _default_of(attribute: Attribute[Any]) -> Any:
    """The value pynamodb gives a stored item's attribute that the item lacks."""
    default = attribute.default
    return default() if callable(default) else default


# The code DynamoDB answers a single-item write whose condition did not hold with.
CONDITION_FAILED = "ConditionalCheckFailedException"


def shard_of(key: str, shards: int) -> str:
    """A stable shard ("0".."shards-1") for a sweep index's partition key.

    Sweep indexes are sparse and partitioned by shard so that no GSI partition runs hot
    and a sweep reads only due items, shard by shard, never a Scan.
    """
    digest = hashlib.sha256(key.encode()).digest()
    return str(int.from_bytes(digest[:4], "big") % shards)


def under_hash_key[M: Model](model: type[M], hash_key: str, page_size: int | None = None) -> Iterator[M]:
    """Every item of ``model`` under ``hash_key``, in key order (one consistent Query, paged)."""
    return model.query(hash_key, consistent_read=True, page_size=page_size)


def count_under_hash_key(model: type[Model], hash_key: str) -> int:
    """How many items of ``model`` are under ``hash_key`` (one consistent Query that counts, paged)."""
    return model.count(hash_key, consistent_read=True)


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


def update_if(item: Model, actions: Sequence[Action], condition: Condition | None) -> bool:
    """One UpdateItem of ``item`` under ``condition``: True if it was written (pynamodb then
    holds the item as stored, ALL_NEW, in ``item``), False if the condition did not hold.
    Any other error propagates."""
    return _written(lambda: item.update(actions=list(actions), condition=condition))


def put_if(item: Model, condition: Condition | None) -> bool:
    """One PutItem of ``item`` under ``condition``: True if it was written, False if the
    condition did not hold. Any other error propagates."""
    return _written(lambda: item.save(condition=condition))


def delete_if(item: Model, condition: Condition | None) -> bool:
    """One DeleteItem of ``item`` under ``condition``: True if it was deleted, False if the
    condition did not hold. Any other error propagates."""
    return _written(lambda: item.delete(condition=condition))


def _written(write: Callable[[], object]) -> bool:
    """Run one conditional single-item write: False only when its condition did not hold."""
    try:
        write()
    except (UpdateError, PutError, DeleteError) as exc:
        if exc.cause_response_code == CONDITION_FAILED:
            return False
        raise
    return True

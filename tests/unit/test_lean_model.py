"""``LeanModel`` turns every stored model into DynamoDB's typed values and back exactly as
pynamodb's own ``AttributeContainer`` loops do (its serialisation, its instantiation from a
stored item, its defaults and null checks), only with less CPU."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pynamodb.attributes import (
    AttributeContainer,
    BooleanAttribute,
    DiscriminatorAttribute,
    JSONAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.exceptions import AttributeNullError

from lifecycle.storage import MODELS
from lifecycle.storage.base import LeanModel

INSTANT = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)


def _value(attribute: Any) -> Any:
    if isinstance(attribute, TTLAttribute):
        return INSTANT.replace(microsecond=0)
    if isinstance(attribute, UTCDateTimeAttribute):
        return INSTANT
    if isinstance(attribute, NumberAttribute):
        return 1234
    if isinstance(attribute, BooleanAttribute):
        return True
    if isinstance(attribute, JSONAttribute):
        return {"lines": [{"amount": 3900, "text": "Grüße"}], "none": None}
    if isinstance(attribute, ListAttribute):
        return ["a", "b"] if attribute.element_type is UnicodeAttribute else [{"at": "2026-03-04", "n": 2}]
    if isinstance(attribute, UnicodeSetAttribute):
        return {"a", "b"}
    return "value-ü"


def _filled(model: type[LeanModel], only_required: bool) -> LeanModel:
    item = model()
    for name, attribute in model.get_attributes().items():
        if not only_required or not attribute.null:
            setattr(item, name, _value(attribute))
    return item


LEAN = sorted((m for m in MODELS if issubclass(m, LeanModel)), key=lambda m: m.__name__)


@pytest.mark.parametrize("only_required", [False, True])
@pytest.mark.parametrize("model", LEAN, ids=lambda m: m.__name__)
def test_every_model_is_stored_and_read_as_pynamodb_does(model: type[LeanModel], only_required: bool) -> None:
    item = _filled(model, only_required)
    stored = item.serialize()
    assert stored == AttributeContainer._container_serialize(item)

    read = model.from_raw_data(stored)
    reference = model(_user_instantiated=False)
    AttributeContainer._container_deserialize(reference, stored)
    assert read.attribute_values == reference.attribute_values
    assert read.serialize() == stored

    refreshed = _filled(model, False)
    refreshed.deserialize(stored)  # an update's ALL_NEW answer, a refresh
    assert refreshed.attribute_values == reference.attribute_values


@pytest.mark.parametrize("model", LEAN, ids=lambda m: m.__name__)
def test_a_missing_required_attribute_is_refused_as_pynamodb_refuses_it(model: type[LeanModel]) -> None:
    required = [name for name, attribute in model.get_attributes().items() if not attribute.null]
    item = _filled(model, True)
    setattr(item, required[-1], None)
    with pytest.raises(AttributeNullError) as ours:
        item.serialize()
    with pytest.raises(AttributeNullError) as theirs:
        AttributeContainer._container_serialize(item)
    assert str(ours.value) == str(theirs.value)


def test_only_models_of_plain_attributes_are_lean() -> None:
    """A map, version or discriminator attribute has a descriptor of its own, which
    ``LeanModel``'s loops would bypass: such a model stays pynamodb's."""
    for model in MODELS:
        own_descriptors = [
            name
            for name, attribute in model.get_attributes().items()
            if isinstance(attribute, (MapAttribute, VersionAttribute, DiscriminatorAttribute))
        ]
        assert issubclass(model, LeanModel) != bool(own_descriptors), (model.__name__, own_descriptors)

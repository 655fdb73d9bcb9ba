"""``lifecycle.storage.MODELS`` is the one registry of tables: every model the storage
defines is in it, and the registries that say what happens to each table (the personal
data inventory, the purge map) hold exactly its models."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from pynamodb.models import Model

from lifecycle import storage
from lifecycle.core.settings import Settings
from lifecycle.ending import purge
from lifecycle.privacy import personal_data
from lifecycle.storage import MODELS, table_of
from lifecycle.storage.base import LeanModel


def _defined_models() -> set[type[Model]]:
    found: set[type[Model]] = set()
    for module_info in pkgutil.iter_modules(storage.__path__):
        module = importlib.import_module(f"{storage.__name__}.{module_info.name}")
        found |= {
            value
            for value in vars(module).values()
            if inspect.isclass(value)
            and issubclass(value, Model)
            and value.__module__ == module.__name__
            and value is not LeanModel  # the models' base class, of no table
        }
    return found


def test_every_model_of_the_storage_is_in_the_registry() -> None:
    assert _defined_models() == set(MODELS)


def test_each_table_setting_exists_and_names_one_table() -> None:
    assert all(setting in Settings.model_fields for setting in MODELS.values())
    names = [table_of(model) for model in MODELS]
    assert len(set(names)) == len(names)


def test_the_personal_data_inventory_declares_every_table_and_nothing_else() -> None:
    assert set(personal_data.INVENTORY) == set(MODELS)


def test_the_purge_map_declares_every_table_and_nothing_else() -> None:
    """Every table is purged or exempt by a declared treatment (kept by law, unlinked, not account data)."""
    assert set(purge.PURGE_MAP) == set(MODELS)
    assert purge.undeclared() == set()

"""The personal data inventory covers every table (R-GDPR-3, R-GDPR-5): a model added to
``lifecycle.storage.MODELS``, or an attribute that looks personal, without a declaration
fails here, so export and erasure cannot silently miss it."""

from __future__ import annotations

import re

import pytest
from pynamodb.models import Model

from lifecycle.privacy import personal_data
from lifecycle.storage import MODELS

# Attribute names that usually hold personal data.
PERSONAL_LOOKING = re.compile(
    r"(^|_)(e?mail|name|first_name|last_name|full_name|ip|user_agent|street|city|postal_code|phone|"
    r"device_id|devices|networks|vat_id|company|company_registration|to|body|subject|description|"
    r"billing_details|specification|title)($|_)"
)
# Looked personal by name, are not: why.
NOT_PERSONAL = {
    ("Campaign", "name"): "a campaign's name, chosen by staff",
    ("Usage", "usage_flag_evidence"): "counts and limits only",
    ("Account", "authority_to_bind"): "a yes/no the registrant declared, not about a person",
    ("RetentionItem", "subject_key"): "an account id or a hash of the person's address",
}


def test_r_gdpr_3_r_gdpr_5_every_table_is_declared_in_the_inventory() -> None:
    assert set(personal_data.INVENTORY) == set(MODELS)


@pytest.mark.parametrize("model", sorted(MODELS, key=lambda model: model.__name__), ids=lambda m: m.__name__)
def test_r_gdpr_3_declared_attributes_exist_and_personal_looking_ones_are_declared(model: type[Model]) -> None:
    attributes = set(model.get_attributes())
    declared = {field.attribute for field in personal_data.fields_of(model)}
    assert declared <= attributes, f"{model.__name__} declares attributes it does not have: {declared - attributes}"
    undeclared = {
        name
        for name in attributes
        if PERSONAL_LOOKING.search(name) and name not in declared and (model.__name__, name) not in NOT_PERSONAL
    }
    assert not undeclared, (
        f"{model.__name__}: declare {sorted(undeclared)} in lifecycle.privacy.personal_data or list why not"
    )


def test_r_gdpr_5_only_issued_invoices_are_kept_by_law() -> None:
    kept = {
        (model.__name__, field.attribute)
        for model, fields in personal_data.INVENTORY.items()
        for field in fields
        if field.kept_by_law
    }
    # R-PAY-14: the VIES confirmation behind a reverse charge is part of the issued invoice;
    # R-PAY-12: so is the method that paid it.
    assert kept == {("Invoice", "billing_details"), ("Invoice", "vat_check"), ("Invoice", "paid_with")}


def test_r_gdpr_3_categories_are_the_issues_six() -> None:
    found = set().union(*personal_data.categories().values())
    assert found <= {"identity", "contact", "billing", "usage", "network", "support"}
    assert personal_data.categories()["BillingDetailsVersion"] == {"billing"}

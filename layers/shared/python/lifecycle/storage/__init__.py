"""pynamodb models, one per table of template.yaml (tests check they cannot drift).

``configure()`` points every model at the tables and endpoint of the given settings;
it runs once on import with the function's environment, and tests call it again to
switch between moto and DynamoDB Local.
"""

from __future__ import annotations

import botocore.loaders
import botocore.session
import pynamodb.connection.base
from pynamodb.models import Model

from lifecycle.core.settings import Settings, get_settings
from lifecycle.storage.accounts import Account
from lifecycle.storage.audit import AuditEvent
from lifecycle.storage.billing_details import BillingDetailsVersion
from lifecycle.storage.campaigns import Campaign
from lifecycle.storage.cancellation_requests import CancellationRequest
from lifecycle.storage.claims import Claim
from lifecycle.storage.custom_requests import CustomRequest
from lifecycle.storage.identity_changes import IdentityChange
from lifecycle.storage.invoices import Invoice, InvoiceSeries
from lifecycle.storage.notifications import Notification
from lifecycle.storage.prices import PriceChange
from lifecycle.storage.privacy import Consent, PrivacyRequest
from lifecycle.storage.rate_limits import RateCounter
from lifecycle.storage.retention import DeletionCertificate, RetentionItem
from lifecycle.storage.seat_intervals import SeatInterval
from lifecycle.storage.sessions import Session
from lifecycle.storage.shared_logins import SharedLoginDetection
from lifecycle.storage.terms import TermsVersion
from lifecycle.storage.usage import Usage
from lifecycle.storage.users import User
from lifecycle.storage.vouchers import Voucher

# Model → the Settings field holding its table name (set from template.yaml's Globals).
MODELS: dict[type[Model], str] = {
    Account: "accounts_table",
    AuditEvent: "audit_table",
    BillingDetailsVersion: "billing_details_table",
    Campaign: "campaigns_table",
    DeletionCertificate: "deletion_certificates_table",
    CancellationRequest: "cancellation_requests_table",
    Claim: "claims_table",
    Consent: "consents_table",
    CustomRequest: "custom_requests_table",
    IdentityChange: "identity_changes_table",
    Invoice: "invoices_table",
    InvoiceSeries: "invoice_series_table",
    Notification: "notifications_table",
    PriceChange: "prices_table",
    PrivacyRequest: "privacy_requests_table",
    RateCounter: "rate_limits_table",
    RetentionItem: "retention_table",
    SeatInterval: "seat_intervals_table",
    Session: "sessions_table",
    SharedLoginDetection: "shared_login_detections_table",
    TermsVersion: "terms_table",
    Usage: "usage_table",
    User: "users_table",
    Voucher: "vouchers_table",
}


def table_of(model: type[Model]) -> str:
    """The table's name on certificates, exports and answers: stable across stacks ("users", "seat_intervals")."""
    return MODELS[model].removesuffix("_table")


# pynamodb opens one botocore session per model (and thread), and each session loads
# DynamoDB's service description from disk again: ~20 tables made every cold start, and
# every test, parse the same JSON ~20 times. Sessions made for pynamodb share one loader
# (its caches are read-mostly dicts), so the description is parsed once per process.
_LOADER = botocore.loaders.create_loader()


def _session_with_shared_loader() -> botocore.session.Session:
    session = botocore.session.get_session()
    session.register_component("data_loader", _LOADER)
    return session


pynamodb.connection.base.get_session = _session_with_shared_loader  # type: ignore[attr-defined,assignment]


def configure(settings: Settings) -> None:
    for model, setting in MODELS.items():
        model.Meta.table_name = getattr(settings, setting)
        model.Meta.host = settings.dynamodb_endpoint
        model.Meta.region = settings.region
        # pynamodb caches the connection per model; drop it so the new endpoint is used.
        model._connection = None


configure(get_settings())

__all__ = [
    "MODELS",
    "Account",
    "AuditEvent",
    "BillingDetailsVersion",
    "Campaign",
    "CancellationRequest",
    "Claim",
    "Consent",
    "CustomRequest",
    "DeletionCertificate",
    "IdentityChange",
    "Invoice",
    "InvoiceSeries",
    "Notification",
    "PriceChange",
    "PrivacyRequest",
    "RateCounter",
    "RetentionItem",
    "SeatInterval",
    "Session",
    "SharedLoginDetection",
    "TermsVersion",
    "Usage",
    "User",
    "Voucher",
    "configure",
    "table_of",
]

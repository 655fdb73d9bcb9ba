"""The personal data inventory (R-GDPR-1..10): every table and attribute that holds personal data, its
category, source and legal basis. The export, rectification, erasure and retention are driven by it; a
test fails when a model or a personal-looking attribute is added without a declaration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pynamodb.models import Model

from lifecycle.storage import (
    Account,
    AuditEvent,
    BillingDetailsVersion,
    Campaign,
    CancellationRequest,
    Claim,
    Consent,
    CustomRequest,
    DeletionCertificate,
    IdentityChange,
    Invoice,
    InvoiceSeries,
    Notification,
    PriceChange,
    PrivacyRequest,
    RateCounter,
    RetentionItem,
    SeatInterval,
    Session,
    SharedLoginDetection,
    TermsVersion,
    Usage,
    User,
    Voucher,
)

Category = Literal["identity", "contact", "billing", "usage", "network", "support"]
Source = Literal["data_subject", "account_owner", "service", "staff"]
LegalBasis = Literal["contract", "legal_obligation", "legitimate_interest", "consent"]


@dataclass(frozen=True)
class PersonalField:
    attribute: str
    category: Category
    source: Source
    basis: LegalBasis
    # Issued invoices keep their snapshot where accounting law requires (R-GDPR-5, R-PAY-14).
    kept_by_law: bool = False


def _fields(category: Category, source: Source, basis: LegalBasis, *names: str) -> tuple[PersonalField, ...]:
    return tuple(PersonalField(name, category, source, basis) for name in names)


INVENTORY: dict[type[Model], tuple[PersonalField, ...]] = {
    Account: (
        *_fields("identity", "data_subject", "contract", "company_name", "subdomain"),
        *_fields("contact", "data_subject", "contract", "owner_email", "owner_email_canonical"),
        *_fields("network", "service", "legal_obligation", "terms_accepted_ip", "terms_accepted_user_agent"),
        *_fields("usage", "service", "contract", "last_active_at"),
        *_fields("billing", "service", "contract", "payment_method_ref", "payment_customer_id"),
        # A card's brand, last four digits and expiry (not card data under PCI DSS, yet about the
        # holder); PayPal's is the type alone. Deleted with the account by the purge.
        *_fields("billing", "service", "contract", "payment_method_display"),
        # A dispute the card holder opened with their bank (its id, amount, reason). Deleted with the account.
        *_fields("billing", "service", "contract", "payment_dispute"),
    ),
    User: (
        *_fields("identity", "account_owner", "contract", "full_name"),
        *_fields("contact", "account_owner", "contract", "email"),
        *_fields("usage", "service", "contract", "last_active_at"),
    ),
    BillingDetailsVersion: _fields(
        "billing",
        "data_subject",
        "legal_obligation",
        "first_name",
        "last_name",
        "email",
        "company",
        "street",
        "city",
        "postal_code",
        "region",
        "country",
        "vat_id",
        "company_registration",
    ),
    Invoice: (
        PersonalField("billing_details", "billing", "service", "legal_obligation", kept_by_law=True),
        # R-PAY-14: the VIES confirmation behind a reverse charge names the VAT ID it confirmed.
        PersonalField("vat_check", "billing", "service", "legal_obligation", kept_by_law=True),
        # R-PAY-12: the method that paid it (a card's last four digits and expiry) is part of the
        # payment's record kept with the invoice; masked with the billing details (R-GDPR-2).
        PersonalField("paid_with", "billing", "service", "legal_obligation", kept_by_law=True),
    ),
    Session: (
        *_fields("network", "service", "legitimate_interest", "ip", "user_agent"),
        *_fields("usage", "service", "legitimate_interest", "device_id", "at"),
    ),
    SharedLoginDetection: _fields("network", "service", "legitimate_interest", "devices", "networks"),
    Notification: _fields("contact", "service", "contract", "to", "subject", "body"),
    CustomRequest: _fields("support", "account_owner", "contract", "title", "description", "specification"),
    Usage: (),
    AuditEvent: _fields("support", "staff", "legitimate_interest", "details"),
    CancellationRequest: (),
    Claim: _fields("contact", "service", "contract", "claim"),  # owner-email# and user-email# claims
    SeatInterval: (),
    Campaign: (),
    Voucher: (),
    TermsVersion: (),
    RateCounter: (),  # keys are hashes of IPs and emails, expired by TTL within the window
    InvoiceSeries: (),
    PriceChange: (),
    DeletionCertificate: (),  # by design: counts and legal bases, no personal data (R-TERM-3)
    RetentionItem: (),
    # API.md "Sign-in": the address a change of a person's sign-in identity finds them by (and a
    # new one), held only until the identity provider applied it, then deleted.
    IdentityChange: _fields("contact", "service", "contract", "email", "new_email"),
    # R-GDPR-1: kept per person; the address is where marketing goes. The times, sources and
    # text versions name nobody alone; ``history`` is the evidence of each step (Art. 7(1)).
    Consent: (
        *_fields("contact", "data_subject", "consent", "email"),
        *_fields("support", "service", "legal_obligation", "history"),
    ),
    # R-GDPR-10: the subject's request (their address, what they wrote, the corrections they
    # asked for), kept as the evidence of answering it.
    PrivacyRequest: (
        *_fields("contact", "data_subject", "legal_obligation", "email"),
        *_fields("support", "data_subject", "legal_obligation", "details", "corrections"),
    ),
}


def fields_of(model: type[Model]) -> tuple[PersonalField, ...]:
    return INVENTORY[model]


def categories() -> dict[str, set[str]]:
    """Model → the categories of personal data it holds (for an export's summary)."""
    return {model.__name__: {field.category for field in fields} for model, fields in INVENTORY.items() if fields}

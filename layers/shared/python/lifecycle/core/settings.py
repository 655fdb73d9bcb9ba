"""Typed settings, parsed once from the environment the template sets.

Every number a rule names is a setting here with the Terms' default (RULES.md: "every
number in a rule is a setting"). Table names come from ``Globals`` in template.yaml.
"""

from __future__ import annotations

import json
import os
from datetime import date
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from lifecycle.core import local_time
from lifecycle.core.plans import Plan

# R-USE-3: the plans' seat limits until the billing rules make them data of their own.
DEFAULT_SEAT_LIMITS: dict[Plan, int] = {"free": 1, "ticket": 10, "ticket-chat": 25, "all-inclusive": 100}


class UsageLimits(BaseModel):
    """R-FAIR-1: fair-usage limits; ``None`` is unlimited."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tickets_per_month: int | None = Field(default=None, ge=0)
    storage_bytes: int | None = Field(default=None, ge=0)


# R-FAIR-1: the free plan gets 1000 tickets a month and 1 GB (10^9 bytes) of storage; the
# paid plans are unlimited unless staff set an account's own limits.
DEFAULT_USAGE_LIMITS: dict[Plan, UsageLimits] = {
    "free": UsageLimits(tickets_per_month=1000, storage_bytes=1_000_000_000),
    "ticket": UsageLimits(),
    "ticket-chat": UsageLimits(),
    "all-inclusive": UsageLimits(),
}


class PlanPrice(BaseModel):
    """A plan's standing price per seat, in cents, for each billing period (plans are data)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    monthly: int = Field(ge=0)
    annual: int = Field(ge=0)


# The standing prices per seat. R-VOUCH-6: the all-inclusive plan's standard price is 3900
# cents per user per month; the annual price is ten months'. Staff schedule changes (R-PAY-9).
DEFAULT_PLAN_PRICES: dict[Plan, PlanPrice] = {
    "free": PlanPrice(monthly=0, annual=0),
    "ticket": PlanPrice(monthly=1900, annual=19_000),
    "ticket-chat": PlanPrice(monthly=2900, annual=29_000),
    "all-inclusive": PlanPrice(monthly=3900, annual=39_000),
}

# Standard VAT rates of the EU member states in basis points (2025), by ISO 3166-1 country.
DEFAULT_VAT_RATES: dict[str, int] = {
    "AT": 2000, "BE": 2100, "BG": 2000, "CY": 1900, "CZ": 2100, "DE": 1900, "DK": 2500, "EE": 2400,
    "ES": 2100, "FI": 2550, "FR": 2000, "GR": 2400, "HR": 2500, "HU": 2700, "IE": 2300, "IT": 2200,
    "LT": 2100, "LU": 1700, "LV": 2100, "MT": 1800, "NL": 2100, "PL": 2300, "PT": 2300, "RO": 2100,
    "SE": 2500, "SI": 2200, "SK": 2300,
}  # fmt: skip


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    stage: str = "dev"
    region: str = "eu-central-1"
    # Set only where DynamoDB is not AWS's (DynamoDB Local for the local runtime and tests);
    # empty, as the template declares it for ``sam local invoke --env-vars``, is AWS's.
    dynamodb_endpoint: str | None = None

    accounts_table: str = "accounts"
    audit_table: str = "audit"
    billing_details_table: str = "billing-details"
    campaigns_table: str = "campaigns"
    cancellation_requests_table: str = "cancellation-requests"
    claims_table: str = "claims"
    consents_table: str = "consents"
    custom_requests_table: str = "custom-requests"
    deletion_certificates_table: str = "deletion-certificates"
    identity_changes_table: str = "identity-changes"
    idempotency_table: str = "idempotency"
    invoices_table: str = "invoices"
    invoice_series_table: str = "invoice-series"
    notifications_table: str = "notifications"
    prices_table: str = "prices"
    privacy_requests_table: str = "privacy-requests"
    rate_limits_table: str = "rate-limits"
    retention_table: str = "retention"
    seat_intervals_table: str = "seat-intervals"
    sessions_table: str = "sessions"
    shared_login_detections_table: str = "shared-login-detections"
    terms_table: str = "terms"
    usage_table: str = "usage"
    users_table: str = "users"
    vouchers_table: str = "vouchers"

    # R-TERMS-1: the terms version a signup accepts until staff publish a newer one.
    terms_version: str = "2019-09-01"
    # Notices go by SES in AWS; the local runtime sets LOCAL_OUTBOX_PATH and they go to that file.
    email_from: str = "notices@helpdesk.example"
    local_outbox_path: str | None = None
    # Where notices to staff go (R-TERM-2: an overdue cancellation request's escalation).
    staff_email: str = "support@helpdesk.example"
    # R-TERM-2: the vendor's business calendar, which staff's 1-day deadline counts in
    # (lifecycle.core.business_days): Saturdays and Sundays are never business days, nor the
    # public holidays (days off by law) of ``business_country`` (ISO 3166-1 alpha-2, a country
    # the ``holidays`` package knows), nor the company's own days off, env BUSINESS_HOLIDAYS,
    # comma-separated ISO dates ("2026-12-31,2027-01-02"), none by default. Days are counted in
    # ``business_time_zone`` (IANA). The Terms' vendor is Slovak.
    business_country: str = Field(default="SK", pattern="^[A-Z]{2}$")
    business_time_zone: str = "Europe/Bratislava"
    business_holidays: frozenset[date] = frozenset()
    # Sessions (device, IP, user agent) are network data: kept this long, then expired by TTL.
    session_retention_days: int = Field(default=90, ge=1)
    # Activity is written at most once per this many seconds per user (API.md "Activity").
    activity_write_interval_seconds: int = Field(default=60, ge=0)
    # R-USE-1 (lifecycle.usage.shared_logins): one person may have this many devices active within one
    # window (a phone and a laptop); more distinct devices of one user in a window is concurrent use.
    shared_login_max_devices: int = Field(default=2, ge=1)
    shared_login_window_minutes: int = Field(default=15, ge=1)
    # R-USE-1, R-USE-2: UTC days with concurrent use, in one fee month, that make a shared login.
    shared_login_days_per_period: int = Field(default=3, ge=1)
    # R-USE-2: the monthly shared-login fee, one extra seat's price, in cents.
    shared_login_fee_cents: int = Field(default=3900, ge=0)
    # The evidence keeps networks, not addresses: IPv4 /24 and IPv6 /48 prefixes.
    shared_login_ipv4_prefix: int = Field(default=24, ge=8, le=32)
    shared_login_ipv6_prefix: int = Field(default=48, ge=16, le=128)
    # R-REG-1: the minimum age, on the signup date in UTC.
    minimum_age_years: int = Field(default=18, ge=18)
    # R-REG-2: the human check ("local": the token "human" passes; "turnstile": Cloudflare's API).
    human_check_provider: Literal["local", "turnstile"] = "local"
    # Secrets (lifecycle.core.secrets): in AWS each ``<secret>_arn`` names a Secrets Manager secret
    # and the value is fetched from there; without an ARN (local runtime, tests) the setting itself
    # is the value. Read them only through lifecycle.core.secrets, never as ``settings.<secret>``.
    human_check_secret: str = ""
    human_check_secret_arn: str = ""
    # R-REG-2: fixed-window limits per IP and per email on the public signup routes.
    signup_limit_per_ip: int = Field(default=10, ge=1)
    signup_limit_per_email: int = Field(default=3, ge=1)
    signup_window_seconds: int = Field(default=3600, ge=1)
    # R-REG-3: addresses at these domains (comma-separated) are refused, besides those of the
    # maintained disposable-email-domains list.
    disposable_email_domains: str = ""
    # R-REG-3: ask DNS whether an address's domain takes mail (MX, else A/AAAA; a null MX refuses).
    # Off here and in the local runtime (no DNS look-ups); the template turns it on in AWS.
    email_check_deliverability: bool = False
    # Keys the HMAC that stores voucher codes, so a table dump reveals no redeemable code.
    voucher_pepper: str = Field(default="local-voucher-pepper", min_length=16)
    voucher_pepper_arn: str = ""
    # The Terms' own lifetime deal (RULES.md §3), the default campaign.
    default_campaign_id: str = "appsumo-2019"
    # R-PAY-2: every plan starts with a free trial of up to 14 days.
    trial_days: int = Field(default=14, ge=0, le=14)
    # Sweep indexes are split into this many partitions so no GSI partition runs hot.
    sweep_shards: int = Field(default=4, ge=1, le=64)
    # A sweep stops and hands the rest on when less than this much Lambda time is left.
    sweep_time_margin_ms: int = Field(default=10_000, ge=0)
    # Same Idempotency-Key and body within this window returns the first response.
    idempotency_ttl_seconds: int = Field(default=24 * 3600, gt=0)
    # R-USE-3: users (owner included) a plan allows; env SEAT_LIMITS is JSON such as
    # {"ticket": 12}, merged over these defaults. An account's ``seat_limit`` overrides it.
    seat_limits: dict[Plan, int] = Field(default_factory=lambda: dict(DEFAULT_SEAT_LIMITS))
    # R-VOUCH-6: an extra user costs the standard all-inclusive price per month.
    extra_seat_price_cents: int = Field(default=3900, ge=0)
    # R-PAY-12: the payment provider, Stripe, through its SDK: its secret API key and the base
    # address of its API (the local runtime and tests point it at their stand-in,
    # local_runtime/payment_standin.py).
    payment_provider_secret: str = ""
    payment_provider_secret_arn: str = ""
    # The key the payment provider signs its webhook events with (locally, this value).
    payment_webhook_secret: str = Field(default="local-payment-webhook-secret", min_length=1)
    payment_webhook_secret_arn: str = ""
    # A secret read from Secrets Manager is kept this long in the function's memory: a rotated
    # value is in use everywhere within it, and a warm function asks again at most this often.
    secrets_max_age_seconds: int = Field(default=300, ge=1)
    payment_api_base: str = Field(default="https://api.stripe.com", pattern=r"^https?://[^/?#]+$")
    # Sign-in (API.md "Sign-in"): the stack's Cognito user pool the service creates, disables,
    # enables and deletes people in; empty when an external issuer signs people in (the service
    # then manages no identities). The endpoint is set only where Cognito is not AWS's (the local
    # runtime's moto server); empty is AWS's.
    identity_user_pool_id: str = ""
    identity_endpoint: str | None = None

    @field_validator("seat_limits", mode="before")
    @classmethod
    def _seat_limits(cls, value: object) -> object:
        """JSON from the environment, merged over the defaults; a limit is at least 1 (the owner)."""
        parsed = json.loads(value) if isinstance(value, str) else value
        if not isinstance(parsed, dict):
            raise ValueError("seat_limits is a JSON object of plan -> users")
        merged = {**DEFAULT_SEAT_LIMITS, **parsed}
        if any(not isinstance(limit, int) or limit < 1 for limit in merged.values()):
            raise ValueError("each seat limit is a whole number of at least 1")
        return merged

    # R-FAIR-1: each plan's usage limits; env USAGE_LIMITS is JSON such as
    # {"ticket": {"tickets_per_month": 5000, "storage_bytes": null}}, merged over these defaults
    # plan by plan. Staff's per-account limits override them.
    usage_limits: dict[Plan, UsageLimits] = Field(default_factory=lambda: dict(DEFAULT_USAGE_LIMITS))
    # R-PAY-10: a month's report flags the account to staff for an enterprise offer when its
    # end users reach this many, or its queries that month reach this many per agent (seat).
    enterprise_end_users: int = Field(default=10_000, ge=1)
    enterprise_queries_per_agent: int = Field(default=5_000, ge=1)

    # ---- billing
    # Every price and invoice is in this currency (integer cents).
    currency: str = Field(default="USD", pattern="^[A-Z]{3}$")
    # Plans are data: env PLAN_PRICES is JSON such as {"ticket": {"monthly": 2000, "annual": 20000}},
    # merged over the defaults plan by plan.
    plan_prices: dict[Plan, PlanPrice] = Field(default_factory=lambda: dict(DEFAULT_PLAN_PRICES))
    # R-PAY-9: a new price takes effect at least this many days after every affected owner's notice.
    price_notice_days: int = Field(default=30, ge=0)
    # R-PAY-13: billing details on the latest invoice can be corrected this long after its issue.
    correction_window_seconds: int = Field(default=15 * 24 * 3600, ge=0)
    # R-PAY-12: what a dispute opened at the payment provider does besides flagging the account
    # for staff and telling staff and the owner: "flag" nothing more, "suspend" also blocks the
    # account's access (as staff's suspension, reinstated by staff) until staff decide.
    dispute_policy: Literal["flag", "suspend"] = "flag"
    # A failed charge is retried after each of these many hours; after the last one the account
    # is payment_required. Env PAYMENT_RETRY_HOURS: "24,72,168".
    payment_retry_hours: tuple[int, ...] = (24, 72, 168)
    # The web client's origin (API.md "Browsers": http://localhost:5173 locally). R-PAY-12: a
    # billing-run charge that needed the card holder's authentication links the owner to its
    # billing page, {portal_base_url}/accounts/{account_id}/billing, to complete it on session.
    portal_base_url: str = Field(default="http://localhost:5173", pattern=r"^https?://[^/?#]+(/[^?#]*)?$")
    # The vendor's country (Quality Unit, s.r.o.) and the VAT rates invoices apply (basis points);
    # env VAT_RATES JSON is merged over the defaults.
    vendor_country: str = Field(default="SK", pattern="^[A-Z]{2}$")
    vat_rates: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_VAT_RATES))
    # R-PAY-14: who confirms a VAT ID before it is reverse-charged ("local": the stand-in that
    # confirms every ID it is asked about, API.md "VAT IDs and company numbers"; "vies": the EU's
    # VIES REST API in AWS, which needs ``vies_requester_vat_id``).
    vat_checker: Literal["local", "vies"] = "local"
    # The vendor's own VAT ID (e.g. "SK2020123456"), sent as the requester so VIES answers with a
    # consultation reference, the evidence of the check kept with each reverse-charged invoice.
    vies_requester_vat_id: str = Field(default="", pattern=r"^([A-Z]{2}[0-9A-Z+*]{2,13})?$")
    # One attempt per question, never retried: an unanswered VIES invoices as a consumer and
    # must not hold a request (or the billing run) for long. Seconds per connect or read.
    vies_timeout_seconds: float = Field(default=3.0, gt=0, le=10)
    # A confirmation justifies reverse charges this long after its check, then VIES is asked again:
    # one monthly billing period, so each monthly invoice rests on a check made within the period it
    # bills (a VAT ID can be deregistered at any time), and VIES is asked about once a month per customer.
    vies_confirmation_max_age_days: int = Field(default=30, ge=0)
    # R-CREDIT-1: prepaid credit lasts this many months at a constant seat count.
    credit_validity_months: int = Field(default=12, ge=1)
    # R-CREDIT-2: leaving early refunds this share of the remaining credit; the rest is the fee.
    credit_refund_percent: int = Field(default=50, ge=0, le=100)

    # ---- the end of accounts (R-TERM-3, R-TERM-6, R-GDPR-2)
    # R-TERM-6: days without activity before the warning, and before termination and purge.
    inactivity_warning_days: int = Field(default=28, ge=1)
    inactivity_termination_days: int = Field(default=56, ge=2)
    # Which accounts the inactivity rule covers: "unpaid" (any account without a paid
    # subscription in good standing), "all", or "none".
    inactivity_policy: Literal["unpaid", "all", "none"] = "unpaid"
    # R-GDPR-2: personal data of ended customers (from the end of use) and of non-customers
    # (from their consent) is erased after this many years.
    retention_years: int = Field(default=5, ge=1)
    # Accounting law: invoices and credit notes are kept this many years after their issue, past the
    # purge (R-TERM-3); their billing details are masked after the later of both periods (R-GDPR-2).
    invoice_retention_years: int = Field(default=10, ge=1)
    # Point-in-time recovery keeps backups this many days: after that no backup holds purged data.
    backup_retention_days: int = Field(default=35, ge=0)
    # The retry sweep retries an ephemeral notice (account_deleted, an erasure's completion) this
    # long, then deletes it unsent: an erasure does not keep the address waiting on the provider.
    purge_notice_retry_hours: int = Field(default=24, ge=0)

    # ---- data protection (R-GDPR-1, R-GDPR-3..10)
    # The HMAC keys of signed links (verification, export download, unsubscribe), by key id:
    # a JSON object {"<key id>": "<key>", ...}, or one plain key, whose id is "legacy" (the form
    # the stack generates). Links are signed with the key ``link_signing_key_id`` names and carry
    # its id; a link is verified with the key its id names, so after a rotation the links signed
    # before keep working while their key stays in the object (lifecycle.privacy.privacy).
    link_signing_secret: str = Field(default="local-link-signing-secret", min_length=16)
    link_signing_secret_arn: str = ""
    link_signing_key_id: str = Field(default="legacy", pattern=r"^[A-Za-z0-9_-]{1,32}$")
    # Keys the HMAC of person keys (the hash that finds a person's consent, request and
    # retention records) and, under a label of its own, the hashed IPs and emails of rate-limit
    # counters. Never rotated: a new value would orphan every record it keyed.
    person_key_secret: str = Field(default="local-person-key-secret", min_length=16)
    person_key_secret_arn: str = ""
    # Where links in emails point (verification, export download, unsubscribe): in production the
    # web client, which serves these API paths as pages that POST the token to the API (the
    # routes are POST-only so a mail scanner's GET verifies nothing); the local runtime sets its
    # own address, where a developer or a test POSTs them directly.
    public_base_url: str = "https://api.helpdesk.example"
    # R-GDPR-10: a data subject request is answered within this many days of its receipt.
    privacy_response_days: int = Field(default=30, ge=1)
    # The identity verification link in the privacy_request_verification notice lasts this long.
    privacy_verification_hours: int = Field(default=72, ge=1)
    # R-GDPR-3, R-GDPR-7: the export's download link lasts this long and works once.
    export_link_hours: int = Field(default=168, ge=1)
    # The version of the consent texts the signup and redemption forms show (R-GDPR-1).
    consent_text_version: str = "2019-09-01"
    # Exports are objects in this S3 bucket in AWS; the local runtime keeps them in this folder.
    exports_bucket: str = ""
    local_exports_path: str | None = None

    @field_validator("dynamodb_endpoint", "local_outbox_path", "local_exports_path", "identity_endpoint", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """The template declares these empty (so ``sam local invoke --env-vars`` may set them): unset."""
        return None if value == "" else value

    @field_validator("plan_prices", "vat_rates", mode="before")
    @classmethod
    def _merged_prices(cls, value: object, info: ValidationInfo) -> object:
        """JSON from the environment, merged over the defaults key by key."""
        parsed = json.loads(value) if isinstance(value, str) else value
        if not isinstance(parsed, dict):
            raise ValueError(f"{info.field_name} is a JSON object")
        if info.field_name == "plan_prices":
            return {**DEFAULT_PLAN_PRICES, **parsed}
        return {**DEFAULT_VAT_RATES, **parsed}

    @field_validator("payment_retry_hours", mode="before")
    @classmethod
    def _retry_hours(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(int(part) for part in value.split(",") if part.strip())
        return value

    @field_validator("usage_limits", mode="before")
    @classmethod
    def _usage_limits(cls, value: object) -> object:
        """JSON from the environment, merged over the defaults plan by plan."""
        parsed = json.loads(value) if isinstance(value, str) else value
        if not isinstance(parsed, dict):
            raise ValueError("usage_limits is a JSON object of plan -> limits")
        return {**DEFAULT_USAGE_LIMITS, **parsed}

    @field_validator("business_time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        local_time.zone(value)
        return value

    @field_validator("business_holidays", mode="before")
    @classmethod
    def _business_holidays(cls, value: object) -> object:
        """Comma-separated ISO dates from the environment; blanks are ignored."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values = {name: env[name.upper()] for name in cls.model_fields if name.upper() in env}
        return cls.model_validate(values)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()

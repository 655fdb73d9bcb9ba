"""Typed settings, parsed once from the environment the template sets.

Every number a rule names is a setting here with the Terms' default (RULES.md: "every
number in a rule is a setting"). Table names come from ``Globals`` in template.yaml.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    stage: str = "dev"
    region: str = "eu-central-1"
    # Set only where DynamoDB is not AWS's (DynamoDB Local for the local runtime and tests).
    dynamodb_endpoint: str | None = None

    accounts_table: str = "accounts"
    audit_table: str = "audit"
    campaigns_table: str = "campaigns"
    claims_table: str = "claims"
    idempotency_table: str = "idempotency"
    notifications_table: str = "notifications"
    rate_limits_table: str = "rate-limits"
    sessions_table: str = "sessions"
    terms_table: str = "terms"
    users_table: str = "users"
    vouchers_table: str = "vouchers"

    # R-TERMS-1: the terms version a signup accepts until staff publish a newer one.
    terms_version: str = "2019-09-01"
    # Notices go by SES in AWS; the local runtime sets LOCAL_OUTBOX_PATH and they go to that file.
    email_from: str = "notices@helpdesk.example"
    local_outbox_path: str | None = None
    # Sessions (device, IP, user agent) are network data: kept this long, then expired by TTL.
    session_retention_days: int = Field(default=90, ge=1)
    # Activity is written at most once per this many seconds per user (API.md "Activity").
    activity_write_interval_seconds: int = Field(default=60, ge=0)
    # R-REG-1: the minimum age, on the signup date in UTC.
    minimum_age_years: int = Field(default=18, ge=18)
    # R-REG-2: the human check ("local": the token "human" passes; "turnstile": Cloudflare's API).
    human_check_provider: Literal["local", "turnstile"] = "local"
    human_check_secret: str = ""
    # R-REG-2: fixed-window limits per IP and per email on the public signup routes.
    signup_limit_per_ip: int = Field(default=10, ge=1)
    signup_limit_per_email: int = Field(default=3, ge=1)
    signup_window_seconds: int = Field(default=3600, ge=1)
    # R-REG-3: refuse addresses at these domains (comma-separated) when set.
    disposable_email_domains: str = ""
    # Keys the HMAC that stores voucher codes, so a table dump reveals no redeemable code.
    voucher_pepper: str = Field(default="local-voucher-pepper", min_length=16)
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

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values = {name: env[name.upper()] for name in cls.model_fields if name.upper() in env}
        return cls.model_validate(values)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()

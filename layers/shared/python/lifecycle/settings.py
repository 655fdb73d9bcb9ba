"""Typed settings, parsed once from the environment the template sets.

Every number a rule names is a setting here with the Terms' default (RULES.md: "every
number in a rule is a setting"). Table names come from ``Globals`` in template.yaml.
"""

from __future__ import annotations

import os
from functools import lru_cache

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
    rate_limits_table: str = "rate-limits"
    users_table: str = "users"
    vouchers_table: str = "vouchers"

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

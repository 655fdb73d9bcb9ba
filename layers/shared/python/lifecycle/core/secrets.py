"""The service's secrets, read in one place.

In AWS each secret lives in Secrets Manager and the function's environment holds only its
ARN (``<setting>_arn``); the value is fetched on first use through Powertools Parameters and
cached for ``secrets_max_age_seconds``, so a rotated value is picked up within that long.
Without an ARN (the local runtime and tests, which have no Secrets Manager) the setting's own
value is the secret. Code reads a secret only through these functions, never the setting
itself (tests/infrastructure/test_template_secrets.py holds that, and which functions may read
which secret).
"""

from __future__ import annotations

from typing import Literal

from lifecycle.core import errors
from lifecycle.core.observability import logger
from lifecycle.core.settings import Settings

SecretSetting = Literal[
    "payment_provider_secret",
    "payment_webhook_secret",
    "human_check_secret",
    "voucher_pepper",
    "link_signing_secret",
    "person_key_secret",
]

# The shortest value each secret may have: the HMAC keys as their settings require; a
# provider's key only has to be there (its provider refuses a wrong one).
MIN_LENGTH: dict[SecretSetting, int] = {
    "payment_provider_secret": 1,
    "payment_webhook_secret": 1,
    "human_check_secret": 1,
    "voucher_pepper": 16,
    "link_signing_secret": 16,
    "person_key_secret": 16,
}


def payment_provider_secret(settings: Settings) -> str:
    """R-PAY-12: the payment provider's secret API key (empty locally: the local provider needs none)."""
    return _read("payment_provider_secret", settings)


def payment_webhook_secret(settings: Settings) -> str:
    """The key the payment provider signs its webhook events with."""
    return _read("payment_webhook_secret", settings)


def human_check_secret(settings: Settings) -> str:
    """R-REG-2: the CAPTCHA provider's secret key (empty locally: the local verifier needs none)."""
    return _read("human_check_secret", settings)


def voucher_pepper(settings: Settings) -> str:
    """The HMAC key of stored voucher codes."""
    return _read("voucher_pepper", settings)


def link_signing_secret(settings: Settings) -> str:
    """The HMAC keys of signed links by key id, as stored (R-GDPR-3, R-GDPR-9, R-GDPR-10):
    lifecycle.privacy.privacy parses them."""
    return _read("link_signing_secret", settings)


def person_key_secret(settings: Settings) -> str:
    """The HMAC key of person keys (R-GDPR-1..10) and of rate-limit counters' subjects (R-REG-2)."""
    return _read("person_key_secret", settings)


def arn_of(setting: SecretSetting, settings: Settings) -> str:
    arn: str = getattr(settings, f"{setting}_arn")
    return arn


def _read(setting: SecretSetting, settings: Settings) -> str:
    arn = arn_of(setting, settings)
    if not arn:
        local: str = getattr(settings, setting)
        return local
    # Imported on first use: only functions that read a secret pay for it, and only in AWS.
    from aws_lambda_powertools.utilities import parameters

    try:
        value = parameters.get_secret(arn, max_age=settings.secrets_max_age_seconds)
    except parameters.exceptions.GetParameterError as exc:
        # Logged by the setting's name and the error's code (AccessDeniedException: a missing
        # grant), never the value; the request changed nothing and may be retried.
        logger.warning("secret unreadable", extra={"secret": setting, "error": _error_code(exc)})
        raise errors.ServiceUnavailable("A secret the service needs could not be read; retry shortly") from exc
    if not isinstance(value, str) or len(value) < MIN_LENGTH[setting]:
        raise RuntimeError(f"the secret of {setting} must be text of at least {MIN_LENGTH[setting]} characters")
    return value


def _error_code(exc: Exception) -> str:
    """The AWS error code behind Powertools' GetParameterError (raised while handling it)."""
    cause = exc.__context__
    response = getattr(cause, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", "unknown"))
    return type(cause or exc).__name__

"""Secrets (lifecycle.core.secrets): the setting's own value locally, Secrets Manager in AWS.

The AWS path runs against moto's Secrets Manager: a secret is read by the ARN its
``<setting>_arn`` names, kept for ``secrets_max_age_seconds``, and a rotated value (a new
version, as ``put-secret-value`` or a deploy with a new parameter makes) is in use after that.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from lifecycle.billing.payments import StripeProvider, provider_for
from lifecycle.core import errors, secrets
from lifecycle.core.settings import Settings
from lifecycle.privacy import privacy
from lifecycle.registration.human_check import TurnstileVerifier, verifier_for
from lifecycle.vouchers.vouchers import code_hash

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "shared" / "python"
REGION = "eu-central-1"
# Each a value of its secret; none is a local default.
STORED = "sm-stored-value-0123456789abcdefghij"
ROTATED = "sm-rotated-value-9876543210zyxwvutsrq"


@pytest.fixture
def manager(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """moto's Secrets Manager, and Powertools' cache empty before and after (it is per process)."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    parameters.clear_caches()
    with mock_aws():
        yield boto3.client("secretsmanager", region_name=REGION)
    parameters.clear_caches()


def stored(client: object, value: str = STORED) -> str:
    arn: str = client.create_secret(Name=f"helpdesk-test/{time.monotonic_ns()}", SecretString=value)["ARN"]  # type: ignore[attr-defined]
    return arn


# ---------------------------------------------------------------- locally


@pytest.mark.parametrize("setting", list(secrets.MIN_LENGTH))
def test_without_an_arn_each_secret_is_its_settings_own_value(setting: secrets.SecretSetting) -> None:
    """The local runtime and the tests: no Secrets Manager, the settings' local values."""
    settings = Settings(**{setting: "a-local-value-of-16+"})
    assert getattr(secrets, setting)(settings) == "a-local-value-of-16+"


def test_the_local_defaults_are_the_documented_development_values() -> None:
    settings = Settings()
    assert secrets.voucher_pepper(settings) == "local-voucher-pepper"
    assert secrets.link_signing_secret(settings) == "local-link-signing-secret"
    assert secrets.person_key_secret(settings) == "local-person-key-secret"
    assert secrets.payment_provider_secret(settings) == secrets.human_check_secret(settings) == ""


def test_a_local_read_imports_no_secrets_manager_client() -> None:
    """Cold start: Powertools Parameters (and its boto3 client) load only where an ARN is read."""
    probe = (
        "import sys; from lifecycle.core import secrets; from lifecycle.core.settings import Settings; "
        "secrets.voucher_pepper(Settings()); print('\\n'.join(sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": str(LAYER)}
    # S603: this interpreter importing this repository's own modules.
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)  # noqa: S603
    assert "lifecycle.core.secrets" in done.stdout.split()
    assert "aws_lambda_powertools.utilities.parameters" not in done.stdout.split()


# ---------------------------------------------------------------- in AWS


@pytest.mark.parametrize("setting", list(secrets.MIN_LENGTH))
def test_with_an_arn_each_secret_is_read_from_secrets_manager(manager: object, setting: secrets.SecretSetting) -> None:
    """The ARN wins over the setting's value: in AWS the environment holds no value at all."""
    settings = Settings(**{setting: "a-local-value-of-16+", f"{setting}_arn": stored(manager)})
    assert getattr(secrets, setting)(settings) == STORED


def test_a_secret_is_kept_for_max_age_then_a_rotated_value_is_read(manager: object) -> None:
    arn = stored(manager)
    settings = Settings(voucher_pepper_arn=arn, secrets_max_age_seconds=1)
    assert secrets.voucher_pepper(settings) == STORED
    manager.put_secret_value(SecretId=arn, SecretString=ROTATED)  # type: ignore[attr-defined]
    assert secrets.voucher_pepper(settings) == STORED, "read again within max_age"
    time.sleep(1.1)
    assert secrets.voucher_pepper(settings) == ROTATED


def test_a_secret_is_read_once_while_it_is_kept(manager: object, monkeypatch: pytest.MonkeyPatch) -> None:
    arn = stored(manager)
    settings = Settings(link_signing_secret_arn=arn)  # the default max_age: 300 s
    calls: list[str] = []
    provider = parameters.SecretsProvider()
    original = provider._get

    def counted(name: str, **options: object) -> str | bytes:
        calls.append(name)
        return original(name, **options)

    monkeypatch.setattr(provider, "_get", counted)
    monkeypatch.setitem(parameters.base.DEFAULT_PROVIDERS, "secrets", provider)
    for _ in range(5):
        assert secrets.link_signing_secret(settings) == STORED
    assert calls == [arn]


def test_an_unreadable_secret_is_a_503_naming_no_value(manager: object, caplog: pytest.LogCaptureFixture) -> None:
    """An empty secret (a dev stack given no value) or a missing grant: retry later, nothing done."""
    empty = manager.create_secret(Name="helpdesk-test/empty")["ARN"]  # type: ignore[attr-defined]
    settings = Settings(payment_provider_secret_arn=empty)
    with caplog.at_level(logging.WARNING), pytest.raises(errors.ServiceUnavailable) as raised:
        secrets.payment_provider_secret(settings)
    assert raised.value.status == 503
    assert raised.value.headers["Retry-After"] == "1"
    (record,) = [record for record in caplog.records if record.getMessage() == "secret unreadable"]
    assert record.secret == "payment_provider_secret"  # type: ignore[attr-defined]
    assert record.error == "ResourceNotFoundException"  # type: ignore[attr-defined]


def test_a_secret_shorter_than_its_setting_allows_is_refused(manager: object) -> None:
    settings = Settings(voucher_pepper_arn=stored(manager, "too-short"))
    with pytest.raises(RuntimeError, match="voucher_pepper"):
        secrets.voucher_pepper(settings)


# ---------------------------------------------------------------- where the secrets are used


def test_r_pay_12_the_stripe_provider_gets_its_key_from_secrets_manager(manager: object) -> None:
    settings = Settings(payment_provider="stripe", payment_provider_secret_arn=stored(manager))
    stripe = provider_for(settings)
    assert isinstance(stripe, StripeProvider)
    assert stripe.secret_key == STORED
    assert STORED not in repr(stripe)


def test_r_reg_2_turnstile_gets_its_key_from_secrets_manager(manager: object) -> None:
    settings = Settings(human_check_provider="turnstile", human_check_secret_arn=stored(manager))
    verifier = verifier_for(settings)
    assert isinstance(verifier, TurnstileVerifier)
    assert verifier.secret == STORED


def test_r_gdpr_10_links_signed_with_the_stored_secret_verify_only_with_it(manager: object) -> None:
    now = datetime(2026, 11, 25, tzinfo=UTC)
    in_aws = Settings(link_signing_secret_arn=stored(manager))
    token = privacy.sign("verify", "dsr_1", now + timedelta(hours=1), in_aws)
    assert privacy.verify(token, "verify", now, in_aws) == "dsr_1"
    with pytest.raises(errors.DomainError):
        privacy.verify(token, "verify", now, Settings())  # the local secret is another key
    assert privacy.person_key("a@example.com", in_aws) == privacy.person_key("a@example.com", Settings())


def test_r_gdpr_1_person_keys_are_keyed_by_the_stored_person_key_secret(manager: object) -> None:
    in_aws = Settings(person_key_secret_arn=stored(manager))
    assert privacy.person_key("a@example.com", in_aws) == privacy.person_key(
        "a@example.com", Settings(person_key_secret=STORED)
    )
    assert privacy.person_key("a@example.com", in_aws) != privacy.person_key("a@example.com", Settings())


def test_voucher_codes_are_keyed_by_the_stored_pepper(manager: object) -> None:
    in_aws = Settings(voucher_pepper_arn=stored(manager))
    assert code_hash("ABCDEFGH2345", secrets.voucher_pepper(in_aws)) == code_hash("ABCDEFGH2345", STORED)
    assert code_hash("ABCDEFGH2345", STORED) != code_hash("ABCDEFGH2345", secrets.voucher_pepper(Settings()))


def test_the_arns_come_from_the_environment_the_template_sets() -> None:
    env = {f"{setting.upper()}_ARN": f"arn:aws:secretsmanager:{REGION}:123456789012:secret:{setting}-AbCdEf"
           for setting in secrets.MIN_LENGTH}  # fmt: skip
    settings = Settings.from_env(env)
    assert {setting: secrets.arn_of(setting, settings) for setting in secrets.MIN_LENGTH} == {
        setting: env[f"{setting.upper()}_ARN"] for setting in secrets.MIN_LENGTH
    }

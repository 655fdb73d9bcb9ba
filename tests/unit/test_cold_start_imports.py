"""Cold start: what a function's import must not pull in, checked in a fresh
interpreter as Lambda starts one. ``make bench-cold-start`` measures the time; these keep
the two largest savings from coming back unnoticed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "shared" / "python"
# Imported only to be patched by X-Ray's patch_all (lifecycle.core.observability.TRACED_MODULES),
# or only to describe the API (Powertools' OpenAPI models, scripts/openapi.py builds the document).
NOT_AT_COLD_START = ("requests", "sqlite3", "httpx", "aws_lambda_powertools.event_handler.openapi.models")


def _imported_after(code_uri: str, module: str) -> set[str]:
    probe = f"import sys, {module}; print('\\n'.join(sys.modules))"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / code_uri), str(LAYER)]),
        "AWS_LAMBDA_FUNCTION_NAME": "cold-start-probe",  # inside Lambda: the tracer is on
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_REGION": "eu-central-1",
        "AWS_DEFAULT_REGION": "eu-central-1",
        "POWERTOOLS_METRICS_NAMESPACE": "probe",
    }
    # S603: this interpreter importing this repository's own modules.
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)  # noqa: S603
    return set(done.stdout.split())


@pytest.mark.parametrize(("code_uri", "module"), [("functions/signup", "app"), ("functions/trial_sweep", "app")])
def test_a_functions_import_leaves_out_what_only_tracing_patches_or_the_api_description_need(
    code_uri: str, module: str
) -> None:
    loaded = _imported_after(code_uri, module)
    assert "lifecycle.core.observability" in loaded
    assert not [name for name in NOT_AT_COLD_START if name in loaded]


@pytest.mark.parametrize("code_uri", ["functions/cancellation", "functions/cancellation_sla_sweep"])
def test_r_term_2_the_holidays_package_is_imported_only_when_a_deadline_is_computed(code_uri: str) -> None:
    """``lifecycle.core.business_days`` imports it inside the function that reads a year's holidays."""
    assert "holidays" not in _imported_after(code_uri, "app")


def test_r_pay_14_the_billing_function_imports_python_stdnum_only_when_a_number_is_checked() -> None:
    # python-stdnum costs ~130 ms of a cold start (measured on this kind of machine); the billing function
    # imports billing_details and tax, which import it where a VAT ID or company number is checked.
    loaded = _imported_after("functions/billing", "app")
    assert "lifecycle.billing.billing_details" in loaded
    assert not [name for name in loaded if name == "stdnum" or name.startswith("stdnum.")]


# Imported where they are used (R-REG-3, R-GDPR-9): an email check, a one-click form.
ONLY_WHEN_USED = ("email_validator", "dns", "idna", "disposable_email_domains", "multipart")


@pytest.mark.parametrize(("code_uri", "module"), [("functions/signup", "app"), ("functions/privacy", "app")])
def test_r_reg_3_r_gdpr_9_email_and_form_libraries_wait_until_used(code_uri: str, module: str) -> None:
    loaded = _imported_after(code_uri, module)
    assert not [name for name in ONLY_WHEN_USED if name in loaded]


@pytest.mark.parametrize(
    "code_uri", ["functions/billing", "functions/credit", "functions/subscription", "functions/billing_run"]
)
def test_r_pay_12_the_stripe_sdk_is_imported_only_when_the_provider_is_called(code_uri: str) -> None:
    # ~0.4 s of a cold start (shared/TOOLING.md); lifecycle.billing.payments imports it in ``_client``.
    loaded = _imported_after(code_uri, "app")
    assert "lifecycle.billing.payments" in loaded
    assert not [name for name in loaded if name == "stripe" or name.startswith("stripe.")]

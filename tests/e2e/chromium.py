"""Debian's headless Chromium driven by Playwright, for the browser tests (shared/TOOLING.md).

Never ``playwright install``: the browser is the system's ``/usr/bin/chromium``. Without it the
tests fail in CI (``CI`` set: .ci/run installs it) and are skipped elsewhere, saying why.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")


def no_browser(reason: str) -> None:
    """CI must have the browser (.ci/run installs it): fail there, skip elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run the browser tests: .ci/run installs chromium as root)", pytrace=False)
    pytest.skip(f"{reason}; `apt-get install chromium` (as root) runs these tests")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        no_browser(f"no Chromium at {CHROMIUM}")
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError as missing:
        no_browser(f"Playwright is not installed ({missing}; requirements-dev.txt pins it)")
    playwright = sync_playwright().start()
    try:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
    except Error as error:
        playwright.stop()
        no_browser(f"Chromium at {CHROMIUM} does not start: {error}")
    try:
        yield launched
    finally:
        launched.close()
        playwright.stop()

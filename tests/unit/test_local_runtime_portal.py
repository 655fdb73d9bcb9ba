"""The local runtime's portal server (local_runtime/portal.py): web/ as files, config.json from
what the runtime started, a page link answered with the app, and the portal's origin allowed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

from local_runtime import portal
from local_runtime.identity import LocalIdentity
from local_runtime.template import Resolver, load
from tests.conftest import worker_port

IDENTITY = LocalIdentity("http://127.0.0.1:1111", "eu-central-1", "eu-central-1_pool", "client123")


@pytest.fixture
def served() -> Iterator[str]:
    web = portal.Portal(portal.PortalConfig("http://127.0.0.1:2222", IDENTITY))
    url = web.start("127.0.0.1", worker_port())
    try:
        yield url.replace("localhost", "127.0.0.1")
    finally:
        web.stop()


def test_config_json_names_the_api_the_identity_provider_and_the_stand_ins_test_cards(served: str) -> None:
    answer = requests.get(f"{served}/config.json", timeout=10)

    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    config = answer.json()
    assert config["api"] == "http://127.0.0.1:2222"
    assert config["identity"] == {"endpoint": IDENTITY.endpoint, "region": IDENTITY.region, "client_id": "client123"}
    assert config["payment"]["mode"] == "standin"
    assert [card["token"] for card in config["payment"]["test_cards"]] == [
        "tok_visa",
        "tok_threeDSecure2Required",
        "tok_chargeDeclined",
    ]
    assert requests.get(f"{served}/{config['terms_url']}", timeout=10).status_code == 200


def test_files_are_served_with_types_a_browser_runs_and_a_page_link_gets_the_app(served: str) -> None:
    script = requests.get(f"{served}/app.js", timeout=10)
    assert script.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert script.headers["X-Content-Type-Options"] == "nosniff"
    policy = dict(part.strip().split(" ", 1) for part in script.headers["Content-Security-Policy"].split(";"))
    assert policy["connect-src"] == f"'self' http://127.0.0.1:2222 {IDENTITY.endpoint}"
    assert policy["script-src"] == "'self'"
    terms = requests.get(f"{served}/{portal.TERMS_PATH}", timeout=10)
    assert terms.headers["Content-Type"] == "text/plain; charset=utf-8"

    # R-PAY-12's link to the billing page (PortalBaseUrl/accounts/{id}/billing) opens the app.
    linked = requests.get(f"{served}/accounts/acc_1/billing", timeout=10)
    assert linked.status_code == 200
    assert '<script type="module" src="/app.js">' in linked.text
    assert requests.get(f"{served}/missing.js", timeout=10).status_code == 404


def test_a_portal_on_another_port_is_allowed_and_linked_to() -> None:
    from local_runtime.__main__ import local_parameters

    parameters = local_parameters([], 20004)
    allowed = Resolver(load(), parameters=parameters).parameter_value("CorsAllowedOrigins")

    assert {"http://localhost:20004", "http://127.0.0.1:20004", "http://localhost:5173"} <= set(allowed)
    assert parameters["PortalBaseUrl"] == "http://localhost:20004"
    assert local_parameters([], portal.DEFAULT_PORT) == local_parameters([]) == Resolver(load()).parameters
    assert local_parameters([], 0) == Resolver(load()).parameters


def test_make_run_prints_the_portals_address(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from local_runtime.__main__ import _announce

    dynamodb = SimpleNamespace(endpoint="http://127.0.0.1:1", data_dir=None)
    payments = SimpleNamespace(url="http://127.0.0.1:2", state_path=None, webhook_url=None)

    _announce("127.0.0.1", 3000, dynamodb, payments, IDENTITY, [], tmp_path / "dead.jsonl", portal.url(5173))  # type: ignore[arg-type]

    lines = capsys.readouterr().out.splitlines()
    (line,) = [line for line in lines if line.startswith("Portal ")]
    assert line.split()[1] == "http://localhost:5173"

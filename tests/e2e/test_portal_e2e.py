"""The owner's portal (web/) in a real browser, served by the runtime on its own origin.

Headless Chromium (tests/e2e/chromium.py) opens the portal the runtime serves (``--portal-port``),
which reads its ``config.json``, signs in at the local identity provider and calls the API
across origins, as in AWS. Every page the journeys visit is checked by axe-core
(``axe-playwright-python`` ships it: nothing is downloaded) for serious or critical violations.
Screenshots go to .local/artifacts/portal/ (git-ignored).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from local_runtime.template import ROOT
from tests.e2e.conftest import Runtime, set_clock
from tests.route_examples import billing_details, registrant

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ARTIFACTS = ROOT / ".local" / "artifacts" / "portal"
PASSWORD = "correct horse battery staple"  # a test person's
TIMEOUT_MS = 30_000
SERIOUS = ("serious", "critical")


@pytest.fixture
def page(browser: Any, runtime: Runtime, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser context (no stored session or language) on the portal, in English; its
    last state is screenshotted as ``last-<test>.png`` (what a failure left on screen)."""
    context = browser.new_context(locale="en-GB")
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    # The runtime serves the portal with the template's Content-Security-Policy: a violation is a failure.
    opened.on(
        "console",
        lambda message: errors.append(message.text) if "Content Security Policy" in message.text else None,
    )
    opened.goto(runtime.portal_url + "/")
    opened.wait_for_selector("body[data-ready=true]")
    try:
        yield opened
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        opened.screenshot(path=str(ARTIFACTS / f"last-{request.node.name}.png"), full_page=True)
        context.close()
    assert errors == [], errors


def _shown(page: Any, name: str) -> None:
    """The page is rendered: screenshot it as ``name`` and check it with axe-core."""
    from axe_playwright_python.sync_playwright import Axe

    page.wait_for_selector("main:not([aria-busy])")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    results = Axe().run(page)
    serious = [v for v in results.response["violations"] if v["impact"] in SERIOUS]
    assert serious == [], "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}" for v in serious
    )


def _go(page: Any, name: str) -> None:
    """Opens #/``name`` (``invoice/<id>``: the invoice page of that one) and waits for it."""
    page.goto(f"{page.url.split('#')[0]}#/{name}")
    page.wait_for_selector(f'main[data-page="{name.split("/")[0]}"]:not([aria-busy])')


def _flashed(page: Any, text: str) -> None:
    """The message above the page says ``text``, and the page under it is rendered. (Selectors,
    not wait_for_function: the portal's CSP refuses the string evaluation that would need.)"""
    page.locator("#flash", has_text=text).wait_for()
    page.wait_for_selector("main:not([aria-busy])")


def _heading(page: Any) -> str:
    return str(page.text_content("main h1")).strip()


def _focused_is_heading(page: Any) -> bool:
    return bool(page.evaluate("document.activeElement === document.querySelector('main h1')"))


def _sign_up(page: Any, tag: str, *, password: str = PASSWORD, accept: bool = True) -> str:
    email = f"{tag}@example.com"
    _go(page, "signup")
    page.select_option("#signup-form [name=plan]", "ticket")
    page.select_option("#signup-form [name=billing_period]", "monthly")
    page.fill("#signup-form [name=full_name]", "Maria Ivanova")
    page.fill("#signup-form [name=email]", email)
    page.fill("#signup-form [name=birth_date]", "1990-05-17")
    page.fill("#signup-form [name=company_name]", f"Company {tag}")
    page.fill("#signup-form [name=password]", password)
    page.set_checked("#signup-form [name=accept_terms]", accept)
    page.check("#signup-form [name=authority_to_bind]")
    page.click("#signup-form button[type=submit]")
    return email


def _sign_in(page: Any, email: str, password: str = PASSWORD) -> None:
    _go(page, "signin")
    page.fill("#sign-in-form [name=email]", email)
    page.fill("#sign-in-form [name=password]", password)
    page.click("#sign-in-form button[type=submit]")
    page.wait_for_selector('main[data-page="account"] #account-facts')


def _eventually(check: Callable[[], bool], seconds: float = 15.0) -> bool:
    """Polls ``check`` (notices are delivered asynchronously)."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.3)
    return True


def _account_of(runtime: Runtime, email: str) -> dict[str, Any] | None:
    """The account whose owner has ``email``, through staff's view of the outbox (the welcome notice)."""
    for notice in runtime.get("/_local/outbox").json()["items"]:
        if notice["to"] == email and notice["type"] == "welcome":
            token = runtime.token("staff-1", None, "staff")
            found: dict[str, Any] = runtime.get(f"/accounts/{notice['account_id']}", token=token).json()
            return found
    return None


def test_the_portal_is_served_on_its_own_origin_with_its_config(runtime: Runtime, page: Any) -> None:
    config = page.evaluate("fetch('/config.json').then(r => r.json())")
    identity = runtime.get("/_local/identity").json()

    assert config["api"] == runtime.url
    assert config["identity"] == {k: identity[k] for k in ("endpoint", "region", "client_id")}
    assert config["payment"]["mode"] == "standin"
    assert page.url.startswith(runtime.portal_url)
    assert _heading(page) == "Sign in"
    _shown(page, "signin")


def test_r_reg_a_trial_owner_signs_up_in_the_portal_signs_in_and_sees_their_account(
    runtime: Runtime, page: Any
) -> None:
    tag = f"portal-{uuid.uuid4().hex[:10]}"

    # R-TERMS-2: the Terms unticked is refused next to the checkbox, and nothing is made.
    email = _sign_up(page, tag, accept=False)
    page.wait_for_selector("#signup-form .form-error:not([hidden])")
    assert "accept the Terms" in str(page.text_content("#signup-form .form-error"))
    assert page.get_attribute("#signup-form [name=accept_terms]", "aria-invalid") == "true"
    _shown(page, "signup-refused")
    assert _account_of(runtime, email) is None

    page.check("#signup-form [name=accept_terms]")
    page.click("#signup-form button[type=submit]")
    page.wait_for_selector('main[data-page="signin"]')
    assert email in str(page.text_content("#flash"))
    assert page.input_value("#sign-in-form [name=email]") == email
    assert _focused_is_heading(page)

    page.fill("#sign-in-form [name=password]", PASSWORD)
    page.click("#sign-in-form button[type=submit]")
    page.wait_for_selector('main[data-page="account"] #account-facts')
    assert _focused_is_heading(page)
    account = _account_of(runtime, email)
    assert account is not None
    assert page.text_content("#account-status") == "Free trial"
    assert page.text_content("#account-plan") == "Ticket"
    assert page.text_content("#account-access") == "Full access"
    seats = account["seats"]
    assert page.text_content("#account-seats") == (
        f"{seats['included']} included, {seats['used']} used, {seats['extra']} extra"
    )
    assert page.text_content("#account-trial-ends")
    _shown(page, "account")

    # The welcome notice is listed (delivered asynchronously: polled by reloading the page).
    def welcome_listed() -> bool:
        page.reload()
        page.wait_for_selector('main[data-page="account"]:not([aria-busy])')
        return page.locator('#notices li[data-type="welcome"]').count() == 1

    assert _eventually(welcome_listed)

    # Sign out: the tokens are forgotten and revoked; the account page needs signing in again.
    page.click("#sign-out")
    page.wait_for_selector('main[data-page="signin"]')
    assert page.text_content("#flash") == "You are signed out."
    _go(page, "signin")
    page.goto(page.url.split("#")[0] + "#/account")
    page.wait_for_selector('main[data-page="signin"]')
    assert page.text_content("#flash") == "Please sign in first."


def test_adding_a_user_beyond_the_included_seats_shows_its_monthly_price_before_it_is_added(
    runtime: Runtime, page: Any
) -> None:
    tag = f"portal-seats-{uuid.uuid4().hex[:10]}"
    email = _sign_up(page, tag)
    page.wait_for_selector('main[data-page="signin"]')
    _sign_in(page, email)
    account = _account_of(runtime, email)
    assert account is not None
    owner = runtime.token(account["owner_id"], account["id"], "owner")
    free = account["seats"]["included"] - account["seats"]["used"]

    _go(page, "users")
    _shown(page, "users")
    for number in range(free):
        page.fill("#add-user-form [name=full_name]", "Ivan Included")
        page.fill("#add-user-form [name=email]", f"{tag}-in{number}@example.com")
        page.click("#add-user-form button[type=submit]")
        page.wait_for_selector(f'tr[data-user="{tag}-in{number}@example.com"]')

    extra = f"{tag}-extra@example.com"
    page.fill("#add-user-form [name=full_name]", "Petar Extra")
    page.fill("#add-user-form [name=email]", extra)
    page.select_option("#add-user-form [name=role]", "admin")
    page.click("#add-user-form button[type=submit]")
    page.wait_for_selector("#seat-warning:not([hidden])")
    price = runtime.get(f"/accounts/{account['id']}/credit", token=owner).json()["seat_price"]
    shown_price = f"US${price['amount'] // 100}.00"
    assert shown_price in str(page.text_content("#seat-warning"))
    assert shown_price in str(page.text_content("#add-user-form button[type=submit]"))
    _shown(page, "users-extra-seat-warning")
    listed = runtime.get(f"/accounts/{account['id']}/users", token=owner).json()["items"]
    assert extra not in [user["email"] for user in listed]  # not before it is confirmed

    page.click("#add-user-form button[type=submit]")
    page.wait_for_selector(f'tr[data-user="{extra}"]')
    assert "Extra (billed)" in str(page.text_content(f'tr[data-user="{extra}"]'))
    assert "extra, billed seat" in str(page.text_content("#flash"))
    listed = runtime.get(f"/accounts/{account['id']}/users", token=owner).json()["items"]
    (added,) = [user for user in listed if user["email"] == extra]
    assert (added["role"], added["billable"]) == ("admin", True)

    page.click(f'[data-remove="{extra}"]')
    page.click(f'[data-confirm-remove="{extra}"]')
    page.wait_for_selector(f'tr[data-user="{extra}"]', state="detached")
    listed = runtime.get(f"/accounts/{account['id']}/users", token=owner).json()["items"]
    assert extra not in [user["email"] for user in listed]


def test_r_vouch_1_a_voucher_owner_redeems_a_code_in_the_portal_and_sees_a_lifetime_account(
    runtime: Runtime, page: Any
) -> None:
    campaign = runtime.create_campaign("portal", plan="all-inclusive", included_seats=2)
    staff = runtime.token("staff-1", None, "staff")
    codes = runtime.post(f"/admin/campaigns/{campaign}/codes", json={"count": 1}, token=staff).json()["codes"]
    tag = f"portal-voucher-{uuid.uuid4().hex[:10]}"
    email = f"{tag}@example.com"

    _go(page, "redeem")
    _shown(page, "redeem")
    page.fill("#redeem-form [name=code]", "NOPE-NOPE-NOPE-NOPE")
    page.fill("#redeem-form [name=full_name]", "Yasen Petrov")
    page.fill("#redeem-form [name=email]", email)
    page.fill("#redeem-form [name=birth_date]", "1985-01-02")
    page.fill("#redeem-form [name=company_name]", f"Yasen {tag}")
    page.fill("#redeem-form [name=password]", PASSWORD)
    page.check("#redeem-form [name=accept_terms]")
    page.check("#redeem-form [name=authority_to_bind]")
    page.click("#redeem-form button[type=submit]")
    code_error = '#redeem-form [data-field="code"] .field-error:not([hidden])'
    page.wait_for_selector(code_error)
    assert page.text_content(code_error) == "This code does not exist. Check it and try again."

    page.fill("#redeem-form [name=code]", codes[0])
    page.click("#redeem-form button[type=submit]")
    page.wait_for_selector('main[data-page="signin"]')
    _sign_in(page, email)

    assert page.text_content("#account-status") == "Active"
    assert page.text_content("#account-plan") == "All-inclusive"
    assert page.text_content("#account-period") == "Lifetime (voucher)"
    assert campaign in str(page.text_content("#account-voucher"))
    assert page.locator("#apply-code-form").count() == 0  # a voucher account takes no other code
    _shown(page, "voucher-account")
    account = _account_of(runtime, email)
    assert account is not None
    owner = runtime.token(account["owner_id"], account["id"], "owner")

    # R-VOUCH-5..7: the owner and one more are included; the third user is an extra seat at the
    # extra seat's monthly price, shown before it is added; the owner is warned by a notice.
    _go(page, "users")
    page.fill("#add-user-form [name=full_name]", "Ivan Included")
    page.fill("#add-user-form [name=email]", f"{tag}-included@example.com")
    page.click("#add-user-form button[type=submit]")
    page.wait_for_selector(f'tr[data-user="{tag}-included@example.com"]')
    assert page.locator("#seat-warning:not([hidden])").count() == 0
    page.fill("#add-user-form [name=full_name]", "Petar Extra")
    page.fill("#add-user-form [name=email]", f"{tag}-extra@example.com")
    page.click("#add-user-form button[type=submit]")
    page.wait_for_selector("#seat-warning:not([hidden])")
    seat_price = runtime.get(f"/accounts/{account['id']}/credit", token=owner).json()["seat_price"]
    assert f"US${seat_price['amount'] / 100:,.2f}" in str(page.text_content("#seat-warning"))
    page.click("#add-user-form button[type=submit]")
    page.wait_for_selector(f'tr[data-user="{tag}-extra@example.com"]')
    assert "Extra (billed)" in str(page.text_content(f'tr[data-user="{tag}-extra@example.com"]'))

    def warned() -> bool:
        page.reload()
        page.wait_for_selector('main[data-page="users"]:not([aria-busy])')
        _go(page, "account")
        return page.locator('#notices li[data-type="extra_seat_warning"]').count() == 1

    assert _eventually(warned)

    # Its billing details (R-VOUCH-8), and the plan page says the deal's plan is for life.
    _go(page, "billing")
    _fill_details(page, "#billing-details-form", "BG175074752")
    page.click("#billing-details-form button[type=submit]")
    _flashed(page, "billing details are saved")
    _go(page, "plan")
    assert page.text_content("#plan-now") == "Your voucher gives All-inclusive for life; its plan does not change."


def test_the_bulgarian_texts_of_the_main_pages_and_the_choice_is_remembered(runtime: Runtime, page: Any) -> None:
    page.click('[data-language="bg"]')
    page.wait_for_selector('html[lang="bg"]')
    assert _heading(page) == "Вход"
    assert page.text_content("#skip-link") == "Към съдържанието"
    _shown(page, "bg-signin")

    _go(page, "signup")
    assert _heading(page) == "Безплатен тест период"
    assert "Общите условия" in str(page.text_content("#signup-form"))
    assert "Имам пълномощията да обвържа фирмата си" in str(page.text_content("#signup-form"))
    _shown(page, "bg-signup")

    email = _sign_up(page, f"portal-bg-{uuid.uuid4().hex[:10]}")
    page.wait_for_selector('main[data-page="signin"]')
    assert "Акаунтът Ви" in str(page.text_content("#flash"))
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    assert page.get_attribute("html", "lang") == "bg"  # remembered
    _sign_in(page, email)
    assert _heading(page) == "Моят профил"
    assert page.text_content("#account-status") == "Безплатен тест период"
    assert "включени" in str(page.text_content("#account-seats"))
    # Dates in Bulgarian (Intl, bg-BG): the year is followed by its abbreviation, "2026 g." in Cyrillic.
    assert " г. " in str(page.text_content("#account-trial-ends"))  # noqa: RUF001 - Cyrillic on purpose
    _shown(page, "bg-account")

    _go(page, "users")
    assert _heading(page) == "Потребители"
    _shown(page, "bg-users")


def test_both_languages_have_every_text(page: Any) -> None:
    missing = page.evaluate(
        """Promise.all([import('/i18n/en.js'), import('/i18n/bg.js')]).then(([en, bg]) => {
             const a = Object.keys(en.default), b = Object.keys(bg.default);
             return {bg: a.filter(k => !b.includes(k)), en: b.filter(k => !a.includes(k))};
           })"""
    )
    assert missing == {"bg": [], "en": []}


def test_a_password_reset_at_the_identity_provider_lets_the_owner_sign_in_with_the_new_one(
    runtime: Runtime, page: Any
) -> None:
    email = _sign_up(page, f"portal-reset-{uuid.uuid4().hex[:10]}")
    page.wait_for_selector('main[data-page="signin"]')
    _go(page, "reset")
    _shown(page, "reset")
    page.fill("#reset-ask-form [name=email]", email)
    page.click("#reset-ask-form button[type=submit]")
    page.wait_for_selector("#reset-confirm-form:not([hidden])")
    # moto's ForgotPassword sends no email: its ConfirmForgotPassword takes any code.
    page.fill("#reset-confirm-form [name=code]", "123456")
    page.fill("#reset-confirm-form [name=password]", "a brand new passphrase")
    page.click("#reset-confirm-form button[type=submit]")
    page.wait_for_selector('main[data-page="signin"]')
    assert page.text_content("#flash") == "Your password is changed. Sign in with it."

    page.fill("#sign-in-form [name=password]", PASSWORD)
    page.click("#sign-in-form button[type=submit]")
    page.wait_for_selector("#sign-in-form .form-error:not([hidden])")
    assert page.text_content("#sign-in-form .form-error") == "The email address or the password is wrong."
    _sign_in(page, email, "a brand new passphrase")


def test_the_keyboard_reaches_the_content_through_the_skip_link(page: Any) -> None:
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "skip-link"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"


def test_r_pay_12_a_blocked_owner_follows_the_notices_link_to_the_billing_page_and_pays_on_session(
    runtime: Runtime, page: Any, real_time: None
) -> None:
    """A renewal on a card needing authentication blocks the account at once (payment_required,
    sign-in kept) and the notice links the portal's billing page: opened signed out, it asks to
    sign in and then opens that page; the account page says why access is blocked; a card given
    there, on session, pays and access returns."""
    start = datetime.now(UTC).replace(microsecond=0)
    set_clock(runtime, start)
    account, email, owner = _paying_owner(runtime, "portal-blocked")
    needs = {"type": "card", "token": "tok_threeDSecure2Required"}
    assert runtime.put(f"/accounts/{account['id']}/payment-method", json=needs, token=owner).status_code == 200
    set_clock(runtime, start + timedelta(days=32))  # the renewal is due, off session
    assert runtime.post("/_local/schedules/billing-run", json={}).status_code == 200
    assert runtime.get(f"/accounts/{account['id']}", token=owner).json()["access"] == "payment_required"
    (notice,) = [
        n
        for n in runtime.get("/_local/outbox").json()["items"]
        if n["account_id"] == account["id"] and n["type"] == "payment_action_required"
    ]
    link = f"{runtime.portal_url}/accounts/{account['id']}/billing"
    assert link in notice["body"]

    page.goto(link)
    page.wait_for_selector('main[data-page="signin"]')
    assert page.text_content("#flash") == "Please sign in first."
    assert "/accounts/" not in page.url
    page.fill("#sign-in-form [name=email]", email)
    page.fill("#sign-in-form [name=password]", PASSWORD)
    page.click("#sign-in-form button[type=submit]")
    page.wait_for_selector('main[data-page="billing"] #card-form')

    _go(page, "account")
    assert page.text_content("#blocked") == "Blocked: a payment is due; update your card to continue"
    assert page.text_content("#account-status") == "Payment required"
    _shown(page, "account-blocked")

    _go(page, "billing")
    page.check("#card-tok_visa")
    page.click("#card-form button[type=submit]")
    saved_or_refused = page.wait_for_selector(
        '#flash:has-text("The card is saved"), #card-form .form-error:not([hidden])'
    )
    if saved_or_refused.get_attribute("id") != "flash":
        # 409 conflict (the account changed between the service's read and its write): the owner
        # tries again, as the message says; answered, the retry is a new attempt with a new key.
        assert saved_or_refused.text_content() == "Something changed meanwhile; please try again."
        page.click("#card-form button[type=submit]")
    _flashed(page, "The card is saved")
    seen = runtime.get(f"/accounts/{account['id']}", token=owner).json()
    assert (seen["status"], seen["access"]) == ("active", "full")


def _fill_details(page: Any, form: str, vat_id: str) -> None:
    page.fill(f"{form} [name=first_name]", "Maria")
    page.fill(f"{form} [name=last_name]", "Ivanova")
    page.fill(f"{form} [name=email]", "billing@example.com")
    page.fill(f"{form} [name=company]", "Example Ltd")
    page.fill(f'{form} [name="address.street"]', "1 Vitosha Blvd")
    page.fill(f'{form} [name="address.city"]', "Sofia")
    page.fill(f'{form} [name="address.postal_code"]', "1000")
    page.select_option(f'{form} [name="address.country"]', "BG")
    page.fill(f"{form} [name=vat_id]", vat_id)
    page.fill(f"{form} [name=company_registration]", "175074752")


def test_r_pay_12_a_trial_owners_whole_journey_in_the_portal(runtime: Runtime, page: Any) -> None:
    """Sign up → sign in → a user past the included seats → billing details with a wrong then a
    right VAT ID → a card needing authentication → the invoice → an upgrade previewed first →
    stop the account → signed out, and sign-in refused."""
    tag = f"portal-journey-{uuid.uuid4().hex[:10]}"
    email = _sign_up(page, tag)
    page.wait_for_selector('main[data-page="signin"]')
    _sign_in(page, email)
    account = _account_of(runtime, email)
    assert account is not None
    owner = runtime.token(account["owner_id"], account["id"], "owner")

    # A user past the included seats, its price shown before it is added.
    _go(page, "users")
    free = account["seats"]["included"] - account["seats"]["used"]
    for number in range(free + 1):
        page.fill("#add-user-form [name=full_name]", f"Petar {'Georgiev' if number else 'Dimitrov'}")
        page.fill("#add-user-form [name=email]", f"{tag}-agent{number}@example.com")
        page.click("#add-user-form button[type=submit]")
        if number == free:
            page.wait_for_selector("#seat-warning:not([hidden])")
            page.click("#add-user-form button[type=submit]")
        page.wait_for_selector(f'tr[data-user="{tag}-agent{number}@example.com"]')
    assert page.locator("text=Extra (billed)").count() == 1

    # R-PAY-14: a VAT ID with wrong check digits is refused next to its field; nothing is saved.
    _go(page, "billing")
    _shown(page, "billing")
    assert page.locator("#card-form").count() == 0  # no card before the details
    _fill_details(page, "#billing-details-form", "BG175074753")
    page.click("#billing-details-form button[type=submit]")
    vat_error = '#billing-details-form [data-field="vat_id"] .field-error:not([hidden])'
    page.wait_for_selector(vat_error)
    assert page.text_content(vat_error) == "This VAT ID is not valid."
    assert page.get_attribute("#billing-details-form [name=vat_id]", "aria-invalid") == "true"
    _shown(page, "billing-wrong-vat-id")
    assert runtime.get(f"/accounts/{account['id']}/billing-details", token=owner).status_code == 404

    page.fill("#billing-details-form [name=vat_id]", "BG 175 074 752")
    page.click("#billing-details-form button[type=submit]")
    page.wait_for_selector("#card-form")
    assert "billing details are saved" in str(page.text_content("#flash"))
    saved = runtime.get(f"/accounts/{account['id']}/billing-details", token=owner).json()
    assert saved["vat_id"] == "BG175074752"

    # R-PAY-12: the card needs the holder's authentication at the bank's page, then it pays once.
    page.check("#card-tok_threeDSecure2Required")
    page.click("#card-form button[type=submit]")
    page.wait_for_selector("#card-authentication:not([hidden])")
    _shown(page, "card-authentication")
    assert runtime.get(f"/accounts/{account['id']}", token=owner).json()["status"] == "trialing"
    with page.context.expect_page() as opened:
        page.click("#authentication-link")
    bank = opened.value
    bank.wait_for_load_state()
    bank.click("text=Complete authentication")
    bank.wait_for_selector("#outcome")
    assert "Authentication completed" in str(bank.text_content("#outcome"))
    bank.close()
    page.click("#finish-authentication")
    page.wait_for_selector('main[data-page="billing"] #billing-details-form')
    # Saved; charged once, by the retry or by the provider's webhook, whichever came first.
    _flashed(page, "The card is saved")
    invoices = lambda: runtime.get(f"/accounts/{account['id']}/invoices", token=owner).json()["items"]  # noqa: E731
    assert _eventually(lambda: len(invoices()) == 1)
    (invoice,) = invoices()
    assert runtime.get(f"/accounts/{account['id']}", token=owner).json()["status"] == "active"

    # The invoice: listed, shown with its lines, printable, correctable within its window.
    _go(page, "invoices")
    _shown(page, "invoices")
    page.click(f'tr[data-invoice="{invoice["number"]}"] a')
    page.wait_for_selector('main[data-page="invoice"] #invoice-lines')
    assert page.text_content("#invoice-total") == f"US${invoice['total']['amount'] / 100:,.2f}"
    assert "Example Ltd" in str(page.text_content("#invoice-to"))
    assert page.locator("#correction-form").count() == 1
    page.emulate_media(media="print")
    assert not page.is_visible("#print")
    assert not page.is_visible("#nav")
    assert page.is_visible("#invoice-lines")
    page.emulate_media(media="screen")
    _shown(page, "invoice")

    # R-PAY-6: an upgrade on monthly billing, previewed before it is confirmed.
    _go(page, "plan")
    page.select_option("#plan-form [name=plan]", "all-inclusive")
    page.click("#plan-form button[type=submit]")
    page.wait_for_selector("#plan-preview:not([hidden])")
    preview = runtime.post(
        f"/accounts/{account['id']}/subscription/preview", json={"plan": "all-inclusive"}, token=owner
    ).json()
    assert f"US${preview['amount_due_now']['amount'] / 100:,.2f}" in str(page.text_content("#due-now"))
    assert f"US${preview['next_invoice']['total']['amount'] / 100:,.2f}" in str(page.text_content("#next-invoice"))
    assert not page.is_visible("#downgrade-confirmation")  # an upgrade loses nothing
    _shown(page, "plan-preview")
    assert runtime.get(f"/accounts/{account['id']}", token=owner).json()["plan"] == "ticket"  # not yet
    page.click("#plan-form button[type=submit]")
    _flashed(page, "The plan is changed")
    assert runtime.get(f"/accounts/{account['id']}", token=owner).json()["plan"] == "all-inclusive"

    # R-TERM-1: stop the account, what it deletes spelled out; then signed out and refused.
    _go(page, "stop")
    consequences = str(page.text_content("#stop-consequences"))
    users = runtime.get(f"/accounts/{account['id']}/users", token=owner).json()["items"]
    assert f"Every user (now {len(users)})" in consequences
    assert "Invoices and credit notes (now 1) are kept" in consequences
    _shown(page, "stop")
    page.fill("#stop-form [name=confirm]", "not-the-address")
    page.click("#stop-form button[type=submit]")
    page.wait_for_selector('#stop-form [data-field="confirm"] .field-error:not([hidden])')
    assert runtime.get(f"/accounts/{account['id']}", token=owner).json()["status"] == "active"
    page.fill("#stop-form [name=confirm]", account["subdomain"])
    page.click("#stop-form button[type=submit]")
    page.wait_for_selector('main[data-page="signin"]')
    assert page.text_content("#flash") == "Your account is stopped. You are signed out."
    assert page.locator("#sign-out").count() == 0
    assert runtime.get(f"/accounts/{account['id']}", token=owner).json()["status"] == "cancelled"

    page.fill("#sign-in-form [name=email]", email)
    page.fill("#sign-in-form [name=password]", PASSWORD)
    page.click("#sign-in-form button[type=submit]")
    page.wait_for_selector("#sign-in-form .form-error:not([hidden])")
    assert "Sign-in has ended" in str(page.text_content("#sign-in-form .form-error"))


def _paying_owner(runtime: Runtime, prefix: str, **signup: Any) -> tuple[dict[str, Any], str, str]:
    """A subscription its card paid for (through the API), whose owner signs in with PASSWORD:
    the account, the owner's email and an owner token."""
    tag = f"{prefix}-{uuid.uuid4().hex[:10]}"
    body = {**registrant(tag, plan="ticket", billing_period="monthly", password=PASSWORD), **signup}
    answer = runtime.post("/signups", json=body)
    assert answer.status_code == 201, answer.text
    account = answer.json()
    owner = runtime.token(account["owner_id"], account["id"], "owner")
    given = runtime.put(f"/accounts/{account['id']}/billing-details", json=billing_details(tag), token=owner)
    assert given.status_code == 200, given.text
    paid = runtime.put(
        f"/accounts/{account['id']}/payment-method", json={"type": "card", "token": "tok_visa"}, token=owner
    )
    assert paid.status_code == 200, paid.text
    return account, f"{tag}@example.com", owner


def test_r_pay_13_an_invoice_is_corrected_in_the_portal_within_its_window(runtime: Runtime, page: Any) -> None:
    account, email, owner = _paying_owner(runtime, "portal-correct")
    (invoice,) = runtime.get(f"/accounts/{account['id']}/invoices", token=owner).json()["items"]
    _sign_in(page, email)
    _go(page, "billing")  # the card paid with, as the API shows it (R-PAY-12: never its number)
    assert page.text_content("#current-card") == "Current card: VISA ending 4242, expires 12/34. A new one replaces it."

    _go(page, f"invoice/{invoice['id']}")
    page.fill("#correction-form [name=company]", "Yasen Holding OOD")
    page.click("#correction-form button[type=submit]")
    _flashed(page, "is reissued")

    items = runtime.get(f"/accounts/{account['id']}/invoices", token=owner).json()["items"]
    reissued, credit_note = (
        next(i for i in items if i["kind"] == kind and i["id"] != invoice["id"]) for kind in ("invoice", "credit_note")
    )
    assert credit_note["corrects"] == invoice["id"]
    assert credit_note["number"] in str(page.text_content("#flash"))
    page.wait_for_selector(f'main[data-page="invoice"] h1:has-text("{reissued["number"]}")')
    assert "Yasen Holding OOD" in str(page.text_content("#invoice-to"))
    _go(page, "invoices")
    assert page.locator("#invoices tbody tr").count() == 3
    assert page.locator('#invoices td:has-text("Credit note")').count() == 1


def test_r_pay_8_a_downgrade_lists_what_it_loses_and_needs_the_owners_confirmation(runtime: Runtime, page: Any) -> None:
    account, email, owner = _paying_owner(runtime, "portal-downgrade", plan="all-inclusive")
    _sign_in(page, email)

    _go(page, "plan")
    page.select_option("#plan-form [name=plan]", "ticket")
    page.click("#plan-form button[type=submit]")
    page.wait_for_selector("#plan-preview:not([hidden])")
    assert page.locator("#losses li").count() > 0
    assert page.is_visible("#downgrade-confirmation")
    _shown(page, "plan-downgrade")

    page.click("#plan-form button[type=submit]")  # not ticked: the API asks for the confirmation
    page.wait_for_selector("#plan-form .form-error:not([hidden])")
    assert page.text_content("#plan-form .form-error") == "This change loses features; please confirm it."
    assert runtime.get(f"/accounts/{account['id']}", token=owner).json()["plan"] == "all-inclusive"

    page.check("#confirm-downgrade")
    page.click("#plan-form button[type=submit]")
    _flashed(page, "The plan is changed")
    preview = runtime.post(f"/accounts/{account['id']}/subscription/preview", json={}, token=owner).json()
    assert preview["subscription"]["pending"]["plan"] == "ticket"  # from the next period (R-PAY-8)


def test_r_credit_1_prepaid_credit_is_bought_in_the_portal(runtime: Runtime, page: Any) -> None:
    account, email, owner = _paying_owner(runtime, "portal-credit")
    _sign_in(page, email)

    _go(page, "plan")
    assert page.text_content("#credit-balance") == "US$0.00"
    page.fill("#credit-form [name=amount]", "0")
    page.click("#credit-form button[type=submit]")
    page.wait_for_selector('#credit-form [data-field="amount"] .field-error:not([hidden])')

    page.fill("#credit-form [name=amount]", "228")
    page.click("#credit-form button[type=submit]")
    _flashed(page, "Credit bought")
    credit = runtime.get(f"/accounts/{account['id']}/credit", token=owner).json()
    assert credit["balance"] == {"amount": 22800, "currency": "USD"}
    page.wait_for_selector("#credit-balance")
    assert page.text_content("#credit-balance") == "US$228.00"
    assert page.text_content("#credit-valid-until") != "—"
    _shown(page, "credit")


def test_r_gdpr_3_a_data_subject_asks_confirms_and_downloads_their_export_in_the_portal(
    runtime: Runtime, page: Any
) -> None:
    tag = f"portal-dsr-{uuid.uuid4().hex[:10]}"
    assert runtime.post("/signups", json=registrant(tag, plan="ticket")).status_code == 201
    email = f"{tag}@example.com"

    _go(page, "privacy")
    _shown(page, "privacy")
    page.select_option("#privacy-form [name=type]", "access")
    page.fill("#privacy-form [name=email]", email)
    page.click("#privacy-form button[type=submit]")
    page.locator("#privacy-received", has_text="is received").wait_for()

    def link(notice_type: str) -> str:
        (notice,) = [
            n for n in runtime.get("/_local/outbox").json()["items"] if n["to"] == email and n["type"] == notice_type
        ]
        match = re.search(r"https?://\S+\?token=\S+", notice["body"])
        assert match, notice["body"]
        return match.group(0)

    page.fill("#privacy-verify-form [name=link]", "not a link")
    page.click("#privacy-verify-form button[type=submit]")
    page.wait_for_selector('#privacy-verify-form [data-field="link"] .field-error:not([hidden])')
    page.fill("#privacy-verify-form [name=link]", link("privacy_request_verification"))
    page.click("#privacy-verify-form button[type=submit]")
    page.locator("#privacy-verified", has_text="is confirmed").wait_for()

    staff = runtime.token("staff-1", None, "staff")
    (request,) = [
        r
        for r in runtime.get("/admin/privacy/requests?status=verified", token=staff).json()["items"]
        if r["email"] == email
    ] or [None]
    assert request is not None
    assert runtime.post(f"/admin/privacy/requests/{request['id']}/complete", json={}, token=staff).status_code == 200

    page.fill("#privacy-export-form [name=link]", link("privacy_request_completed"))
    with page.expect_download() as downloading:
        page.click("#privacy-export-form button[type=submit]")
    saved = downloading.value.path()
    assert email in Path(saved).read_text(encoding="utf-8")


def test_a_retry_after_a_lost_answer_sends_the_same_idempotency_key_and_adds_the_user_once(
    runtime: Runtime, page: Any
) -> None:
    """API.md: every mutating route takes an Idempotency-Key. The portal sends one per user
    action and the same one again when the action is retried (the form unchanged): here the
    first answer is lost on its way back, the retry gets the first answer, and one user exists."""
    account, email, owner = _paying_owner(runtime, "portal-retry")
    _sign_in(page, email)
    _go(page, "users")
    sent: list[tuple[str, str | None]] = []
    page.on(
        "request", lambda r: sent.append((r.method, r.headers.get("idempotency-key"))) if "/users" in r.url else None
    )
    lost = {"done": False}

    def lose_the_first_answer(route: Any) -> None:
        if route.request.method == "POST" and not lost["done"]:
            lost["done"] = True
            route.fetch()  # the API adds the user ...
            route.abort("connectionreset")  # ... and the answer never arrives
        else:
            route.continue_()

    page.route("**/accounts/*/users", lose_the_first_answer)
    added = f"{account['subdomain']}-agent@example.com"
    page.fill("#add-user-form [name=full_name]", "Petar Georgiev")
    page.fill("#add-user-form [name=email]", added)
    page.click("#add-user-form button[type=submit]")
    page.wait_for_selector("#seat-warning:not([hidden])")  # the trial's one seat is the owner's
    page.click("#add-user-form button[type=submit]")
    page.locator("#add-user-form .form-error", has_text="could not be reached").wait_for()

    page.click("#add-user-form button[type=submit]")  # the same action again
    page.wait_for_selector(f'tr[data-user="{added}"]')
    posts = [key for method, key in sent if method == "POST"]
    assert len(posts) == 2
    assert posts[0] is not None
    assert posts[0] == posts[1]
    listed = runtime.get(f"/accounts/{account['id']}/users", token=owner).json()["items"]
    assert [user["email"] for user in listed].count(added) == 1


def test_an_invited_admin_sets_a_password_signs_in_and_sees_no_owner_only_pages(runtime: Runtime, page: Any) -> None:
    """A user the owner added is invited without a password (API.md "Sign-in"): they set one by
    the reset, sign in, manage users, and the owner's billing pages are not offered to them."""
    account, _, owner = _paying_owner(runtime, "portal-admin")
    admin = f"{account['subdomain']}-admin@example.com"
    body = {"full_name": "Elena Georgieva", "email": admin, "role": "admin"}
    assert runtime.post(f"/accounts/{account['id']}/users", json=body, token=owner).status_code == 201

    _go(page, "reset")
    page.fill("#reset-ask-form [name=email]", admin)
    page.click("#reset-ask-form button[type=submit]")
    page.wait_for_selector("#reset-confirm-form:not([hidden])")
    page.fill("#reset-confirm-form [name=code]", "123456")  # moto takes any code (docs/ARCHITECTURE.md)
    page.fill("#reset-confirm-form [name=password]", PASSWORD)
    page.click("#reset-confirm-form button[type=submit]")
    page.wait_for_selector('main[data-page="signin"]')
    _sign_in(page, admin)

    nav = [str(text) for text in page.locator("#nav a").all_text_contents()]
    assert nav == ["My account", "Users", "Invoices", "Your data"]
    assert page.locator("#notices").count() == 0  # the notices are the owner's
    _go(page, "users")
    assert page.locator("#add-user-form").count() == 1  # an admin adds and removes users
    _go(page, "billing")
    assert page.text_content("main p") == "Only the account's owner can see and change this."


def test_r_term_2_the_owner_asks_by_email_to_stop_the_account_and_is_told_by_when(runtime: Runtime, page: Any) -> None:
    account, email, owner = _paying_owner(runtime, "portal-by-email")
    _sign_in(page, email)

    _go(page, "stop")
    page.click("#stop-by-email-form button[type=submit]")
    page.locator("#stop-requested", has_text="it is handled by").wait_for()

    seen = runtime.get(f"/accounts/{account['id']}", token=owner).json()
    assert seen["status"] == "active"  # pending until staff confirm it (R-TERM-2)
    _shown(page, "stop-by-email")


def test_r_gdpr_10_an_emailed_privacy_link_to_the_portal_opens_its_form_filled_in(runtime: Runtime, page: Any) -> None:
    """Where PublicBaseUrl is the portal, the emails' links open it: the verification or the
    download form with the link in it, for the person to send."""
    page.goto(f"{runtime.portal_url}/privacy/requests/dsr_1/verification?token=abc")
    page.wait_for_selector('main[data-page="privacy"]:not([aria-busy])')
    assert page.input_value("#privacy-verify-form [name=link]").endswith(
        "/privacy/requests/dsr_1/verification?token=abc"
    )
    assert page.input_value("#privacy-export-form [name=link]") == ""

    page.goto(f"{runtime.portal_url}/privacy/exports/dsr_1?token=abc")
    page.wait_for_selector('main[data-page="privacy"]:not([aria-busy])')
    assert page.input_value("#privacy-export-form [name=link]").endswith("/privacy/exports/dsr_1?token=abc")


def test_r_gdpr_9_a_marketing_emails_unsubscribe_link_opened_at_the_portal_unsubscribes(
    runtime: Runtime, page: Any
) -> None:
    from tests.e2e.test_email_e2e import _marketing_subscriber, _withdrawn_how

    person_key, token = _marketing_subscriber(runtime)
    assert _withdrawn_how(runtime, person_key) is None

    page.goto(f"{runtime.portal_url}/privacy/unsubscribe?token={token}")
    page.wait_for_selector("#unsubscribe-form")
    _shown(page, "unsubscribe")
    page.click("#unsubscribe-form button[type=submit]")
    page.locator("#unsubscribed", has_text="You are unsubscribed").wait_for()

    assert _withdrawn_how(runtime, person_key) == "unsubscribe"

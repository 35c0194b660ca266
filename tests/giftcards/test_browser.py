"""In the browser: a signed-out user redeems a Khata gift card, sees it in the wallet picture,
and is told the card was already redeemed when they try it again.

Drives Debian's chromium (never a downloaded browser) through Playwright against the live server.
"""

from pathlib import Path

import pytest

from apps.giftcards.models import VendorRoute
from apps.ledger.assets import asset_cache_clear, assets_ensure
from apps.ledger.models import Entry
from tests.factories.giftcards import sandbox_card
from tests.factories.identity import UserFactory

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
TIMEOUT_MS = 15_000


@pytest.fixture
def chromium_path() -> str:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: the browser tests need Debian's chromium; `make test` installs it.")
    return str(CHROMIUM)


@pytest.fixture
def plain_http(settings):
    # The live server speaks plain HTTP. Outside production these default to off (they follow
    # DEBUG), but a run with DEBUG=false in the environment would turn them on: the login would
    # then be redirected to https:// and the session and CSRF cookies never sent back.
    settings.SECURE_SSL_REDIRECT = False
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False


@pytest.fixture
def sandbox_ready(transactional_db):
    """The sandbox route (a data migration) and the default assets (post_migrate) as a fresh
    database has them: an earlier transactional test's flush removes the route, and the assets
    may have been recreated with new ids, so the in-process asset cache is cleared too."""
    VendorRoute.objects.get_or_create(card_prefix="7000", defaults={"name": "Khata sandbox", "kind": "sandbox"})
    assets_ensure()
    asset_cache_clear()


@pytest.mark.browser
def test_user_redeems_a_gift_card_in_the_browser_and_sees_it_in_the_wallet(
    live_server, chromium_path, plain_http, sandbox_ready, tmp_path
):
    from playwright.sync_api import expect, sync_playwright

    # Given an end user with a password and a $100 Khata card
    # (ORM work stays outside the Playwright block: its event loop makes Django refuse sync queries)
    user = UserFactory()
    number, pin = sandbox_card(dollars=100)
    screenshot = tmp_path / "wallet.png"

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            expect.set_options(timeout=TIMEOUT_MS)

            # When they open the redeem page signed out, they are sent to sign in first
            page.goto(f"{live_server.url}/giftcards/redeem")
            expect(page).to_have_url(f"{live_server.url}/accounts/login/?next=/giftcards/redeem")
            page.fill("#id_username", user.username)
            page.fill("#id_password", "pw-for-tests")
            page.click("button[type=submit]:has-text('Sign in')")

            # and land back on the redeem page, where they redeem the card
            expect(page).to_have_url(f"{live_server.url}/giftcards/redeem")
            page.fill("#id_card_number", number)
            page.fill("#id_pin", pin)
            page.click("button:has-text('Redeem')")

            # Then they are told the money is theirs
            completed = page.locator('[data-outcome="completed"]')
            expect(completed).to_contain_text("Redeemed $100.00")
            expect(completed).to_contain_text("balance is now $100.00")
            # and the form is emptied, so the number and PIN are not left on the page
            expect(page.locator("#id_card_number")).to_have_value("")
            expect(page.locator("#id_pin")).to_have_value("")

            # When they open the wallet, the balance and the picture show the card's money, all left
            page.goto(f"{live_server.url}/wallet")
            expect(page.locator("p.balance")).to_contain_text("$100.00")
            lot = page.locator("svg#money-flow g.lot")
            expect(lot).to_have_count(1)
            expect(lot).to_contain_text("$100.00 gift card")
            expect(lot).to_contain_text("$100.00 left")
            page.screenshot(path=str(screenshot), full_page=True)

            # When they submit the same card again, they are told it was already redeemed
            page.goto(f"{live_server.url}/giftcards/redeem")
            page.fill("#id_card_number", number)
            page.fill("#id_pin", pin)
            page.click("button:has-text('Redeem')")
            expect(page.locator('[data-outcome="already_redeemed"]')).to_contain_text("already been redeemed")
            expect(page.locator('[data-outcome="completed"]')).to_have_count(0)
        finally:
            browser.close()

    assert screenshot.stat().st_size > 0
    # and the ledger holds exactly one deposit for the card
    assert Entry.objects.filter(idempotency_type="gift_card").count() == 1

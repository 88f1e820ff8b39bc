"""In Chromium: every seller page, the admin and the API docs (Swagger UI, Redoc) work under the Content-Security-Policy
with nothing blocked (no inline script or style of ours, no third-party file), and the new-listing
page's script (a static file now) still runs."""

from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import ConsoleMessage, Page, expect

from accounts import services
from tests.factories import ModeratorFactory, totp_code
from tests.listings.conftest import make_seller

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SELLER_PAGES = [
    "seller-dashboard",
    "seller-verification",
    "seller-profile",
    "seller-life-events",
    "seller-consents",
    "seller-listings",
    "seller-listing-new",
    "seller-worth",
    "seller-sales",
    "seller-payouts",
    "seller-my-data",
    "seller-my-data-erase",
]

# Chromium reports each blocked resource or inline script/style as a `securitypolicyviolation`
# event and a console error; the init script (not subject to the page's CSP) records the events.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI} ${event.sourceFile}:${event.lineNumber}`);
});
"""


@pytest.fixture
def violations(page: Page) -> list[str]:
    """CSP violations seen so far: console errors that name the policy, and recorded events."""
    console: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            console.append(message.text)

    page.on("console", on_console)
    page.add_init_script(RECORD_VIOLATIONS)
    return console


def _visit(page: Page, url: str, console: list[str]) -> list[str]:
    response = page.goto(url)
    assert response is not None and response.status == 200, url
    page.wait_for_load_state("networkidle")
    assert "script-src 'self'" in response.headers["content-security-policy"], url
    return console + page.evaluate("window.__cspViolations")


def _log_in(page: Page, live_server, email: str, password: str) -> None:
    page.goto(f"{live_server.url}{reverse('login')}")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state("networkidle")


def test_seller_pages_report_no_csp_violation(page: Page, live_server, violations):
    # given a seller with a full profile, consents and a life event
    seller = make_seller()
    services.seller_profile_update(seller=seller, birth_date=date(1990, 5, 17), phone="+33612345678")
    services.life_event_set(seller=seller, kind="new_job", details="Nurse in Lyon")
    _log_in(page, live_server, seller.email, "correct horse battery staple")

    # when every seller page is loaded, then nothing was blocked
    for name in SELLER_PAGES:
        assert _visit(page, f"{live_server.url}{reverse(name)}", violations) == [], name

    # and the new-listing page's script, now a static file, runs: the auction end field follows
    # the pricing mode and the suggested price can be used
    page.goto(f"{live_server.url}{reverse('seller-listing-new')}")
    page.get_by_label("Demographics", exact=False).first.check()
    expect(page.get_by_role("button", name="Use this price")).to_be_visible()
    assert page.evaluate("window.__cspViolations") == [] and violations == []


def test_the_admin_and_the_api_docs_report_no_csp_violation(page: Page, live_server, violations):
    moderator = ModeratorFactory(totp=False)
    _log_in_admin = f"{live_server.url}/admin/login/?next=/admin/"
    page.goto(_log_in_admin)
    page.locator("#id_username").fill(moderator.email)
    page.locator("#id_password").fill("moderator-password")
    page.locator("input[type=submit]").click()
    page.wait_for_load_state("networkidle")
    # no second factor yet: the set-up page, its QR code an inline SVG
    assert "/admin/second-factor/" in page.url
    expect(page.locator(".second-factor-qr svg")).to_be_visible()
    assert page.evaluate("window.__cspViolations") == [] and violations == []
    page.get_by_label("Code shown by the app").fill(totp_code(TOTPDevice.objects.get(user=moderator).key))
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator("[data-recovery-codes] li")).to_have_count(10)

    for path in ("/admin/", "/admin/accounts/sellerprofile/", f"/admin/accounts/user/{moderator.pk}/change/"):
        assert _visit(page, f"{live_server.url}{path}", violations) == [], path

    assert _visit(page, f"{live_server.url}/api/docs/", violations) == []
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Courtier buyer API")

    # Redoc from the sidecar: its page allows inline styles and a blob: worker (search), no more.
    # Its sidebar always asks for Redocly's logo from their CDN: blocked (img-src 'self'), as it
    # must be; nothing else is.
    redoc = _visit(page, f"{live_server.url}/api/redoc/", violations)
    assert [v for v in redoc if "cdn.redoc.ly/redoc/logo-mini.svg" not in v] == [], redoc
    expect(page.locator("h1").first).to_contain_text("Courtier buyer API")
    expect(page.locator("h2", has_text="Bid on a listing").first).to_be_visible()

"""Every seller page at 360 × 740 in Chromium, in French and in English: nothing wider than the
screen, and axe-core (tests/browser/vendor, injected from a same-origin URL the test serves, since
the CSP refuses inline scripts) finds no serious or critical violation."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from playwright.sync_api import Page

from accounts.models import User
from listings.models import Listing
from tests.factories import SellerFactory
from tests.marketplace.seller_history import seller_with_sales

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
AXE_PATH = "/__test-assets__/axe.min.js"

ANONYMOUS = ["seller-dashboard", "login", "signup", "password_reset", "privacy-notice"]
SELLER = [
    "seller-dashboard",
    "seller-verification",
    "seller-profile",
    "seller-consents",
    "seller-life-events",
    "seller-listings",
    "seller-listing-new",
    "seller-worth",
    "seller-sales",
    "seller-payouts",
    "seller-my-data",
    "seller-sessions",
    "privacy-notice",
]


# Tap targets under 44 × 44 px: links, buttons, form controls and the labels of checkboxes and
# radios; links inside running text (the paragraph has more text than the link) are exempt, as
# WCAG 2.5.5 exempts inline targets.
SMALL_TARGETS = """() => {
  const choice = 'input[type=checkbox], input[type=radio]';
  const targets = [...document.querySelectorAll(
    'a[href], button, select, textarea, summary, input:not([type=hidden]):not([type=checkbox]):not([type=radio]), label'
  )].filter(el => el.tagName !== 'LABEL' || el.querySelector(choice) || (el.control && el.control.matches(choice)));
  const inline = el => el.tagName === 'A' && el.parentElement
    && el.parentElement.textContent.trim().length > el.textContent.trim().length
    && getComputedStyle(el).display === 'inline';
  return targets.filter(el => el.checkVisibility() && !inline(el) && !el.closest('.skip')).map(el => {
    const box = el.getBoundingClientRect();
    return [el, Math.round(box.width), Math.round(box.height)];
  }).filter(([, w, h]) => w < 44 || h < 44).slice(0, 5).map(([el, w, h]) =>
    `${el.tagName.toLowerCase()}${el.className ? '.' + el.className : ''} "${el.textContent.trim().slice(0, 30)}" ${w}x${h}`);
}"""


def _problems(page: Page, url: str, label: str) -> list[str]:
    """What is wrong with the page at `url`: its width, then axe's serious and critical findings."""
    response = page.goto(url)
    if response is None or response.status != 200:
        return [f"{label}: status {response.status if response else None}"]
    found: list[str] = []
    scroll, inner = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    if scroll > inner:
        found.append(f"{label}: {scroll} px wide at {inner} px")
    found += [f"{label}: small target {t}" for t in page.evaluate(SMALL_TARGETS)]
    page.add_script_tag(url=AXE_PATH)
    violations = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
            .filter(v => v.impact === 'serious' || v.impact === 'critical')
            .map(v => v.impact + ' ' + v.id + ': ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | '))"""
    )
    found += [f"{label}: {v}" for v in violations]
    return found


def _log_in(page: Page, live_server, user: User) -> None:
    client = Client()
    client.force_login(user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    cookie = {"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}
    page.context.add_cookies([cookie])


def _at_360_px(page: Page, live_server, language: str) -> None:
    """A 360 × 740 screen, the page's language, and axe served from the live server's origin."""
    page.set_viewport_size({"width": 360, "height": 740})
    page.route(f"{live_server.url}{AXE_PATH}", lambda r: r.fulfill(path=AXE, content_type="text/javascript"))
    cookie = {"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": live_server.url}
    page.context.add_cookies([cookie])


@pytest.mark.parametrize("language", ["fr", "en"])
def test_every_seller_page_fits_360_px_and_passes_axe(page: Page, live_server, language):
    _at_360_px(page, live_server, language)
    problems: list[str] = []
    for name in ANONYMOUS:
        problems += _problems(page, f"{live_server.url}{reverse(name)}", f"anonymous {name}")

    seller, _buyers = seller_with_sales(5)
    _log_in(page, live_server, seller)
    listing = Listing.objects.filter(seller=seller).first()
    assert listing is not None
    urls = [(name, reverse(name)) for name in SELLER]
    urls += [
        ("seller-listing-withdraw", reverse("seller-listing-withdraw", args=[listing.pk])),
        ("seller-my-data-erase", reverse("seller-my-data-erase")),
    ]
    for name, url in urls:
        problems += _problems(page, f"{live_server.url}{url}", name)
    assert problems == [], "\n".join(problems)


def test_a_new_sellers_pages_fit_and_pass_axe(page: Page, live_server):
    """The empty states: no profile, no consent, no listing, no sale (in French, the longer)."""
    _at_360_px(page, live_server, "fr")
    _log_in(page, live_server, SellerFactory())
    problems: list[str] = []
    for name in SELLER:
        problems += _problems(page, f"{live_server.url}{reverse(name)}", f"new seller {name}")
    assert problems == [], "\n".join(problems)


def test_menu_button_opens_and_closes_the_navigation(page: Page, live_server):
    """Below 768 px the ten links hide behind a menu button that says whether it is open."""
    seller, _buyers = seller_with_sales(1)
    page.set_viewport_size({"width": 360, "height": 740})
    _log_in(page, live_server, seller)
    page.goto(f"{live_server.url}{reverse('seller-dashboard')}")
    button = page.get_by_role("button", name="Menu")
    links = page.get_by_role("navigation", name="Main").get_by_role("link")
    assert button.get_attribute("aria-expanded") == "false"
    assert not links.first.is_visible()
    header = page.locator(".site-header").bounding_box()
    assert header is not None and header["height"] <= 740 / 6
    button.click()
    assert button.get_attribute("aria-expanded") == "true"
    assert links.count() == 9 and all(links.nth(i).is_visible() for i in range(9))
    for i in range(9):
        box = links.nth(i).bounding_box()
        assert box is not None and box["height"] >= 44 and box["width"] >= 44
    page.keyboard.press("Escape")
    assert button.get_attribute("aria-expanded") == "false"
    assert page.evaluate("document.activeElement.classList.contains('menu-toggle')")
    # wide screens: no button, the links in view
    page.set_viewport_size({"width": 1024, "height": 740})
    assert not button.is_visible()
    assert links.first.is_visible()
    # without the script: no button, the navigation open under the header
    page.set_viewport_size({"width": 360, "height": 740})
    page.route("**/js/menu.js", lambda route: route.abort())
    page.reload()
    assert not button.is_visible()
    assert links.first.is_visible() and links.last.is_visible()

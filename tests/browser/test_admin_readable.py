"""The admin at 1,280 × 800 in Chromium, in English and in French: the index with its queues and
every queue's list fit the window (no sideways scroll, the list's own box included), amounts
read as euros, and the market dashboard draws its charts."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from playwright.sync_api import Page

from core import admin_queues
from tests.admin_queue_rows import EXPECTED, queue_rows
from tests.conftest import staff_client
from tests.factories import ModeratorFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# an amount in euros as each language writes it: "€42.00", "42,00 €" (a no-break space)
EUROS = {"en": re.compile(r"€\d[\d,]*\.\d\d"), "fr": re.compile(r"\d[\d\u202f\u00a0]*,\d\d\u00a0€")}
# queues whose rows carry an amount
WITH_MONEY = {
    "listings-pending-review",
    "payouts-failed",
    "payouts-parked",
    "payments-parked",
    "disputes-open",
    "reconciliation-open",
}
WIDTHS = """() => {
  const doc = document.documentElement;
  const list = document.querySelector('#changelist .results');
  return [doc.scrollWidth, window.innerWidth, list ? list.scrollWidth : 0, list ? list.clientWidth : 0];
}"""


def _sign_in(page: Page, live_server, language: str) -> None:
    """A moderator's session (second factor passed) from Django's test client: the admin's own
    login form is not what this test is about (test_moderator_journey signs in through it)."""
    client = staff_client(ModeratorFactory())
    page.context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            },
            {"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": live_server.url},
        ]
    )


def _too_wide(page: Page, label: str) -> list[str]:
    document, window, list_scroll, list_width = page.evaluate(WIDTHS)
    found = []
    if document > window:
        found.append(f"{label}: the page is {document} px wide in a {window} px window")
    if list_scroll > list_width:
        found.append(f"{label}: the list scrolls sideways ({list_scroll} px in {list_width} px)")
    return found


@pytest.mark.parametrize("language", ["en", "fr"])
def test_the_index_and_every_queue_fit_1280_px_and_show_euros(page: Page, live_server, language):
    queue_rows()
    page.set_viewport_size({"width": 1280, "height": 800})
    _sign_in(page, live_server, language)
    problems: list[str] = []

    page.goto(f"{live_server.url}/admin/")
    assert page.locator("#site-name").inner_text().startswith("Courtier")
    assert page.locator(".queue-waiting").count() == len(EXPECTED)
    problems += _too_wide(page, "index")

    for queue in admin_queues.queues():
        if queue.key not in EXPECTED:
            continue
        response = page.goto(f"{live_server.url}{queue.url}")
        assert response is not None and response.status == 200, queue.url
        problems += _too_wide(page, queue.key)
        rows = page.locator("#result_list tbody tr")
        if rows.count() != EXPECTED[queue.key]:
            problems.append(f"{queue.key}: {rows.count()} rows, {EXPECTED[queue.key]} expected")
        if queue.key in WITH_MONEY and not EUROS[language].search(page.locator("#result_list").inner_text()):
            problems.append(f"{queue.key}: no amount in euros")
        if re.search(r"\bEUR\b", page.locator("#result_list").inner_text()):
            problems.append(f"{queue.key}: an ISO code where a € should be")

    page.goto(f"{live_server.url}/admin/market/")
    assert page.locator("figure.chart svg").count() == 8
    problems += _too_wide(page, "market dashboard")
    assert problems == [], "\n".join(problems)

"""The seller header folds its navigation behind a menu button below 768 px (static/js/menu.js):
tests that follow a navigation link open the menu first when it is folded."""

from __future__ import annotations

from playwright.sync_api import Locator, Page


def nav_link(page: Page, name: str, *, navigation: str = "Main") -> Locator:
    """The main navigation's link called `name`, the menu opened first if it is folded
    (`navigation`: the navigation's name, translated on a French page)."""
    button = page.locator(".menu-toggle")
    if button.count() and button.is_visible() and button.get_attribute("aria-expanded") == "false":
        button.click()
    return page.get_by_role("navigation", name=navigation).get_by_role("link", name=name, exact=True)

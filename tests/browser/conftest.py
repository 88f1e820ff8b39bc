"""Browser tests: Playwright drives the system Chromium against pytest-django's live server."""

from __future__ import annotations

import os

import pytest

# The live server answers on localhost.
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,testserver")
# Playwright's sync API runs an event loop in the test thread, so Django would refuse the ORM
# calls of the test and of the database fixtures (test database setup and flush included).
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    # Mobile first: a phone-sized screen.
    return {**browser_context_args, "viewport": {"width": 390, "height": 844}, "locale": "en-GB"}

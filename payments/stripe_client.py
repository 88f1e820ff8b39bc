"""The one place that builds `stripe.StripeClient` objects, from settings only.

- `client()`: customers, payment methods, SetupIntents, PaymentIntents, refunds, balance
  transactions, payouts: STRIPE_API_BASE (Stripe's; localstripe on loopback for tests and
  `make run`).
- `connect_client()`: accounts, account links, transfers and transfer reversals:
  STRIPE_CONNECT_API_BASE (Stripe's; our loopback Connect sandbox, devtools/stripe_sandbox, for
  tests and `make run`, because localstripe has no Connect).

The platform's balance history is one list at STRIPE_API_BASE, as at Stripe (the sandbox's
localstripe answers the Connect sandbox's balance transactions in it).

Both send the pinned STRIPE_API_VERSION. With a real `sk_test_…` key and no base overrides both
are api.stripe.com: Stripe's test mode, with no code change. No SDK method is ever patched.
"""

from __future__ import annotations

import functools

import stripe
from django.conf import settings

STRIPE_API_BASE = stripe.DEFAULT_API_BASE  # "https://api.stripe.com"


@functools.lru_cache(maxsize=16)
def _build(api_key: str, api_base: str, version: str, retries: int, timeout: float) -> stripe.StripeClient:
    return stripe.StripeClient(
        api_key,
        stripe_version=version,
        base_addresses={"api": api_base},
        # Every POST we make carries our own idempotency key, so the SDK's retries of network
        # errors and 409/5xx answers replay the same request: they can never charge twice.
        max_network_retries=retries,
        http_client=stripe.RequestsClient(timeout=timeout),
    )


def _make(api_base: str) -> stripe.StripeClient:
    return _build(
        settings.STRIPE_API_KEY,
        api_base.rstrip("/"),
        settings.STRIPE_API_VERSION,
        settings.STRIPE_MAX_NETWORK_RETRIES,
        float(settings.STRIPE_TIMEOUT_SECONDS),
    )


def client() -> stripe.StripeClient:
    return _make(settings.STRIPE_API_BASE)


def connect_client() -> stripe.StripeClient:
    return _make(settings.STRIPE_CONNECT_API_BASE or settings.STRIPE_API_BASE)


def is_live() -> bool:
    api_key: str = settings.STRIPE_API_KEY
    return api_key.startswith(("sk_live_", "rk_live_"))

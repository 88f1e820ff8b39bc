"""System checks: the pinned Stripe API version matches the SDK; production talks https."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import stripe
from django.apps import AppConfig
from django.conf import settings
from django.core import checks


@checks.register("payments")
def stripe_api_version_pinned(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[checks.CheckMessage]:
    if settings.STRIPE_API_VERSION != stripe.api_version:
        return [
            checks.Error(
                f"STRIPE_API_VERSION is {settings.STRIPE_API_VERSION} but stripe {stripe.VERSION} is generated for "
                f"{stripe.api_version}.",
                hint="Upgrade the API version at Stripe and re-pin it in settings together with the SDK.",
                id="payments.E001",
            )
        ]
    return []


@checks.register("payments", deploy=True)
def stripe_addresses_are_https(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[checks.CheckMessage]:
    # The key and webhook secret are required by production.py itself (env without default).
    return [
        checks.Warning(f"{name} is not an https:// address.", id="payments.W001")
        for name in ("STRIPE_API_BASE", "STRIPE_CONNECT_API_BASE")
        if not getattr(settings, name).startswith("https://")
    ]

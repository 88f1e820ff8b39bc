"""System checks: the API's rate limiter has a cache every process shares."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core import checks

from accounts import rate_limits


@checks.register("accounts")
def rate_limit_cache_shared(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Without DEBUG (any deployment), a limiter in process memory would multiply every limit by
    the number of processes: refuse. `make run` (DEBUG) may use its local cache."""
    if settings.DEBUG or rate_limits.client() is not None:
        return []
    backend = settings.CACHES[settings.API_RATE_LIMIT_CACHE]["BACKEND"]
    return [
        checks.Error(
            f"The API rate limiter's cache ({settings.API_RATE_LIMIT_CACHE!r}, {backend}) is not shared "
            "between processes.",
            hint="Set CACHE_URL to a Redis server (redis://host:6379/1).",
            id="accounts.E001",
        )
    ]

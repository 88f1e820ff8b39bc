"""Per-key and per-organisation API rate limits and the usage counters behind the console's
"requests and 429s per day" (core/ratelimit.py counts them; this module names the keys).

Keys, under API_RATE_LIMIT_KEY_PREFIX (default "ratelimit"):
  <prefix>:key:<api key id>                  per-key window counter
  <prefix>:org:<organisation id>             per-organisation window counter
  <prefix>:<policy>:org:<organisation id>    a view's own policy (segment sizing)
  <prefix>:usage:<organisation id>:<day>     hash {requests, throttled}, flushed by api_usage_flush
  <prefix>:usage-index                       set of "<organisation id>:<day>" with a usage hash
  <prefix>:usage-flushing:…, :usage-flushing-index   what a flush has taken and not yet stored
"""

from __future__ import annotations

import functools
from datetime import date

from django.conf import settings
from django.utils import timezone

from core import ratelimit

USAGE_TTL_SECONDS = 8 * 86400  # a hash the flush never reached (no beat) is dropped after a week


def prefix() -> str:
    return settings.API_RATE_LIMIT_KEY_PREFIX


def client():
    """The raw Redis client of API_RATE_LIMIT_CACHE, or None (the local cache of `make run`)."""
    return ratelimit.redis_client(settings.API_RATE_LIMIT_CACHE)


@functools.lru_cache(maxsize=64)
def _rate(rate: str) -> tuple[int, int]:
    return ratelimit.parse_rate(rate)


def policies(*, api_key_id: int, organisation_id: int, view_rates: dict[str, str]) -> list[ratelimit.Policy]:
    """The policies a request counts against: per key, per organisation, and the view's own
    (`rate_limits = {"segment-sizing": "SEGMENT_SIZING_RATE"}`: name → setting holding the rate,
    counted per organisation)."""
    p = prefix()
    result = [
        ratelimit.Policy("per-key", f"{p}:key:{api_key_id}", *_rate(settings.API_RATE_LIMIT_PER_KEY)),
        ratelimit.Policy(
            "per-organisation", f"{p}:org:{organisation_id}", *_rate(settings.API_RATE_LIMIT_PER_ORGANISATION)
        ),
    ]
    for name, setting in view_rates.items():
        result.append(
            ratelimit.Policy(name, f"{p}:{name}:org:{organisation_id}", *_rate(getattr(settings, setting)))
        )
    return result


def usage_member(organisation_id: int, day: date) -> str:
    return f"{organisation_id}:{day.isoformat()}"


def usage_key(member: str, *, flushing: bool = False) -> str:
    return f"{prefix()}:{'usage-flushing' if flushing else 'usage'}:{member}"


def usage_index(*, flushing: bool = False) -> str:
    return f"{prefix()}:{'usage-flushing-index' if flushing else 'usage-index'}"


def hit(*, api_key_id: int, organisation_id: int, view_rates: dict[str, str]) -> ratelimit.Decision:
    """Count one API request: one Lua call on Redis, or the local limiter without Redis."""
    found = policies(api_key_id=api_key_id, organisation_id=organisation_id, view_rates=view_rates)
    member = usage_member(organisation_id, timezone.now().date())
    redis = client()
    if redis is None:
        return ratelimit.local_limiter.hit(found, usage_key=usage_key(member))
    return ratelimit.hit(
        redis,
        found,
        usage_key=usage_key(member),
        usage_index=usage_index(),
        usage_member=member,
        usage_ttl=USAGE_TTL_SECONDS,
    )

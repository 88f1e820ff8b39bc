from __future__ import annotations

from rest_framework.exceptions import Throttled
from rest_framework.throttling import BaseThrottle

from accounts import rate_limits
from core import ratelimit


class RateLimited(Throttled):
    """429 `rate_limited`; DRF's handler adds Retry-After from `wait`."""

    default_code = "rate_limited"
    default_detail = "Too many requests for this API key or organisation."


class ApiRateThrottle(BaseThrottle):
    """Per API key and per organisation (API_RATE_LIMIT_PER_KEY, API_RATE_LIMIT_PER_ORGANISATION),
    plus the view's own `rate_limits`, shared by every process through Redis (accounts.rate_limits).

    Leaves the RateLimit-Policy / RateLimit headers on the request for
    core.middleware.RateLimitHeadersMiddleware to put on whatever answer follows, 429 included.
    Unauthenticated requests were refused before throttling runs and are not counted.
    """

    def allow_request(self, request, view) -> bool:
        key = request.auth
        if key is None:
            return True
        decision = rate_limits.hit(
            api_key_id=key.pk,
            organisation_id=key.organisation_id,
            view_rates=getattr(view, "rate_limits", {}),
        )
        request._request.ratelimit_headers = ratelimit.headers(decision)
        if not decision.allowed:
            raise RateLimited(wait=decision.retry_after)
        return True

"""Settings for `make bench-api` (bench/api.py): bench/bids_settings.py (DEBUG off, no whitenoise,
persistent connections, the bench database, the bare endpoints), plus:

- the cache on Redis (BENCH_CACHE_URL, default DB 11), shared by the workers as in production:
  the segment-sizing throttle and the per-key and per-organisation API rate limits run on it;
- every rate limit far above what 16 clients can send, so the bench measures the API, not its
  limits (the limiter's bookkeeping still runs on every request);
- the test settings' master encryption key, with which the seed wrapped the sellers' data keys;
- no broker (nothing the measured operations do enqueues a task).
"""

from bench.bids_settings import *  # noqa: F403
from bench.bids_settings import REST_FRAMEWORK, env
from config.settings.test import FIELD_ENCRYPTION_KEYS  # noqa: F401

UNLIMITED = "1000000/min"

CACHES = {"default": env.cache("BENCH_CACHE_URL", default="redis://127.0.0.1:6379/11")}
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {
        scope: UNLIMITED for scope in REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {})
    },
}
API_RATE_LIMIT_PER_KEY = UNLIMITED
API_RATE_LIMIT_PER_ORGANISATION = UNLIMITED
SEGMENT_SIZING_RATE = UNLIMITED
CELERY_BROKER_URL = "memory://localhost/"

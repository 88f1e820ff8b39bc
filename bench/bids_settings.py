"""Settings for `make bench-bids` (bench/bids.py): the production shape on loopback.

DEBUG off, no whitenoise, persistent database connections with production's health checks, the
bench database named by BENCH_DB_NAME, and a ROOT_URLCONF that adds the bench-only bare endpoint.
"""

from config.settings.base import *  # noqa: F403
from config.settings.base import MIDDLEWARE, env

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "bench.bids_urls"
MIDDLEWARE = [m for m in MIDDLEWARE if not m.startswith("whitenoise")]

DATABASES = {
    "default": env.db("BENCH_DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/courtier_bench_bids")
}
DATABASES["default"]["NAME"] = env("BENCH_DB_NAME", default=DATABASES["default"]["NAME"])
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = None  # persistent, one connection per worker
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True  # as in production

# Redis, as in production: the API's rate limiter counts there (accounts.rate_limits), with
# limits the bench never reaches, so that it measures the limiter's cost, not its refusals.
CACHES = {"default": env.cache("BENCH_CACHE_URL", default="redis://127.0.0.1:6379/9")}
API_RATE_LIMIT_PER_KEY = API_RATE_LIMIT_PER_ORGANISATION = "100000000/min"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {"django.request": {"level": "ERROR"}},  # 4xx are counted by the bench, not logged
}

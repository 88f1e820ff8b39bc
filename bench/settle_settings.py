"""Settings for `make bench-settle` (bench/settle.py, its driver and its workers): the test
settings (the bench database from DATABASE_URL, Redis from CELERY_BROKER_URL and CACHE_URL), with
production's back-off on a Stripe 429 (the tests' is 10 ms, so that they run fast), since the
bench measures how settlement behaves under Stripe's rate limit."""

from config.settings.test import *  # noqa: F403
from config.settings.test import env

STRIPE_RATE_LIMIT_BACKOFF_SECONDS = env.float("STRIPE_RATE_LIMIT_BACKOFF_SECONDS", default=0.5)

"""Settings for `make load` (bench/load.py): gunicorn, the Celery worker and beat, and the set-up
share them. The test settings (PostgreSQL from DATABASE_URL, Redis from CELERY_BROKER_URL,
CACHE_URL and RATELIMIT_CACHE_URL, the Stripe sandboxes from STRIPE_API_BASE and
STRIPE_CONNECT_API_BASE) with production's behaviour where it changes what is measured: DEBUG
off, persistent connections, production's password hasher, rate limits, segment-estimate cache
and Stripe back-off."""

from django.conf import global_settings

from config.settings.base import (
    API_RATE_LIMIT_PER_KEY,  # noqa: F401  (production's limits, not the tests' 100000/min)
    API_RATE_LIMIT_PER_ORGANISATION,  # noqa: F401
    SEGMENT_ESTIMATE_CACHE_SECONDS,  # noqa: F401
)
from config.settings.test import *  # noqa: F403
from config.settings.test import DATABASES, env

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
DATABASES["default"]["CONN_MAX_AGE"] = 600
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
CACHES = {
    "default": env.cache("CACHE_URL", default="redis://127.0.0.1:6379/13"),
    "ratelimit": env.cache("RATELIMIT_CACHE_URL", default="redis://127.0.0.1:6379/13"),
}
CACHES["default"]["KEY_PREFIX"] = "load"
API_RATE_LIMIT_KEY_PREFIX = "load:ratelimit"
STRIPE_RATE_LIMIT_BACKOFF_SECONDS = 0.5
CELERY_BEAT_SCHEDULE_FILENAME = env("LOAD_BEAT_SCHEDULE", default="/tmp/courtier-load-beat")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {"django.request": {"level": "ERROR"}},  # 4xx are counted by locust; 500s logged
}

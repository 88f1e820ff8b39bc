"""`make test`: the real PostgreSQL and Redis on localhost (override with DATABASE_URL / CELERY_BROKER_URL)."""

from .base import *
from .base import env

DATABASES = {"default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/courtier")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = 0
DATABASES["default"]["TEST"] = {"NAME": env("TEST_DATABASE_NAME", default="test_courtier")}
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/15")
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
FIELD_ENCRYPTION_KEYS = ["kJ2V7o6n0mYbq1GmC9s4kq3d5m2fW1wV6y8zA0bC1dE="]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
MIDDLEWARE = [m for m in MIDDLEWARE if not m.startswith("whitenoise")]
CACHES = {"default": env.cache("CACHE_URL", default="redis://127.0.0.1:6379/14")}
# keys named per test database, as the rate limiter's below: suites side by side share no value
CACHES["default"]["KEY_PREFIX"] = DATABASES["default"]["TEST"]["NAME"]
# The rate limiter on a Redis database that no test clears (some clear the default cache), its
# keys named per test database so that suites running side by side do not share windows. Limits
# high enough for whole-schema runs; tests/accounts/test_api_rate_limits.py sets its own.
CACHES["ratelimit"] = env.cache("RATELIMIT_CACHE_URL", default="redis://127.0.0.1:6379/13")
API_RATE_LIMIT_CACHE = "ratelimit"
API_RATE_LIMIT_KEY_PREFIX = f"ratelimit:{DATABASES['default']['TEST']['NAME']}"
API_RATE_LIMIT_PER_KEY = env("API_RATE_LIMIT_PER_KEY", default="100000/min")
API_RATE_LIMIT_PER_ORGANISATION = env("API_RATE_LIMIT_PER_ORGANISATION", default="100000/min")

# --- Payments -----------------------------------------------------------------------------
# tests/payments/conftest.py starts localstripe and the Connect sandbox on free loopback ports
# and points these at them (also through the environment, for worker processes).
STRIPE_API_KEY = env("STRIPE_API_KEY", default="sk_test_courtier_local")
STRIPE_API_BASE = env("STRIPE_API_BASE", default="http://127.0.0.1:8420")
STRIPE_CONNECT_API_BASE = env("STRIPE_CONNECT_API_BASE", default="http://127.0.0.1:8421")
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET", default="whsec_courtier_test")
STRIPE_MAX_NETWORK_RETRIES = 0
STRIPE_RATE_LIMIT_BACKOFF_SECONDS = 0.01
STRIPE_TIMEOUT_SECONDS = env.int("STRIPE_TIMEOUT_SECONDS", default=10)  # the chaos run's workers: 3
# the card page loads localstripe's Stripe.js stand-in (browser tests point it at their sandbox)
STRIPE_JS_URL = env("STRIPE_JS_URL", default="http://127.0.0.1:8420/js.stripe.com/v3/")
STRIPE_PUBLISHABLE_KEY = env("STRIPE_PUBLISHABLE_KEY", default="pk_test_courtier_local")
SEGMENT_ESTIMATE_CACHE_SECONDS = 0  # tests read estimates of their own data; one test turns it on

# Webhook receivers on loopback (tests' http.server, the example client's): allowed here only.
WEBHOOKS_ALLOW_LOOPBACK = True

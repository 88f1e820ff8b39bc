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

# --- Payments -----------------------------------------------------------------------------
# tests/payments/conftest.py starts localstripe and the Connect sandbox on free loopback ports
# and points these at them (also through the environment, for worker processes).
STRIPE_API_KEY = env("STRIPE_API_KEY", default="sk_test_courtier_local")
STRIPE_API_BASE = env("STRIPE_API_BASE", default="http://127.0.0.1:8420")
STRIPE_CONNECT_API_BASE = env("STRIPE_CONNECT_API_BASE", default="http://127.0.0.1:8421")
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET", default="whsec_courtier_test")
STRIPE_MAX_NETWORK_RETRIES = 0
STRIPE_RATE_LIMIT_BACKOFF_SECONDS = 0.01
STRIPE_TIMEOUT_SECONDS = 10

# Webhook receivers on loopback (tests' http.server, the example client's): allowed here only.
WEBHOOKS_ALLOW_LOOPBACK = True

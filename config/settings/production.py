"""Production: every secret comes from the environment, with no default; start fails without them."""

from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from .base import *
from .base import env

DEBUG = False
SECRET_KEY = env("DJANGO_SECRET_KEY")
# Old keys still accepted for signatures (sessions, email links) while they age out; README,
# "Configuration", says how to give PSEUDONYM_SECRET its own value without changing pseudonyms.
SECRET_KEY_FALLBACKS = env.list("DJANGO_SECRET_KEY_FALLBACKS", default=[])
# The pseudonyms buyers hold are HMACs under this key: its own secret, so that rotating
# DJANGO_SECRET_KEY never changes them (and one leaked key does not give both away).
PSEUDONYM_SECRET = env("PSEUDONYM_SECRET")
if not PSEUDONYM_SECRET.strip():
    raise ImproperlyConfigured("PSEUDONYM_SECRET is empty: set it to a long random secret of its own.")
if PSEUDONYM_SECRET == SECRET_KEY or PSEUDONYM_SECRET in SECRET_KEY_FALLBACKS:
    raise ImproperlyConfigured(
        "PSEUDONYM_SECRET must differ from DJANGO_SECRET_KEY (and its fallbacks): give it its own secret."
    )
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
DATABASES = {"default": env.db("DATABASE_URL")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
CELERY_BROKER_URL = env("CELERY_BROKER_URL")
# Beat's schedule (when each entry last ran): the only file the app writes, on a volume of its own
# in docker-compose.yml, whose containers have a read-only root filesystem.
CELERY_BEAT_SCHEDULE_FILENAME = env(
    "CELERY_BEAT_SCHEDULE_FILENAME", default="/var/lib/courtier/beat/celerybeat-schedule"
)
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS")
# A cache every web process shares: the API's rate limits (and the usage counts behind the
# console) live there, so a per-process cache would multiply every limit by the process count.
CACHES = {"default": env.cache("CACHE_URL")}
if not CACHES["default"]["BACKEND"].endswith(("redis.RedisCache", "django_redis.cache.RedisCache")):
    raise ImproperlyConfigured(
        f"CACHE_URL must name a Redis cache shared by every process (got {CACHES['default']['BACKEND']})."
    )
# EMAIL_URL, e.g. smtp+tls://user:password@smtp.example.com:587
vars().update(env.email_url("EMAIL_URL", default="smtp://localhost:25"))

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
STRIPE_API_KEY = env("STRIPE_API_KEY")
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET")

# The public https origin (emails, consent receipts' policyUrl and piiControllerUrl): required,
# and an origin only, since receipts are records that must keep pointing at the right site.
SITE_URL = env("SITE_URL").rstrip("/")
_site = urlsplit(SITE_URL)
if _site.scheme != "https" or not _site.hostname or _site.path or _site.query or _site.fragment:
    raise ImproperlyConfigured(
        f"SITE_URL must be the site's https origin, e.g. https://courtier.example.com (got {SITE_URL!r})."
    )

# Never deliver webhooks to loopback or over plain http in production, whatever the environment says.
WEBHOOKS_ALLOW_LOOPBACK = False

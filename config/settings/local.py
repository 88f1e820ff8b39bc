"""`make run`: SQLite and a Celery broker on the filesystem unless DATABASE_URL / CELERY_BROKER_URL say otherwise."""

from pathlib import Path

from .base import *
from .base import BASE_DIR, env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
RUN_DIR = Path(env("COURTIER_RUN_DIR", default=str(BASE_DIR / ".run")))

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = RUN_DIR / "broker"
    for _folder in ("processed", "control"):
        (_queue_dir / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(_queue_dir / "processed"),
        "store_processed": False,
        "control_folder": str(_queue_dir / "control"),
    }
CELERY_BEAT_SCHEDULE_FILENAME = str(RUN_DIR / "celerybeat-schedule")

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # web, worker and beat share one file: WAL lets readers and one writer work at once
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
SILENCED_SYSTEM_CHECKS = ["models.W040"]  # SQLite ignores the covering index's INCLUDE columns

# --- Payments -----------------------------------------------------------------------------
# The loopback sandbox (scripts/run.py starts devtools.stripe_sandbox) unless a
# real key is given: then Stripe's test mode, at Stripe's addresses, with no code change.
STRIPE_SANDBOX_KEY = "sk_test_courtier_local"
STRIPE_API_KEY = env("STRIPE_API_KEY", default=STRIPE_SANDBOX_KEY)
_stripe_sandbox = STRIPE_API_KEY == STRIPE_SANDBOX_KEY
STRIPE_API_BASE = env(
    "STRIPE_API_BASE", default="http://127.0.0.1:8420" if _stripe_sandbox else "https://api.stripe.com"
)
STRIPE_CONNECT_API_BASE = env(
    "STRIPE_CONNECT_API_BASE", default="http://127.0.0.1:8421" if _stripe_sandbox else STRIPE_API_BASE
)
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET", default="whsec_courtier_local")
STRIPE_MAX_NETWORK_RETRIES = env.int("STRIPE_MAX_NETWORK_RETRIES", default=0 if _stripe_sandbox else 2)
STRIPE_JS_URL = env(
    "STRIPE_JS_URL",
    default="http://127.0.0.1:8420/js.stripe.com/v3/" if _stripe_sandbox else "https://js.stripe.com/v3/",
)
STRIPE_PUBLISHABLE_KEY = env(
    "STRIPE_PUBLISHABLE_KEY", default="pk_test_courtier_local" if _stripe_sandbox else ""
)

# Webhook receivers on loopback (tests' http.server, the example client's): allowed here only.
WEBHOOKS_ALLOW_LOOPBACK = True

"""Settings shared by every environment. Values come from the environment (django-environ)."""

from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env("DJANGO_SECRET_KEY", default="insecure-dev-key-change-me")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "testserver"])

INSTALLED_APPS = [
    "core",  # before the admin: core/templates/admin/base_site.html overrides the admin's own
    "core.admin_app.CourtierAdminConfig",  # django.contrib.admin with our site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from our static files (CSP: 'self' only)
    "csp",
    "axes",  # lock-out after repeated failed logins (AXES_* below)
    # staff sign in to the admin with a second factor: an authenticator app (TOTP) or a
    # single-use recovery code (static); core.admin_site refuses a session without one
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "accounts",
    "listings",
    "marketplace",
    "payments",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",  # request.user.is_verified(): the session passed a second factor
    "core.middleware.NoStorePersonalDataMiddleware",
    "core.middleware.AuditActorMiddleware",
    "core.middleware.AdminPseudonymsMiddleware",  # the admin names sellers by their pseudonym
    "core.middleware.RateLimitHeadersMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "accounts.middleware.LoginSessionMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a lock-out into the login form's error
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Axes first: it refuses a locked-out (user, IP) before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Lock-out (django-axes): AXES_FAILURE_LIMIT failed logins for one email from one IP lock that
# pair for AXES_COOLOFF_TIME; every login form (seller, advertiser console, admin) shows it as a
# form error (accounts.forms.LockoutMessageMixin, accounts.lockout). A success resets the count.
# the name authenticator apps show next to the staff member's email (django-otp's TOTP devices)
OTP_TOTP_ISSUER = "Courtier"
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# the login forms post the email as "username" (Django's AuthenticationForm); axes would read "email".
# The callable lower-cases it, so that Lea@… and lea@… count as one account.
AXES_USERNAME_FORM_FIELD = "username"
AXES_USERNAME_CALLABLE = "accounts.lockout.axes_username"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
AXES_VERBOSE = False
AXES_DISABLE_ACCESS_LOG = True  # accounts.models.LoginSession keeps what the seller sees of their logins
# the client's address is REMOTE_ADDR (no django-ipware); behind a proxy set AXES_CLIENT_IP_CALLABLE
# a seller who forgot their password: the reset link stays valid this long (Django's default is 3 days)
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT_SECONDS", default=60 * 60 * 24)
# a session's "last activity" (accounts.models.LoginSession) is written at most this often
LOGIN_SESSION_TOUCH_SECONDS = env.int("LOGIN_SESSION_TOUCH_SECONDS", default=300)
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "seller-dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("fr", _("Français"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Paris"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]

EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Courtier <no-reply@courtier.localhost>")
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000")

# --- Privacy -----------------------------------------------------------------------------
# Master keys (Fernet, url-safe base64, 32 bytes) that wrap each seller's data key. The first
# encrypts; all of them decrypt, so a new key is put first and `rotate_encryption_keys` re-wraps.
FIELD_ENCRYPTION_KEYS = env.list(
    "FIELD_ENCRYPTION_KEYS", default=["pQkZ0R8rZ0wQk7yq1o4m8vJ9Lq3a2b5c6d7e8f9g0hI="]
)
# The data controller named on every consent receipt (Kantara CR v1.1 piiControllers[]; the
# address is a schema.org PostalAddress). Receipts add piiControllerUrl (SITE_URL) and policyUrl
# (SITE_URL + the privacy notice, /privacy/) themselves (accounts.receipts).
CONSENT_CONTROLLER = {
    "piiController": env("CONSENT_CONTROLLER_NAME", default="Courtier SAS"),
    "onBehalf": False,
    "contact": env("CONSENT_CONTROLLER_CONTACT", default="Data Protection Officer"),
    "address": {
        "streetAddress": env("CONSENT_CONTROLLER_STREET_ADDRESS", default="1 rue de la Paix"),
        "postalCode": env("CONSENT_CONTROLLER_POSTAL_CODE", default="75002"),
        "addressLocality": env("CONSENT_CONTROLLER_LOCALITY", default="Paris"),
        "addressRegion": env("CONSENT_CONTROLLER_REGION", default="Île-de-France"),
        "addressCountry": env("CONSENT_CONTROLLER_COUNTRY", default="FR"),
    },
    "email": env("CONSENT_CONTROLLER_EMAIL", default="dpo@courtier.localhost"),
    "phone": env("CONSENT_CONTROLLER_PHONE", default="+33 1 00 00 00 00"),
}
CONSENT_JURISDICTION = env("CONSENT_JURISDICTION", default="EU-FR")
CONSENT_REMINDER_DAYS = env.int("CONSENT_REMINDER_DAYS", default=7)
CONSENT_SWEEP_BATCH_SIZE = env.int("CONSENT_SWEEP_BATCH_SIZE", default=5000)

# --- REST API ----------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.api.authentication.ApiKeyAuthentication"],
    # every view declares `required_scope`; a view that sets its own permission_classes lists
    # HasRequiredScope first (tests/accounts/test_api_scopes.py checks both)
    "DEFAULT_PERMISSION_CLASSES": [
        "accounts.api.permissions.HasRequiredScope",
        "accounts.api.permissions.IsBuyerMember",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["accounts.api.throttling.ApiRateThrottle"],
    "DEFAULT_SCHEMA_CLASS": "core.openapi.CourtierAutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],  # JSON bodies only (415 else)
    "EXCEPTION_HANDLER": "core.api_errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Courtier buyer API",
    "DESCRIPTION": "Size audiences, bid on personal-data listings and receive licensed data.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    # Swagger UI from drf-spectacular-sidecar's static files, not a CDN: the CSP allows 'self' only.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Relative to the schema's own address: the same file for every deployment (docs/openapi.yaml).
    "SERVERS": [{"url": "/api/v1", "description": "this deployment (SITE_URL)"}],
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SCHEMA_PATH_PREFIX_TRIM": True,
    # PATCH bodies as the server requires them (no all-optional "Patched…" copies).
    "COMPONENT_SPLIT_PATCH": False,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.api_errors.problem_media_type_hook",  # error answers are application/problem+json
        "core.openapi.add_links",  # links between operations (clients, schemathesis' stateful phase)
    ],
    "ENUM_ADD_EXPLICIT_BLANK_NULL_CHOICE": False,
    # One named enum per choice set (the same choices under different field names share it).
    "ENUM_NAME_OVERRIDES": {
        "DataCategoryEnum": "accounts.taxonomy.DataCategory",
        "PurposeEnum": "accounts.taxonomy.Purpose",
        "VerificationStatusEnum": "accounts.models.BuyerOrganisation.Verification",
        "AgeBandEnum": "accounts.taxonomy.AgeBand",
        "GenderEnum": "accounts.taxonomy.Gender",
        "RegionEnum": "accounts.taxonomy.Region",
        "MobileOsEnum": "accounts.taxonomy.MobileOS",
        "MobileOperatorEnum": "accounts.taxonomy.MobileOperator",
        "InterestEnum": "accounts.taxonomy.INTEREST_CODES",
        "AffinityEnum": "accounts.taxonomy.AFFINITY_CODES",
        "PricingModeEnum": "listings.models.Listing.PricingMode",
        "BidKindEnum": "marketplace.models.Bid.Kind",
        "BidStatusEnum": "marketplace.models.Bid.Status",
        "TradeStatusEnum": "marketplace.models.Trade.Status",
        "AccessGrantStatusEnum": "marketplace.models.AccessGrant.Status",
        "DeletionNoticeStatusEnum": "marketplace.models.DeletionNotice.Status",
        "PaymentStatusEnum": "payments.models.Payment.Status",
        "NextActionTypeEnum": ["authenticate"],
        "PriceEstimateSourceEnum": ["active_listings", "valuation_model"],
        "InterestsMatchEnum": ["any", "all"],
        "WebhookEndpointStatusEnum": "marketplace.models_webhooks.WebhookEndpoint.Status",
        "WebhookDeliveryStatusEnum": "marketplace.models_webhooks.WebhookDelivery.Status",
        "WebhookEventTypeEnum": "marketplace.models_webhooks.WebhookEventType",
        "WebhookEventTypeOrAllEnum": "marketplace.models_webhooks.EVENT_TYPE_CHOICES",
    },
}
API_KEY_LAST_USED_RESOLUTION = timedelta(seconds=60)
# Rate limits (fixed windows in Redis, accounts.rate_limits): "<n>/<s|min|hour|day>".
API_RATE_LIMIT_PER_KEY = env("API_RATE_LIMIT_PER_KEY", default="600/min")
API_RATE_LIMIT_PER_ORGANISATION = env("API_RATE_LIMIT_PER_ORGANISATION", default="1200/min")
API_RATE_LIMIT_CACHE = "default"  # a cache alias on Redis (production.py requires one)
API_RATE_LIMIT_KEY_PREFIX = env("API_RATE_LIMIT_KEY_PREFIX", default="ratelimit")
# A rotated key keeps working this long next to its successor (accounts.services.api_key_rotate).
API_KEY_ROTATION_GRACE = timedelta(hours=env.int("API_KEY_ROTATION_GRACE_HOURS", default=24))

# --- Celery ------------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/0")
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Every task (app-wide defaults; a task that needs longer sets its own limits in its decorator):
# acknowledged only once it has run, and given back to the queue when its worker dies under it,
# so a killed worker loses no message; every task is idempotent (safe to run twice) for that.
# tests/test_worker_settings.py checks every registered task against these rules.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "accounts.tasks.*": {"queue": "consent"},
    "marketplace.tasks.webhook_*": {"queue": "webhooks"},  # before marketplace.tasks.*: first match wins
    "marketplace.tasks.*": {"queue": "settlement"},
    "payments.tasks.payout_*": {"queue": "payouts"},
    "payments.tasks.webhook_*": {"queue": "webhooks"},
}
# Redis hands an unacknowledged message to another worker after this long: it must exceed every
# task's hard time limit (with a margin), or a long task would run twice at once; and every retry
# countdown, or a retry would be delivered early and twice.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_BEAT_SCHEDULE = {
    "consent-expire-due": {"task": "accounts.tasks.consent_expire_due", "schedule": 60.0},
    "consent-remind-expiring": {
        "task": "accounts.tasks.consent_remind_expiring",
        "schedule": 3600.0,
    },
    # Age bands follow birthdays (accounts.services.seller_age_bands_refresh). Beat runs in UTC:
    # 22:05 and 23:05 UTC, so one run is just after midnight in Paris, summer or winter.
    "seller-age-bands-refresh": {
        "task": "accounts.tasks.seller_age_bands_refresh",
        "schedule": crontab(minute=5, hour="22,23"),
    },
    "auctions-close-due": {"task": "marketplace.tasks.auctions_close_due", "schedule": 15.0},
    "trades-settle-due": {"task": "marketplace.tasks.trades_settle_due", "schedule": 30.0},
    "audience-bids-sweep": {"task": "marketplace.tasks.audience_bids_sweep", "schedule": 300.0},
    "marketplace-housekeeping": {"task": "marketplace.tasks.marketplace_housekeeping", "schedule": 600.0},
    "api-usage-flush": {"task": "accounts.tasks.api_usage_flush", "schedule": 300.0},
    "webhook-deliveries-due": {"task": "marketplace.tasks.webhook_deliveries_due", "schedule": 30.0},
}

# --- HTTP: Content-Security-Policy (django-csp) ------------------------------------------
# No inline script or style anywhere: our pages load static/js and static/css, the Swagger UI
# its sidecar files and a split init script (config/urls.py), the admin Django's own files.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
}

# django-axes logs every attempt at INFO: keep its lock-outs (WARNING), not each login.
LOGGING.setdefault("loggers", {})["axes"] = {"level": env("AXES_LOG_LEVEL", default="WARNING")}

# --- Listings and audiences --------------------------------------------------------------
SEGMENT_MIN_SIZE = env.int("SEGMENT_MIN_SIZE", default=25)  # K: smaller segments are never revealed
# a segment's price estimate (quartiles of its listings' floor prices) may be this old (0: never cached)
SEGMENT_ESTIMATE_CACHE_SECONDS = env.int("SEGMENT_ESTIMATE_CACHE_SECONDS", default=60)
LISTING_AUTO_APPROVE_VERIFIED = env.bool("LISTING_AUTO_APPROVE_VERIFIED", default=True)
VALUATION_SELL_THROUGH = env.float("VALUATION_SELL_THROUGH", default=0.5)  # licences sold per window
SEGMENT_SIZING_RATE = env("SEGMENT_SIZING_RATE", default="60/min")  # per organisation, on top of the API's
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://courtier")}

# --- Marketplace ---------------------------------------------------------------------------
PLATFORM_FEE_BPS = env.int("PLATFORM_FEE_BPS", default=1500)  # 15 % of each sale
DELETION_NOTICE_DAYS = env.int("DELETION_NOTICE_DAYS", default=30)
# An organisation with more overdue deletion notices than this cannot bid (0: any one blocks).
DELETION_OVERDUE_BID_LIMIT = env.int("DELETION_OVERDUE_BID_LIMIT", default=0)
# trades one claim takes (grouped per buyer: one authorisation and capture per group)
SETTLEMENT_BATCH_SIZE = env.int("SETTLEMENT_BATCH_SIZE", default=500)
# buyers one claim takes (the others' trades stay due for another worker), and how long one
# settlement sweep keeps claiming while trades are due (a queued task claims once)
SETTLEMENT_ORGANISATIONS_PER_CLAIM = env.int("SETTLEMENT_ORGANISATIONS_PER_CLAIM", default=4)
SETTLEMENT_DRAIN_SECONDS = env.float("SETTLEMENT_DRAIN_SECONDS", default=10.0)
# A payment the buyer has not authorised (3-D Secure) by then fails: its held listing goes back.
SETTLEMENT_AUTHORISATION_DEADLINE_MINUTES = env.int("SETTLEMENT_AUTHORISATION_DEADLINE_MINUTES", default=30)
AUCTION_RELIST_HOURS = env.int("AUCTION_RELIST_HOURS", default=24)  # an unpaid auction, relisted
PAYMENT_FAILURES_FLAG = env.int("PAYMENT_FAILURES_FLAG", default=3)  # failed trades in 30 days
SETTLEMENT_RETRY_AFTER_SECONDS = env.int("SETTLEMENT_RETRY_AFTER_SECONDS", default=120)
# Key of the per-buyer pseudonymous seller ids (marketplace.selectors.buyer_pseudonym), never
# derived from SECRET_KEY: rotating Django's key must not change every id buyers hold.
# production.py requires it and refuses SECRET_KEY's value.
PSEUDONYM_SECRET = env("PSEUDONYM_SECRET", default="insecure-dev-pseudonym-secret-change-me")

# --- Outbound webhooks to buyers (marketplace.services.webhooks) ----------------------------
# Loopback URLs (and plain http) are refused unless this is on: test.py and local.py only.
WEBHOOKS_ALLOW_LOOPBACK = env.bool("WEBHOOKS_ALLOW_LOOPBACK", default=False)
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)  # connect, then read
WEBHOOK_MAX_REDIRECTS = env.int("WEBHOOK_MAX_REDIRECTS", default=3)
# delays between attempts; the last one repeats until WEBHOOK_RETRY_FOR after the event
WEBHOOK_RETRY_DELAYS_SECONDS = [60, 300, 1800, 7200, 18000, 36000]
WEBHOOK_RETRY_FOR = timedelta(days=env.int("WEBHOOK_RETRY_DAYS", default=3))
# an endpoint whose every attempt failed for this long is disabled and its organisation emailed
WEBHOOK_DISABLE_AFTER = timedelta(days=env.int("WEBHOOK_DISABLE_AFTER_DAYS", default=3))
WEBHOOK_SECRET_ROLL_OVERLAP = timedelta(hours=24)  # the previous secret also signs this long
WEBHOOK_CLAIM_SECONDS = 120  # a claimed delivery is not due again while its worker posts it
WEBHOOK_MAX_ENDPOINTS = env.int("WEBHOOK_MAX_ENDPOINTS", default=16)  # per organisation

# --- Payments (Stripe, payouts, webhooks, reconciliation) ---------------------------------
# Stripe's own addresses by default; local.py and test.py point them at the loopback sandbox
# (devtools/stripe_sandbox: localstripe + Connect). A real sk_test_… key with no base overrides uses
# Stripe's test mode. production.py must take the key and webhook secret from the environment.
STRIPE_API_KEY = env("STRIPE_API_KEY", default="")
STRIPE_API_BASE = env("STRIPE_API_BASE", default="https://api.stripe.com")
STRIPE_CONNECT_API_BASE = env("STRIPE_CONNECT_API_BASE", default=STRIPE_API_BASE)
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET", default="")
# Pinned: the version stripe==16.1.0 is generated for. Sent on every request; a system check
# fails if the SDK is upgraded without re-pinning, and events of another version are refetched.
STRIPE_API_VERSION = "2026-10-28.endive"
STRIPE_WEBHOOK_TOLERANCE_SECONDS = 300
STRIPE_MAX_NETWORK_RETRIES = env.int("STRIPE_MAX_NETWORK_RETRIES", default=2)
# a 429 is retried this many times, backing off with jitter from this many seconds (stripe_calls)
STRIPE_RATE_LIMIT_RETRIES = env.int("STRIPE_RATE_LIMIT_RETRIES", default=2)
STRIPE_RATE_LIMIT_BACKOFF_SECONDS = env.float("STRIPE_RATE_LIMIT_BACKOFF_SECONDS", default=0.5)
STRIPE_TIMEOUT_SECONDS = env.int("STRIPE_TIMEOUT_SECONDS", default=20)
STRIPE_CONNECT_COUNTRY = env("STRIPE_CONNECT_COUNTRY", default="FR")
PAYOUT_THRESHOLD_CENTS = env.int("PAYOUT_THRESHOLD_CENTS", default=10_00)  # €10
PAYOUT_SWEEP_BATCH_SIZE = env.int("PAYOUT_SWEEP_BATCH_SIZE", default=500)
# A Stripe step whose answer we never recorded (crash, network) is re-run with the same
# idempotency key after this long; Stripe keeps keys for 24 hours.
PAYMENTS_RESUME_AFTER_SECONDS = env.int("PAYMENTS_RESUME_AFTER_SECONDS", default=120)
# a row whose resumed step failed this many times is parked for moderators (its last error kept);
# so is an outcome whose handler kept failing
PAYMENTS_RESUME_MAX_ATTEMPTS = env.int("PAYMENTS_RESUME_MAX_ATTEMPTS", default=8)
# how long a worker holds a payment outcome it is delivering (a killed worker's come back after it)
PAYMENTS_OUTCOME_CLAIM_SECONDS = env.int("PAYMENTS_OUTCOME_CLAIM_SECONDS", default=300)
WEBHOOK_REQUEUE_AFTER_SECONDS = env.int("WEBHOOK_REQUEUE_AFTER_SECONDS", default=600)
RECONCILIATION_WINDOW_DAYS = env.int("RECONCILIATION_WINDOW_DAYS", default=3)
CELERY_BEAT_SCHEDULE.update(
    {
        "payments-payout-sweep": {"task": "payments.tasks.payout_sweep", "schedule": 3600.0},
        "payments-payout-recover": {"task": "payments.tasks.payout_recover_receivables", "schedule": 3600.0},
        "payments-resume-pending": {"task": "payments.tasks.payments_resume_pending", "schedule": 60.0},
        "payments-outcomes-deliver": {"task": "payments.tasks.payment_outcomes_deliver", "schedule": 60.0},
        "payments-webhook-requeue": {"task": "payments.tasks.webhook_requeue_stale", "schedule": 300.0},
        "payments-reconcile": {"task": "payments.tasks.reconciliation_run", "schedule": 86400.0},
    }
)
RECONCILIATION_GRACE_SECONDS = env.int("RECONCILIATION_GRACE_SECONDS", default=900)
# an authorisation still uncaptured after this is cancelled by reconciliation (Stripe's expire
# after 7 days; settlement captures within minutes)
RECONCILIATION_AUTHORISATION_MAX_HOURS = env.int("RECONCILIATION_AUTHORISATION_MAX_HOURS", default=72)
# Connect webhook endpoints (account.updated, payouts of connected accounts) have their own secret.
STRIPE_CONNECT_WEBHOOK_SECRET = env("STRIPE_CONNECT_WEBHOOK_SECRET", default="")
# The advertiser console's card page: Stripe.js and the publishable key it runs with. Dev and
# tests point STRIPE_JS_URL at localstripe's stand-in (<sandbox>/js.stripe.com/v3/); the page
# adds the script's origin to its own CSP (marketplace.console.billing), nothing else does.
STRIPE_JS_URL = env("STRIPE_JS_URL", default="https://js.stripe.com/v3/")
STRIPE_PUBLISHABLE_KEY = env("STRIPE_PUBLISHABLE_KEY", default="")
# The SDK logs every request at INFO: keep requests out of the logs, keep its warnings.
LOGGING.setdefault("loggers", {})["stripe"] = {"level": env("STRIPE_LOG_LEVEL", default="WARNING")}

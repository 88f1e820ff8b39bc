"""Settings for `make bench-pages` (bench/pages.py): the test settings (no whitenoise, locmem
email, the test encryption key) with DEBUG off, persistent connections, the bench database
(BENCH_DATABASE_URL) and a ROOT_URLCONF that adds the bench-only bare page."""

from config.settings.test import *  # noqa: F403
from config.settings.test import env

DEBUG = False
ALLOWED_HOSTS = ["testserver"]
ROOT_URLCONF = "bench.pages_urls"
DATABASES = {
    "default": env.db("BENCH_DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/courtier_bench_pages")
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = None
CACHES = {"default": env.cache("BENCH_CACHE_URL", default="redis://127.0.0.1:6379/9")}

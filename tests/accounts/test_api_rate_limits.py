"""API rate limits: per key and per organisation, counted atomically in Redis and shared by
every process; RateLimit-Policy / RateLimit headers on every answer, Retry-After on a 429; usage
per organisation per day for the console; production refuses a cache it cannot share."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import threading
import uuid

import pytest
import redis
from django.conf import settings as django_settings

from accounts import rate_limits, selectors, services
from accounts.checks import rate_limit_cache_shared
from accounts.models import ApiUsageDay
from core import ratelimit

pytestmark = pytest.mark.django_db


@pytest.fixture
def fresh_windows(settings):
    """Keys of this test only: a window no other test (or earlier run) has counted in."""
    settings.API_RATE_LIMIT_KEY_PREFIX = f"ratelimit-test:{uuid.uuid4()}"
    return settings


def _burst(url: str, prefix: str, threads: int, start, results) -> None:
    """One OS process: its own Redis connection, `threads` concurrent hits on one policy."""
    client = redis.Redis.from_url(url)
    policy = ratelimit.Policy("per-key", f"{prefix}:key:1", 10, 60)
    allowed = []

    def one() -> None:
        start.wait()
        decision = ratelimit.hit(
            client,
            [policy],
            usage_key=f"{prefix}:usage:1:day",
            usage_index=f"{prefix}:usage-index",
            usage_member="1:day",
            usage_ttl=60,
        )
        allowed.append(decision.allowed)

    workers = [threading.Thread(target=one) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    results.put(sum(allowed))


def test_fifty_concurrent_requests_from_two_processes_over_a_limit_of_ten_accept_exactly_ten():
    """Given a limit of 10 per window, when two OS processes, each with its own Redis connection,
    send 25 concurrent requests each, then exactly 10 are accepted and 40 counted as 429s."""
    url = django_settings.CACHES[django_settings.API_RATE_LIMIT_CACHE]["LOCATION"]
    prefix = f"ratelimit-test:{uuid.uuid4()}"
    context = multiprocessing.get_context("fork")
    start, results = context.Event(), context.Queue()
    processes = [context.Process(target=_burst, args=(url, prefix, 25, start, results)) for _ in range(2)]
    for process in processes:
        process.start()
    start.set()
    accepted = [results.get(timeout=30) for _ in processes]
    for process in processes:
        process.join(timeout=30)

    assert all(process.exitcode == 0 for process in processes)
    assert sum(accepted) == 10, accepted
    client = redis.Redis.from_url(url)
    assert client.hgetall(f"{prefix}:usage:1:day") == {b"requests": b"50", b"throttled": b"40"}
    assert int(client.get(f"{prefix}:key:1")) == 10  # refusals take nothing from the window
    assert 0 < client.pttl(f"{prefix}:key:1") <= 60_000


def test_the_eleventh_request_in_a_window_is_429_with_the_headers(
    fresh_windows, verified_organisation, api_client_for
):
    fresh_windows.API_RATE_LIMIT_PER_KEY = "10/min"
    fresh_windows.API_RATE_LIMIT_PER_ORGANISATION = "100/hour"
    client = api_client_for(verified_organisation)

    responses = [client.get("/api/v1/organisation/") for _ in range(11)]

    assert [r.status_code for r in responses] == [200] * 10 + [429]
    first, tenth, refused = responses[0], responses[9], responses[10]
    policy = '"per-key";q=10;w=60, "per-organisation";q=100;w=3600'
    assert first["RateLimit-Policy"] == tenth["RateLimit-Policy"] == refused["RateLimit-Policy"] == policy
    assert (
        first["RateLimit"].startswith('"per-key";r=9;t=')
        and ', "per-organisation";r=99;t=' in first["RateLimit"]
    )
    assert tenth["RateLimit"].startswith('"per-key";r=0;')
    assert (
        refused["RateLimit"].startswith('"per-key";r=0;')
        and '"per-organisation";r=90;' in refused["RateLimit"]
    )
    assert 1 <= int(refused["Retry-After"]) <= 60 and not first.has_header("Retry-After")
    assert refused.json()["code"] == "rate_limited"


def test_the_organisation_limit_spans_its_keys(fresh_windows, verified_organisation, api_client_for):
    fresh_windows.API_RATE_LIMIT_PER_KEY = "10/min"
    fresh_windows.API_RATE_LIMIT_PER_ORGANISATION = "3/min"
    first, second = api_client_for(verified_organisation), api_client_for(verified_organisation)

    codes = [c.get("/api/v1/organisation/").status_code for c in (first, second, first, second)]

    assert codes == [200, 200, 200, 429]


def test_another_organisation_keeps_its_own_budget(fresh_windows, verified_organisation, api_client_for):
    from tests.factories import VerifiedOrganisationFactory

    fresh_windows.API_RATE_LIMIT_PER_KEY = "1/min"
    mine, theirs = api_client_for(verified_organisation), api_client_for(VerifiedOrganisationFactory())

    assert [mine.get("/api/v1/organisation/").status_code for _ in range(2)] == [200, 429]
    assert theirs.get("/api/v1/organisation/").status_code == 200


def test_errors_carry_the_headers_too(fresh_windows, verified_organisation, api_client_for):
    response = api_client_for(verified_organisation).get(f"/api/v1/bids/{uuid.uuid4()}/")
    assert response.status_code == 404
    assert response.has_header("RateLimit-Policy") and response.has_header("RateLimit")


def test_usage_per_day_counts_requests_and_429s_then_flushes_into_the_table(
    fresh_windows, verified_organisation, api_client_for
):
    fresh_windows.API_RATE_LIMIT_PER_KEY = "3/min"
    client = api_client_for(verified_organisation)
    for _ in range(5):
        client.get("/api/v1/organisation/")

    before = selectors.api_usage(verified_organisation, days=2)
    assert len(before) == 2 and before[0].requests == before[0].throttled == 0
    assert (before[1].requests, before[1].throttled) == (5, 2)

    assert services.api_usage_flush() == 1
    row = ApiUsageDay.objects.get(organisation=verified_organisation)
    assert (row.requests, row.throttled) == (5, 2)
    assert selectors.api_usage(verified_organisation, days=2)[1][1:] == (5, 2)  # not counted twice

    client.get("/api/v1/organisation/")  # counted after the flush: added to the stored row
    assert selectors.api_usage(verified_organisation, days=2)[1][1:] == (6, 3)
    assert services.api_usage_flush() == 1
    row.refresh_from_db()
    assert (row.requests, row.throttled) == (6, 3)
    assert services.api_usage_flush() == 0


def test_without_redis_make_run_limits_in_process_memory(
    fresh_windows, verified_organisation, api_client_for
):
    """`make run` has no Redis: the same windows, in this process."""
    fresh_windows.CACHES = {
        **django_settings.CACHES,
        "local": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    }
    fresh_windows.API_RATE_LIMIT_CACHE = "local"
    fresh_windows.API_RATE_LIMIT_PER_KEY = "2/min"
    client = api_client_for(verified_organisation)

    responses = [client.get("/api/v1/organisation/") for _ in range(3)]

    assert [r.status_code for r in responses] == [200, 200, 429]
    assert responses[2]["RateLimit"].startswith('"per-key";r=0;t=') and responses[2].has_header("Retry-After")
    assert selectors.api_usage(verified_organisation, days=1)[0][1:] == (3, 1)
    assert rate_limits.client() is None


def test_a_deployment_without_a_shared_cache_fails_its_checks(settings):
    settings.CACHES = {
        **django_settings.CACHES,
        "local": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    }
    settings.API_RATE_LIMIT_CACHE = "local"
    settings.DEBUG = True
    assert rate_limit_cache_shared(None) == []  # make run
    settings.DEBUG = False
    assert [e.id for e in rate_limit_cache_shared(None)] == ["accounts.E001"]
    settings.API_RATE_LIMIT_CACHE = "ratelimit"
    assert rate_limit_cache_shared(None) == []


@pytest.mark.parametrize(
    ("cache_url", "starts"), [("locmemcache://", False), ("redis://127.0.0.1:6379/1", True)]
)
def test_production_settings_refuse_to_start_without_a_shared_cache(cache_url, starts):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": "x" * 50,
        "PSEUDONYM_SECRET": "y" * 50,
        "DJANGO_ALLOWED_HOSTS": "example.com",
        "SITE_URL": "https://example.com",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/unused",
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
        "FIELD_ENCRYPTION_KEYS": "kJ2V7o6n0mYbq1GmC9s4kq3d5m2fW1wV6y8zA0bC1dE=",
        "STRIPE_API_KEY": "sk_test_x",
        "STRIPE_WEBHOOK_SECRET": "whsec_x",
        "CACHE_URL": cache_url,
    }
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=env,
        capture_output=True,
        text=True,
        cwd=django_settings.BASE_DIR,
    )
    assert (result.returncode == 0) == starts, result.stderr[-2000:]
    if not starts:
        assert "CACHE_URL must name a Redis cache" in result.stderr

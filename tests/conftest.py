from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts import services
from tests.factories import ModeratorFactory, OrganisationFactory, SellerFactory, VerifiedOrganisationFactory


@pytest.fixture
def seller(db):
    return SellerFactory()


@pytest.fixture
def moderator(db):
    return ModeratorFactory()


@pytest.fixture
def organisation(db):
    return OrganisationFactory()


@pytest.fixture
def verified_organisation(db):
    return VerifiedOrganisationFactory()


@pytest.fixture
def api_client_for():
    """api_client_for(organisation) -> an APIClient authenticated with a fresh key of theirs."""

    def make(organisation) -> APIClient:
        _key, plaintext = services.api_key_create(organisation=organisation, name="tests")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {plaintext}")
        return client

    return make


@pytest.fixture
def celery_worker_process(transactional_db):
    """Start real Celery worker processes on the test database and the Redis broker.

    Usage: `celery_worker_process("consent,default")`; stopped with SIGTERM after the test.
    """
    import os
    import subprocess
    import sys
    import time

    from django.conf import settings
    from django.db import connection

    from config.celery_app import app

    started: list[subprocess.Popen] = []

    def start(queues: str = "default,consent", concurrency: int = 1) -> subprocess.Popen:
        db = connection.settings_dict
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
            "TEST_DATABASE_NAME": db["NAME"],
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "CELERY_DB_REUSE_MAX": "100",
        }
        app.control.purge()
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-Q",
                queues,
                "--pool=prefork",
                f"--concurrency={concurrency}",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel=INFO",
                "-n",
                f"test-{os.getpid()}-{len(started)}@%h",
            ],
            env=env,
        )
        started.append(process)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if app.control.ping(timeout=0.5):
                return process
            assert process.poll() is None, "the Celery worker died at start"
        raise AssertionError("the Celery worker did not answer ping within 30 s")

    yield start
    for process in started:
        process.terminate()
    for process in started:
        process.wait(timeout=30)

from __future__ import annotations

import functools

import pytest
from pytest_django.django_compat import is_django_unittest
from rest_framework.test import APIClient

from accounts import services
from tests.factories import (
    DataProtectionOfficerFactory,
    ModeratorFactory,
    OrganisationFactory,
    PayingOrganisationFactory,
    SellerFactory,
)


@pytest.fixture(autouse=True)
def consent_receipts_conform(request):
    """Every consent receipt written during a test conforms to the receipt's JSON Schema
    (accounts/schemas/consent_receipt.schema.json, Kantara Consent Receipt v1.1).

    Checked here, at the end of each test that used the database, rather than in the receipt
    builder behind a test-only setting: the expiry sweep builds receipts in SQL, where a Python
    check would not run, and the product keeps no test switch. Cheap: tests without the database
    are skipped; otherwise one query notes the last event id before the test and two read what
    was written since. A whole receipt takes jsonschema about a millisecond, so each template is
    validated whole once, with the first event of each shape, and the other events of that shape
    only for their own fields (`_event_fields_validator`), which is the same verdict: the
    template's keys and the event's are disjoint and the schema's only cross-field rules
    (sensitive/spiCat, thirdPartyDisclosure/thirdPartyName) read template keys alone. A test that
    writes a non-conforming receipt on purpose (an old format) adds its receipt id to the
    yielded set.
    """
    uses_db = "_django_db_helper" in request.fixturenames or request.node.get_closest_marker("django_db")
    if not uses_db or is_django_unittest(request):
        yield set()
        return
    # Set the database up now, so that its teardown (rollback or flush) comes after ours.
    request.getfixturevalue("_django_db_helper")
    from django.db.models import Max

    from accounts.models import ConsentEvent, ReceiptTemplate

    last_before = ConsentEvent.objects.aggregate(last=Max("pk"))["last"] or 0
    exempt: set[str] = set()
    yield exempt
    events = list(
        ConsentEvent.objects.filter(pk__gt=last_before).values_list("receipt_id", "template_id", "receipt")
    )
    templates = dict(
        ReceiptTemplate.objects.filter(pk__in={t for _r, t, _b in events if t}).values_list("pk", "body")
    )
    whole_checked: set[tuple] = set()
    for receipt_id, template_id, receipt in events:
        if str(receipt_id) in exempt:
            continue
        template = templates.get(template_id, {})
        shape = (template_id, frozenset(receipt))
        if template and shape in whole_checked and not template.keys() & receipt.keys():
            errors = list(_event_fields_validator().iter_errors(receipt))
        else:
            errors = list(_receipt_validator().iter_errors({**template, **receipt}))
            whole_checked.add(shape)
        assert not errors, f"consent receipt {receipt_id} does not conform: " + "; ".join(
            f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}" for error in errors[:5]
        )


def receipt_for(
    *,
    kind: str,
    category: str,
    purpose: str,
    method: str | None = None,
    language: str = "en",
    **fields,
) -> dict:
    """The whole receipt an event should carry: its template, then its own fields (what the
    services store as a template row plus per-event fields)."""
    from accounts import receipts

    return {
        **receipts.receipt_template(kind, category, purpose, method, language),
        **receipts.event_fields(**fields),
    }


@functools.cache
def _receipt_validator():
    from jsonschema import Draft202012Validator

    from accounts.receipts import receipt_schema

    schema = receipt_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


@functools.cache
def _event_fields_validator():
    """The receipt schema without its required list and cross-field rules: each field present
    must still be a known one, of its own schema."""
    from jsonschema import Draft202012Validator

    from accounts.receipts import receipt_schema

    schema = {key: value for key, value in receipt_schema().items() if key not in ("required", "allOf")}
    return Draft202012Validator(schema)


@pytest.fixture
def seller(db):
    return SellerFactory()


@pytest.fixture
def moderator(db):
    return ModeratorFactory()


def staff_client(user, client=None):
    """A Client signed in as `user` (staff) whose session passed the second factor, as the admin
    requires (core.admin_site): force_login, then the session key django_otp's middleware reads,
    naming the user's confirmed authenticator (one is made if they have none)."""
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    client = client or Client()
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


@pytest.fixture
def moderator_client(moderator):
    """A browser session of a signed-in moderator on the admin, second factor passed (its own
    Client, so a test may also use `client` as someone else)."""
    return staff_client(moderator)


@pytest.fixture
def dpo(db):
    """A data protection officer: a moderator who may open a seller's precise values."""
    return DataProtectionOfficerFactory()


@pytest.fixture
def dpo_client(dpo):
    return staff_client(dpo)


@pytest.fixture
def organisation(db):
    return OrganisationFactory()


@pytest.fixture
def verified_organisation(db):
    """Verified, with a card on file (payments' record only: settling needs `buyer_with_card`)."""
    return PayingOrganisationFactory()


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
            # the Stripe sandbox this test talks to (several session-scoped sandboxes may have
            # set the environment; the test's settings name the one it uses)
            "STRIPE_API_BASE": settings.STRIPE_API_BASE,
            "STRIPE_CONNECT_API_BASE": settings.STRIPE_CONNECT_API_BASE,
            "STRIPE_API_KEY": settings.STRIPE_API_KEY,
            "STRIPE_WEBHOOK_SECRET": settings.STRIPE_WEBHOOK_SECRET,
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

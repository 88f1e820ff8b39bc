"""A failure after Stripe succeeded but before our commit, then a retry: Stripe did it once (same
idempotency key), we record it once. The failure is real: the database refuses our write (a
query wrapper raises on the ledger insert), so the whole recording transaction rolls back."""

from __future__ import annotations

import contextlib

import pytest
from django.conf import settings as django_settings
from django.db import OperationalError, connection

from devtools.stripe_sandbox import fixtures as sandbox_fixtures
from payments import services
from payments.models import LedgerTransaction, Payment, PaymentEvent, StripeEvent
from tests.payments.conftest import charge

pytestmark = pytest.mark.django_db(transaction=True)
S = Payment.Status


@contextlib.contextmanager
def database_fails_once(statement_part: str):
    """The first query containing `statement_part` fails as if the database went away."""
    state = {"armed": True}

    def wrapper(execute, sql, params, many, context):
        if state["armed"] and statement_part in sql:
            state["armed"] = False
            raise OperationalError("simulated: the database went away before our commit")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield state
    assert not state["armed"], "the failure was never triggered"


LEDGER_INSERT = "INSERT INTO payments_ledgertransaction"  # payments.ledger posts in one statement
STATUS_EVENT_INSERT = 'INSERT INTO "payments_paymentevent"'  # every status change writes one


def stripe_counts(stripe_api) -> tuple[int, int, int]:
    intents = stripe_api.v1.payment_intents.list({"limit": 100}).data
    charges = stripe_api.v1.charges.list({"limit": 100}).data
    charge_moves = [
        t for t in stripe_api.v1.balance_transactions.list({"limit": 100}).data if t.type == "charge"
    ]
    return len(intents), len(charges), len(charge_moves)


def test_authorisation_recorded_once_after_a_crash_and_a_retry(buyer, stripe_api):
    with database_fails_once(STATUS_EVENT_INSERT), pytest.raises(OperationalError):
        services.payment_authorise(reference="trade:1", organisation_id=buyer.pk, amount=25_00)

    payment = Payment.objects.get()
    assert payment.status == S.PENDING and payment.stripe_payment_intent_id is None  # our write rolled back
    assert stripe_counts(stripe_api) == (1, 1, 0)  # but Stripe authorised
    assert not PaymentEvent.objects.exists()

    retried = services.payment_authorise(reference="trade:1", organisation_id=buyer.pk, amount=25_00)

    assert retried.pk == payment.pk and retried.status == S.AUTHORISED
    assert stripe_counts(stripe_api) == (1, 1, 0)  # same key: Stripe replayed, authorised nothing new
    assert PaymentEvent.objects.filter(to_status=S.AUTHORISED).count() == 1


def test_the_resume_sweep_finishes_what_a_crash_left(buyer, stripe_api, settings):
    settings.PAYMENTS_RESUME_AFTER_SECONDS = 0
    with database_fails_once(STATUS_EVENT_INSERT), pytest.raises(OperationalError):
        services.payment_authorise(reference="trade:2", organisation_id=buyer.pk, amount=3_00)

    assert services.payments_resume_pending() == 1
    assert services.payments_resume_pending() == 0

    assert Payment.objects.get().status == S.AUTHORISED
    assert stripe_counts(stripe_api) == (1, 1, 0)
    assert PaymentEvent.objects.filter(to_status=S.AUTHORISED).count() == 1


def test_capture_recorded_once_after_a_crash_and_a_retry(buyer, stripe_api):
    payment = services.payment_authorise(reference="trade:3", organisation_id=buyer.pk, amount=40_00)
    with database_fails_once(LEDGER_INSERT), pytest.raises(OperationalError):
        services.payment_capture(payment_id=payment.pk)

    payment.refresh_from_db()
    assert payment.status == S.AUTHORISED and payment.capture_requested == 40_00
    assert stripe_api.v1.payment_intents.retrieve(payment.stripe_payment_intent_id).status == "succeeded"

    services.payment_capture(payment_id=payment.pk)

    payment.refresh_from_db()
    assert payment.status == S.CAPTURED and payment.amount_captured == 40_00
    assert stripe_counts(stripe_api) == (1, 1, 1)
    assert LedgerTransaction.objects.filter(kind="capture").count() == 1


def test_the_webhook_can_record_it_before_the_retry(buyer, stripe_api, deliver):
    """Stripe's event may arrive while our own recording failed: our metadata finds the payment."""
    with database_fails_once(STATUS_EVENT_INSERT), pytest.raises(OperationalError):
        services.payment_authorise(reference="trade:4", organisation_id=buyer.pk, amount=9_99)
    (intent,) = stripe_api.v1.payment_intents.list({"limit": 100}).data
    # what Stripe sends when an authorisation succeeds (localstripe sends no event for it)
    event = sandbox_fixtures.build_event(
        sandbox_fixtures.load_fixtures(),
        "payment_intent.amount_capturable_updated",
        intent.to_dict(),
        api_version=django_settings.STRIPE_API_VERSION,
    )

    assert deliver(event).status_code == 200

    assert StripeEvent.objects.get().status == StripeEvent.Status.SUCCEEDED
    payment = Payment.objects.get()
    assert payment.status == S.AUTHORISED and payment.stripe_payment_intent_id == intent.id
    services.payment_authorise(reference="trade:4", organisation_id=buyer.pk, amount=9_99)
    assert stripe_counts(stripe_api) == (1, 1, 0)
    assert PaymentEvent.objects.filter(to_status=S.AUTHORISED).count() == 1


def test_a_refund_recorded_once_after_a_crash(buyer, stripe_api, settings):
    settings.PAYMENTS_RESUME_AFTER_SECONDS = 0
    payment = charge(reference="trade:5", organisation_id=buyer.pk, amount=20_00)
    with database_fails_once(LEDGER_INSERT), pytest.raises(OperationalError):
        services.payment_refund(payment_id=payment.pk, amount=5_00)

    services.payments_resume_pending()

    refunds = stripe_api.v1.refunds.list({"limit": 100}).data
    assert len(refunds) == 1 and refunds[0].amount == 5_00
    payment.refresh_from_db()
    assert payment.status == S.PARTIALLY_REFUNDED and payment.amount_refunded == 5_00
    assert LedgerTransaction.objects.filter(kind="refund").count() == 1


# --- Stripe unreachable: nothing is decided, the retry does it once ------------------------------


@pytest.fixture
def stripe_down(settings, stripe_sandbox):
    """Stripe's API (and Connect) on a loopback port nobody listens on, until `up()`."""
    from tests.payments.conftest import free_ports

    (dead,) = free_ports(1)
    settings.STRIPE_API_BASE = settings.STRIPE_CONNECT_API_BASE = f"http://127.0.0.1:{dead}"

    def up() -> None:
        settings.STRIPE_API_BASE = stripe_sandbox.api_base
        settings.STRIPE_CONNECT_API_BASE = stripe_sandbox.connect_base

    return up


def test_an_unreachable_stripe_decides_nothing_and_the_retry_authorises_once(buyer, stripe_api, stripe_down):
    with pytest.raises(services.StripeUnavailable) as raised:
        services.payment_authorise(reference="trade:9", organisation_id=buyer.pk, amount=18_00)

    assert (raised.value.status_code, raised.value.code) == (503, "stripe_unavailable")
    payment = Payment.objects.get()
    assert payment.status == S.PENDING and payment.stripe_payment_intent_id is None
    assert payment.last_error  # what moderators see
    assert not PaymentEvent.objects.exists()

    stripe_down()
    retried = services.payment_authorise(reference="trade:9", organisation_id=buyer.pk, amount=18_00)

    assert retried.pk == payment.pk and retried.status == S.AUTHORISED
    assert stripe_counts(stripe_api) == (1, 1, 0)
    assert PaymentEvent.objects.filter(to_status=S.AUTHORISED).count() == 1


def test_an_unreachable_stripe_answers_503_through_the_api_and_stores_nothing(
    organisation, api_client_for, stripe_down
):
    api = api_client_for(organisation)

    response = api.post("/api/v1/payment-methods/", {"payment_method": "pm_card_visa"}, format="json")

    assert response.status_code == 503 and response.json()["code"] == "stripe_unavailable"
    stripe_down()
    assert api.get("/api/v1/payment-methods/").status_code == 404  # no card was saved
    saved = api.post("/api/v1/payment-methods/", {"payment_method": "pm_card_visa"}, format="json")
    assert saved.status_code in (200, 201)

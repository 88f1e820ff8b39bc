"""Inbound webhooks: signatures on the raw body, raw storage unique by event id, processing by a
task, duplicates, unknown objects, currency and API-version mismatches, and a real delivery from
localstripe to a live server processed by a real Celery worker on the `webhooks` queue."""

from __future__ import annotations

import copy
import json
import time

import pytest
from django.conf import settings

from devtools.stripe_sandbox import fixtures as sandbox_fixtures
from payments import services, webhooks
from payments.models import LedgerTransaction, Payment, StripeEvent
from tests.payments.conftest import WEBHOOK_SECRET, http, signed_headers

pytestmark = pytest.mark.django_db(transaction=True)
FIXTURES = sandbox_fixtures.load_fixtures()
ES = StripeEvent.Status


def event(type_: str, obj: dict, *, api_version: str | None = None, account: str | None = None) -> dict:
    return sandbox_fixtures.build_event(
        FIXTURES, type_, obj, api_version=api_version or settings.STRIPE_API_VERSION, account=account
    )


def intent_object(**changes) -> dict:
    """Stripe's own PaymentIntent fixture, with our changes."""
    return {**copy.deepcopy(FIXTURES["payment_intent"]), **changes}


@pytest.fixture
def captured_at_stripe_only(buyer, stripe_api):
    """A payment we authorised, then captured at Stripe behind our back (say, from the dashboard):
    only the webhook can tell us."""
    payment = services.payment_authorise(reference="trade:1", organisation_id=buyer.pk, amount=15_00)
    stripe_api.v1.payment_intents.capture(payment.stripe_payment_intent_id)
    return payment


def succeeded_event(stripe_sandbox) -> dict:
    (found,) = stripe_sandbox.localstripe_events("payment_intent.succeeded")
    return found


@pytest.mark.parametrize(
    "tamper",
    ["wrong secret", "tampered body", "missing header", "older than 300 s", "not json", "garbled header"],
)
def test_forged_or_stale_deliveries_are_refused_and_nothing_is_stored(
    client, captured_at_stripe_only, stripe_sandbox, tamper
):
    payload = json.dumps(succeeded_event(stripe_sandbox))
    headers = signed_headers(payload)
    if tamper == "wrong secret":
        headers = signed_headers(payload, secret="whsec_forger")
    elif tamper == "tampered body":
        payload = payload.replace('"amount": 1500', '"amount": 1')
        assert '"amount": 1' in payload
    elif tamper == "missing header":
        del headers["HTTP_STRIPE_SIGNATURE"]
    elif tamper == "older than 300 s":
        headers = signed_headers(payload, timestamp=int(time.time()) - 301)
    elif tamper == "not json":
        payload = "definitely not json"
        headers = signed_headers(payload)
    elif tamper == "garbled header":
        headers["HTTP_STRIPE_SIGNATURE"] = "t=abc,v1="

    response = client.post("/webhooks/stripe/", payload, **headers)

    assert response.status_code == 400
    assert response.json()["code"] in {"signature_invalid", "signature_missing", "payload_invalid"}
    assert not StripeEvent.objects.exists()
    assert Payment.objects.get().status == Payment.Status.AUTHORISED
    assert not LedgerTransaction.objects.exists()


def test_a_delivery_just_inside_the_tolerance_is_accepted(deliver, captured_at_stripe_only, stripe_sandbox):
    response = deliver(succeeded_event(stripe_sandbox), timestamp=int(time.time()) - 290)
    assert response.status_code == 200 and response.json()["outcome"] == "stored"


def test_the_same_event_five_times_posts_once(deliver, captured_at_stripe_only, stripe_sandbox):
    delivered = succeeded_event(stripe_sandbox)

    outcomes = [deliver(delivered).json()["outcome"] for _ in range(5)]

    assert outcomes == ["stored", "duplicate", "duplicate", "duplicate", "duplicate"]
    stored = StripeEvent.objects.get()
    assert stored.status == ES.SUCCEEDED and stored.attempts == 1 and stored.payload == delivered
    assert Payment.objects.get().status == Payment.Status.CAPTURED
    assert LedgerTransaction.objects.filter(kind="capture").count() == 1
    # processing it again by hand changes nothing either
    assert webhooks.webhook_process(event_id=stored.pk) == ES.SUCCEEDED
    assert LedgerTransaction.objects.count() == 1


def test_other_event_types_are_answered_and_ignored(deliver):
    response = deliver(event("customer.created", {"id": "cus_123", "object": "customer"}))
    assert response.status_code == 200 and response.json()["outcome"] == "ignored"
    assert not StripeEvent.objects.exists()


def test_an_event_about_an_object_we_never_created_fails_and_changes_nothing(deliver, stripe_api, buyer):
    customer = stripe_api.v1.customers.create({"email": "someone@else.example"})
    stripe_api.v1.payment_intents.create(
        {
            "amount": 500,
            "currency": "eur",
            "customer": customer.id,
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )
    intent = stripe_api.v1.payment_intents.list({"limit": 1}).data[0]

    response = deliver(
        event("payment_intent.succeeded", intent_object(id=intent.id, amount=500, currency="eur"))
    )

    assert response.status_code == 200
    stored = StripeEvent.objects.get()
    assert stored.status == ES.FAILED and "not_found" in stored.error
    assert f"No payment of ours has PaymentIntent {intent.id}" in stored.error
    assert not Payment.objects.exists() and not LedgerTransaction.objects.exists()


def test_a_currency_mismatch_fails_and_changes_nothing(deliver, captured_at_stripe_only):
    payment = captured_at_stripe_only
    fake = intent_object(
        id=payment.stripe_payment_intent_id, amount=15_00, currency="usd", status="succeeded"
    )

    deliver(event("payment_intent.succeeded", fake))

    stored = StripeEvent.objects.get()
    assert stored.status == ES.FAILED and stored.error.startswith("currency_mismatch")
    assert "USD" in stored.error and "EUR" in stored.error
    assert Payment.objects.get().status == Payment.Status.AUTHORISED
    assert not LedgerTransaction.objects.exists()


def test_a_payload_we_must_trust_is_refused_at_another_api_version(
    deliver, captured_at_stripe_only, stripe_api
):
    payment = captured_at_stripe_only
    payment.refresh_from_db()
    charge = stripe_api.v1.charges.list({"limit": 1}).data[0].id
    dispute = {
        **FIXTURES["dispute"],
        "id": "du_old",
        "charge": charge,
        "amount": 15_00,
        "currency": "eur",
        "payment_intent": payment.stripe_payment_intent_id,
        "status": "needs_response",
    }

    deliver(event("charge.dispute.created", dispute, api_version="2017-08-15"))

    stored = StripeEvent.objects.get()
    assert stored.status == ES.FAILED and stored.error.startswith("api_version_mismatch")
    assert "2017-08-15" in stored.error
    assert not payment.disputes.exists() and not LedgerTransaction.objects.exists()


def test_a_payload_without_a_field_stripe_always_sends_fails_and_changes_nothing(
    deliver, captured_at_stripe_only, stripe_api
):
    payment = captured_at_stripe_only
    charge = stripe_api.v1.charges.list({"limit": 1}).data[0].id
    dispute = {
        **FIXTURES["dispute"],
        "id": "du_changed",
        "charge": charge,
        "currency": "eur",
        "payment_intent": payment.stripe_payment_intent_id,
        "status": "needs_response",
    }
    del dispute["amount"]

    deliver(event("charge.dispute.created", dispute))

    stored = StripeEvent.objects.get()
    assert stored.status == ES.FAILED and stored.error.startswith("stripe_payload_invalid")
    assert "du_changed without 'amount'" in stored.error
    assert Payment.objects.get().status == Payment.Status.AUTHORISED
    assert not payment.disputes.exists() and not LedgerTransaction.objects.exists()


def test_a_live_event_is_refused_by_a_test_endpoint(deliver):
    live = event("payment_intent.succeeded", intent_object(id="pi_live"))
    live["livemode"] = True
    assert deliver(live).status_code == 400
    assert not StripeEvent.objects.exists()


def test_canceled_and_requires_action_events_are_read_back_from_stripe(deliver, buyer, stripe_api):
    payment = services.payment_authorise(reference="trade:9", organisation_id=buyer.pk, amount=8_00)
    stripe_api.v1.payment_intents.cancel(payment.stripe_payment_intent_id)
    # A stale payload (it still says requires_action) cannot undo what Stripe says now.
    stale = intent_object(
        id=payment.stripe_payment_intent_id, amount=8_00, currency="eur", status="requires_action"
    )
    deliver(event("payment_intent.requires_action", stale))
    deliver(event("payment_intent.canceled", {**stale, "status": "canceled"}))

    assert list(StripeEvent.objects.values_list("status", flat=True)) == [ES.SUCCEEDED, ES.SUCCEEDED]
    payment.refresh_from_db()
    assert payment.status == Payment.Status.CANCELED
    assert list(payment.events.values_list("to_status", flat=True)) == ["authorised", "canceled"]


def test_a_lost_task_is_picked_up_by_the_sweep(deliver, captured_at_stripe_only, stripe_sandbox, settings):
    settings.WEBHOOK_REQUEUE_AFTER_SECONDS = 0
    delivered = succeeded_event(stripe_sandbox)
    StripeEvent.objects.create(
        event_id=delivered["id"],
        type=delivered["type"],
        payload=delivered,
        status=ES.PROCESSING,
        started_at="2020-01-01T00:00:00Z",
        received_at="2020-01-01T00:00:00Z",
    )  # as if a worker died mid-way

    assert webhooks.webhook_requeue_stale() == 1

    assert StripeEvent.objects.get().status == ES.SUCCEEDED
    assert Payment.objects.get().status == Payment.Status.CAPTURED


@pytest.mark.celery_worker
def test_localstripe_delivers_to_the_endpoint_and_a_worker_processes_it(
    live_server, celery_worker_process, buyer, stripe_api, stripe_sandbox
):
    status, _ = http(
        "POST",
        f"{stripe_sandbox.api_base}/_config/webhooks/courtier",
        {"url": f"{live_server.url}/webhooks/stripe/", "secret": WEBHOOK_SECRET},
    )
    assert status == 200
    celery_worker_process("webhooks,default")
    try:
        payment = services.payment_authorise(reference="trade:live", organisation_id=buyer.pk, amount=31_00)
        stripe_api.v1.payment_intents.capture(payment.stripe_payment_intent_id)  # localstripe sends the event

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            # only this payment's event: localstripe may still deliver an earlier test's events
            stored = StripeEvent.objects.filter(
                type="payment_intent.succeeded", payload__data__object__id=payment.stripe_payment_intent_id
            ).first()
            if stored and stored.status in (ES.SUCCEEDED, ES.FAILED):
                break
            time.sleep(0.2)
        assert stored is not None and stored.status == ES.SUCCEEDED, stored and stored.error
        payment.refresh_from_db()
        assert payment.status == Payment.Status.CAPTURED
        assert LedgerTransaction.objects.filter(kind="capture").count() == 1
    finally:  # stop localstripe from posting later tests' events to this server
        http(
            "POST",
            f"{stripe_sandbox.api_base}/_config/webhooks/courtier",
            json_body={"url": "http://127.0.0.1:9/", "secret": WEBHOOK_SECRET, "events": []},
        )


def test_an_event_that_failed_for_a_moment_is_retried_by_the_sweep_when_its_retry_is_lost(
    deliver, captured_at_stripe_only, stripe_sandbox, settings
):
    """Stripe unavailable while the handler reads the intent back: the task's retry message is
    all that would bring the event back, and a killed worker or a broker that forgets loses it
    (found by the chaos run). The event is left for the sweep, with its error, not failed."""
    settings.WEBHOOK_REQUEUE_AFTER_SECONDS = 0
    delivered = succeeded_event(stripe_sandbox)
    stored = StripeEvent.objects.create(event_id=delivered["id"], type=delivered["type"], payload=delivered)
    status, body = http(
        "POST",
        f"{stripe_sandbox.api_base}/_config/faults",
        {"mode": "error_after", "method": "GET", "path": r"^/v1/payment_intents/[^/]+$"},
    )
    assert status == 200, body

    with pytest.raises(services.StripeUnavailable):  # the task retries it, if its message lives
        webhooks.webhook_process(event_id=stored.pk)
    stored.refresh_from_db()
    assert stored.status == ES.RECEIVED and stored.error.startswith("stripe_unavailable")
    assert Payment.objects.get().status == Payment.Status.AUTHORISED

    assert webhooks.webhook_requeue_stale() == 1  # the message was lost: the sweep queues it again

    stored.refresh_from_db()
    assert stored.status == ES.SUCCEEDED and stored.attempts == 2
    assert Payment.objects.get().status == Payment.Status.CAPTURED

"""Payments tells the caller what happened through registered handlers: once per status change,
in order per payment, after commit, and again later if a handler failed."""

from __future__ import annotations

import pytest

from payments import handlers, services
from payments.models import PaymentEvent

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def registry_restored(monkeypatch):
    """The handlers a test registers are dropped after it; those registered at start-up stay."""
    monkeypatch.setattr(handlers, "_handlers", list(handlers._handlers))


@pytest.fixture
def received():
    seen: list[handlers.PaymentOutcome] = []
    handlers.register_payment_outcome_handler(seen.append)
    return seen


def test_each_status_change_reaches_the_handlers_in_order(buyer, received):
    payment = services.payment_authorise(reference="trade:1", organisation_id=buyer.pk, amount=10_00)
    services.payment_capture(payment_id=payment.pk)
    services.payment_refund(payment_id=payment.pk, amount=1_00)

    assert [(o.reference, o.previous_status, o.status) for o in received] == [
        ("trade:1", "pending", "authorised"),
        ("trade:1", "authorised", "captured"),
        ("trade:1", "captured", "partially_refunded"),
    ]
    assert received[-1].amount_refunded == 1_00 and received[-1].currency == "EUR"
    assert not PaymentEvent.objects.filter(delivered_at__isnull=True).exists()
    assert services.payment_outcomes_deliver() == 0  # nothing twice


def test_a_failing_handler_gets_the_outcomes_again_in_order(buyer_with_card, received):
    calls = {"n": 0}

    def flaky(outcome):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("marketplace is briefly unavailable")

    handlers.register_payment_outcome_handler(flaky)
    organisation = buyer_with_card("4000000000000341")
    payment = services.payment_authorise(reference="trade:2", organisation_id=organisation.pk, amount=5_00)
    assert PaymentEvent.objects.filter(delivered_at__isnull=True).count() == 1

    assert services.payment_outcomes_deliver() == 1

    # at least once: handlers that ran before the failure see the event again, same event id
    assert [o.status for o in received] == ["failed", "failed"]
    assert len({o.event_id for o in received}) == 1
    assert not PaymentEvent.objects.filter(delivered_at__isnull=True).exists()
    assert received[0].reason == payment.failure_message and "declined" in received[0].reason


def test_a_poisoned_outcome_is_parked_and_the_other_payments_outcomes_go_on(buyer, received, settings):
    settings.PAYMENTS_RESUME_MAX_ATTEMPTS = 2

    fixed = {"handler": False}

    def poisoned(outcome):
        if outcome.reference == "trade:bad" and not fixed["handler"]:
            raise ValueError("this handler cannot take trade:bad")

    handlers.register_payment_outcome_handler(poisoned)
    bad = services.payment_authorise(reference="trade:bad", organisation_id=buyer.pk, amount=3_00)
    services.payment_cancel(payment_id=bad.pk)  # a second event, waiting behind the first
    good = services.payment_authorise(reference="trade:good", organisation_id=buyer.pk, amount=4_00)
    for _ in range(3):
        services.payment_outcomes_deliver()

    first, second = PaymentEvent.objects.filter(payment=bad).order_by("pk")
    assert first.parked_at is not None and first.attempts == 2 and "cannot take" in first.last_error
    assert second.delivered_at is None and second.attempts == 0  # in order: it waits behind the first
    assert not PaymentEvent.objects.filter(payment=good, delivered_at__isnull=True).exists()
    assert [o.reference for o in received if o.reference == "trade:good"] == ["trade:good"]

    fixed["handler"] = True  # the handler's bug is fixed, then a moderator resumes the outcome
    assert services.payments_unpark(kind="outcome", ids=[first.pk]) == 1
    services.payment_outcomes_deliver()
    assert not PaymentEvent.objects.filter(payment=bad, delivered_at__isnull=True).exists()

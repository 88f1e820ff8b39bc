"""Payments tells the caller what happened through registered handlers: once per status change,
in order per payment, after commit, and again later if a handler failed."""

from __future__ import annotations

import pytest

from payments import handlers, services
from payments.models import PaymentEvent

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def received():
    seen: list[handlers.PaymentOutcome] = []
    handlers.register_payment_outcome_handler(seen.append)
    yield seen
    handlers.unregister_payment_outcome_handler(seen.append)


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
    try:
        organisation = buyer_with_card("4000000000000341")
        payment = services.payment_authorise(
            reference="trade:2", organisation_id=organisation.pk, amount=5_00
        )
        assert PaymentEvent.objects.filter(delivered_at__isnull=True).count() == 1

        assert services.payment_outcomes_deliver() == 1
    finally:
        handlers.unregister_payment_outcome_handler(flaky)

    # at least once: handlers that ran before the failure see the event again, same event id
    assert [o.status for o in received] == ["failed", "failed"]
    assert len({o.event_id for o in received}) == 1
    assert not PaymentEvent.objects.filter(delivered_at__isnull=True).exists()
    assert received[0].reason == payment.failure_message and "declined" in received[0].reason

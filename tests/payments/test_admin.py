"""Moderators read money in the admin (nothing there edits an amount) and act through services."""

from __future__ import annotations

import pytest
from django.urls import reverse

from payments import services
from payments.models import Payment, ReconciliationRun, StripeEvent
from tests.conftest import staff_client
from tests.payments.conftest import charge

pytestmark = pytest.mark.django_db(transaction=True)
MODELS = [
    "payment",
    "stripecustomer",
    "connectaccount",
    "payout",
    "stripeevent",
    "reconciliationissue",
    "reconciliationrun",
    "ledgertransaction",
    "ledgeraccount",
]


def test_every_money_page_opens_read_only(client, moderator, buyer, paid_seller):
    seller = paid_seller()
    payment = charge(reference="trade:1", organisation_id=buyer.pk, amount=50_00)
    services.settlement_credit(
        reference="trade:1", payment=payment, seller_shares=[(seller.pk, 50_00)], fee_bps=0
    )
    services.payout_sweep()
    staff_client(moderator, client)  # signed in, second factor passed

    for model in MODELS:
        assert client.get(f"/admin/payments/{model}/").status_code == 200, model
    page = client.get(reverse("admin:payments_payment_change", args=[payment.pk]))
    assert page.status_code == 200 and b"trade:1" in page.content
    assert client.get("/admin/payments/payment/add/").status_code == 403
    assert "€0.00".encode() in client.get("/admin/payments/connectaccount/").content  # all paid out
    assert "€50.00".encode() in client.get("/admin/payments/payment/").content


def test_moderators_can_reprocess_failed_events_and_run_reconciliation(client, moderator, buyer, deliver):
    payment = services.payment_authorise(reference="trade:2", organisation_id=buyer.pk, amount=3_00)
    from tests.payments.test_webhooks import event, intent_object

    deliver(event("payment_intent.succeeded", intent_object(id="pi_unknown", amount=3_00, currency="eur")))
    failed = StripeEvent.objects.get()
    assert failed.status == StripeEvent.Status.FAILED
    staff_client(moderator, client)  # signed in, second factor passed

    client.post("/admin/payments/stripeevent/", {"action": "reprocess", "_selected_action": [failed.pk]})
    client.post("/admin/payments/reconciliationrun/", {"action": "run_now", "_selected_action": [0]})

    failed.refresh_from_db()
    assert failed.status == StripeEvent.Status.FAILED and failed.attempts == 2  # still unknown: still failed
    assert ReconciliationRun.objects.count() == 1
    assert Payment.objects.get(pk=payment.pk).status == "authorised"

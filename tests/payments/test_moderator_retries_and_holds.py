"""Moderators and money (issue 14): a suspended seller's payouts are held until reinstated; a
parked payment or payout goes back to the resume sweep, and a payout whose transfer Stripe
refused is paid again, from the admin, with a reason, audited. Nothing is deleted."""

from __future__ import annotations

import pytest
from django.utils import timezone

from accounts import services as account_services
from core.models import AuditEntry
from payments import ledger, services
from payments.models import ConnectAccount, LedgerTransaction, Payment, Payout
from tests.payments.conftest import charge
from tests.payments.test_payouts import earn

pytestmark = pytest.mark.django_db(transaction=True)
P = Payout.Status
PAYOUTS = "/admin/payments/payout/"
PAYMENTS = "/admin/payments/payment/"


def act(client, url: str, obj, reason: str = "Stripe answered again"):
    return client.post(
        url, {"action": "unpark", "_selected_action": [obj.pk], "apply": "1", "reason": reason}, follow=True
    )


def test_a_suspended_sellers_payouts_are_held_until_reinstated(buyer, paid_seller, moderator):
    seller, other = paid_seller(), paid_seller()
    earn(buyer, seller, 20_00)
    earn(buyer, other, 20_00)
    account_services.user_suspend(user_id=seller.pk, moderator=moderator, reason="Fraud inquiry")

    assert services.payout_sweep() == 1
    assert services.payout_create(seller_id=seller.pk) is None
    assert list(Payout.objects.values_list("seller_id", flat=True)) == [other.pk]
    assert ledger.seller_payable(seller.pk) == 20_00  # held, not lost

    account_services.user_reinstate(user_id=seller.pk, moderator=moderator, reason="Cleared")

    assert services.payout_sweep() == 1
    assert Payout.objects.get(seller=seller).amount == 20_00


def test_a_refused_transfer_is_paid_again_from_the_admin(
    buyer, paid_seller, stripe_sandbox, moderator_client, moderator
):
    seller = paid_seller()
    earn(buyer, seller, 20_00)
    account = ConnectAccount.objects.get(seller=seller)
    stripe_sandbox.complete_account(account.stripe_account_id, payouts_enabled="0")
    services.payout_sweep()
    failed = Payout.objects.get()
    assert failed.status == P.FAILED and not failed.transfer_id
    stripe_sandbox.complete_account(account.stripe_account_id)

    act(moderator_client, PAYOUTS, failed, reason="Seller fixed their account")

    failed.refresh_from_db()
    assert failed.status == P.FAILED  # the failed one stays as it was
    again = Payout.objects.exclude(pk=failed.pk).get()
    assert (again.amount, again.status) == (20_00, P.IN_TRANSIT)
    assert LedgerTransaction.objects.filter(kind="payout").count() == 1
    entry = AuditEntry.objects.get(action="payout.retried")
    assert (entry.actor, entry.reason, entry.target_id) == (
        moderator,
        "Seller fixed their account",
        str(failed.pk),
    )

    # a paid payout is not retried: the error is shown and nothing moves
    page = act(moderator_client, PAYOUTS, again)
    assert "nothing to retry" in page.content.decode() and Payout.objects.count() == 2


def test_a_parked_payment_and_payout_go_back_to_the_sweep_with_a_reason(buyer, paid_seller, moderator_client):
    payment = charge(reference="sale:parked", organisation_id=buyer.pk, amount=15_00)
    Payment.objects.filter(pk=payment.pk).update(parked_at=timezone.now(), resume_attempts=5)
    seller = paid_seller()
    earn(buyer, seller, 20_00)
    services.payout_sweep()
    payout = Payout.objects.get()
    Payout.objects.filter(pk=payout.pk).update(parked_at=timezone.now(), resume_attempts=5)

    refused = act(moderator_client, PAYMENTS, payment, reason="")
    assert refused.status_code == 200 and b"Give a reason" in refused.content
    assert Payment.objects.get(pk=payment.pk).parked_at is not None

    act(moderator_client, PAYMENTS, payment)
    act(moderator_client, PAYOUTS, payout)

    payment.refresh_from_db()
    payout.refresh_from_db()
    assert (payment.parked_at, payment.resume_attempts) == (None, 0)
    assert (payout.parked_at, payout.resume_attempts) == (None, 0)
    assert {"payment.retried", "payout.retried"} <= set(AuditEntry.objects.values_list("action", flat=True))
    # not parked any more: a second retry is an error, and changes nothing
    again = act(moderator_client, PAYMENTS, payment)
    assert "not parked" in again.content.decode()
    assert AuditEntry.objects.filter(action="payment.retried").count() == 1

"""Sellers get paid: Connect Express onboarding through Account Links, account.updated, the payout
sweep (threshold, transfer_group, one payout at a time), refused transfers, bank payouts."""

from __future__ import annotations

import threading
import urllib.request
from urllib.parse import urlencode

import pytest
from django.db import connection

from payments import ledger, services
from payments.models import ConnectAccount, LedgerTransaction, Payout, StripeEvent
from tests.payments.conftest import charge

pytestmark = pytest.mark.django_db(transaction=True)
P = Payout.Status
_refs = iter(range(1, 10**6))


def earn(buyer, seller, net: int) -> None:
    """Credit `net` to the seller: a buyer pays, the sale settles with no fee."""
    reference = f"sale:{next(_refs)}"
    payment = charge(reference=reference, organisation_id=buyer.pk, amount=net)
    services.settlement_credit(
        reference=reference, payment=payment, seller_shares=[(seller.pk, net)], fee_bps=0
    )


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def open_without_redirect(url: str, data: dict | None = None):
    opener = urllib.request.build_opener(NoRedirect)
    try:
        return opener.open(url, data=urlencode(data).encode() if data is not None else None, timeout=10)
    except urllib.error.HTTPError as exc:  # the 302 we want to look at
        return exc


def test_onboarding_through_an_account_link_enables_payouts(client, stripe_sandbox, deliver):
    from tests.factories import SellerFactory

    seller = SellerFactory()
    client.force_login(seller)
    page = client.get("/payouts/")
    assert page.status_code == 200 and b'data-state="payouts-disabled"' in page.content

    to_stripe = client.post("/payouts/onboarding/")

    assert to_stripe.status_code == 302 and to_stripe.url.startswith(
        stripe_sandbox.connect_base + "/connect/onboarding/"
    )
    account = ConnectAccount.objects.get(seller=seller)
    assert account.stripe_account_id.startswith("acct_") and not account.payouts_enabled
    assert "external_account" in account.outstanding_requirements
    hosted = open_without_redirect(to_stripe.url)
    assert hosted.status == 200 and account.stripe_account_id.encode() in hosted.read()
    back = open_without_redirect(to_stripe.url, {"outcome": "complete"})
    assert back.status == 302 and back.headers["Location"] == "http://testserver/payouts/onboarding/return/"
    # an Account Link works once: opening it again leads to our refresh URL
    again = open_without_redirect(to_stripe.url)
    assert (
        again.status == 302 and again.headers["Location"] == "http://testserver/payouts/onboarding/refresh/"
    )

    (updated,) = stripe_sandbox.connect_events("account.updated")
    assert deliver(updated).status_code == 200
    assert StripeEvent.objects.get().status == StripeEvent.Status.SUCCEEDED
    account.refresh_from_db()
    assert account.payouts_enabled and account.outstanding_requirements == []
    returned = client.get("/payouts/onboarding/return/", follow=True)
    assert b'data-state="payouts-enabled"' in returned.content
    refreshed = client.get("/payouts/onboarding/refresh/")
    assert refreshed.status_code == 302 and refreshed.url != to_stripe.url


def test_account_updated_keeps_requirements_current(paid_seller, stripe_sandbox, deliver):
    seller = paid_seller()
    account = ConnectAccount.objects.get(seller=seller)
    stripe_sandbox.complete_account(
        account.stripe_account_id, payouts_enabled="0", requirements=["individual.verification.document"]
    )

    deliver(stripe_sandbox.connect_events("account.updated")[0])

    account.refresh_from_db()
    assert not account.payouts_enabled
    assert account.outstanding_requirements == ["individual.verification.document"]


def test_account_updated_for_an_unknown_account_changes_nothing(stripe_sandbox, deliver, connect_api):
    stranger = connect_api.v1.accounts.create({"type": "express"})
    stripe_sandbox.complete_account(stranger.id)

    deliver(stripe_sandbox.connect_events("account.updated")[0])

    stored = StripeEvent.objects.get()
    assert stored.status == StripeEvent.Status.FAILED and stored.error.startswith("not_found")
    assert not ConnectAccount.objects.exists()


def test_the_sweep_pays_balances_past_the_threshold(buyer, paid_seller, stripe_sandbox, connect_api, deliver):
    seller, small = paid_seller(), paid_seller()
    earn(buyer, seller, 6_00)
    earn(buyer, seller, 7_50)
    earn(buyer, small, 9_99)  # below €10: waits

    assert services.payout_sweep() == 1

    payout = Payout.objects.get()
    assert (payout.seller_id, payout.amount, payout.status) == (seller.pk, 13_50, P.IN_TRANSIT)
    transfer = connect_api.v1.transfers.retrieve(payout.transfer_id)
    assert transfer.amount == 13_50 and transfer.destination == payout.connect_account.stripe_account_id
    assert transfer.transfer_group == payout.transfer_group == f"payout:{payout.pk}"
    assert ledger.seller_payable(seller.pk) == 0 and ledger.seller_payable(small.pk) == 9_99
    assert LedgerTransaction.objects.filter(kind="payout").count() == 1
    assert stripe_sandbox.connected_balance(payout.connect_account.stripe_account_id) == 13_50
    # transfer.created arrives: already recorded, nothing more is posted
    deliver(stripe_sandbox.connect_events("transfer.created")[0])
    assert StripeEvent.objects.get().status == StripeEvent.Status.SUCCEEDED
    assert LedgerTransaction.objects.filter(kind="payout").count() == 1
    assert services.payout_sweep() == 0


def test_no_payout_before_payouts_are_enabled(buyer, stripe_sandbox, connect_api):
    from tests.factories import SellerFactory

    seller = SellerFactory()
    services.connect_account_ensure(seller_id=seller.pk)
    earn(buyer, seller, 50_00)

    assert services.payout_sweep() == 0
    assert not Payout.objects.exists() and connect_api.v1.transfers.list().data == []


def test_a_refused_transfer_fails_the_payout_and_keeps_the_balance(buyer, paid_seller, stripe_sandbox):
    seller = paid_seller()
    earn(buyer, seller, 20_00)
    account = ConnectAccount.objects.get(seller=seller)
    stripe_sandbox.complete_account(account.stripe_account_id, payouts_enabled="0")  # we have not heard yet

    services.payout_sweep()

    payout = Payout.objects.get()
    assert payout.status == P.FAILED and payout.failure_code == "insufficient_capabilities_for_transfer"
    assert ledger.seller_payable(seller.pk) == 20_00
    assert not LedgerTransaction.objects.filter(kind="payout").exists()
    stripe_sandbox.complete_account(account.stripe_account_id)
    services.payout_sweep()
    assert Payout.objects.filter(status=P.IN_TRANSIT, amount=20_00).count() == 1


def test_bank_payouts_mark_transfers_paid_or_failed(buyer, paid_seller, stripe_sandbox, deliver):
    seller = paid_seller()
    earn(buyer, seller, 30_00)
    services.payout_sweep()
    account = ConnectAccount.objects.get(seller=seller)

    stripe_sandbox.bank_payout(account.stripe_account_id, status="paid")
    deliver(stripe_sandbox.connect_events("payout.paid")[0])

    payout = Payout.objects.get()
    assert payout.status == P.PAID and payout.stripe_payout_id.startswith("po_")

    earn(buyer, seller, 12_00)
    services.payout_sweep()
    stripe_sandbox.bank_payout(account.stripe_account_id, status="failed")
    deliver(stripe_sandbox.connect_events("payout.failed")[0])

    second = Payout.objects.exclude(pk=payout.pk).get()
    assert second.status == P.FAILED and "bank" in second.failure_message.lower()
    assert Payout.objects.get(pk=payout.pk).status == P.PAID


def test_concurrent_sweeps_pay_once(buyer, paid_seller, connect_api):
    seller = paid_seller()
    earn(buyer, seller, 40_00)
    barrier = threading.Barrier(4)
    errors = []

    def sweep():
        try:
            barrier.wait()
            services.payout_sweep()
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert Payout.objects.count() == 1
    assert len(connect_api.v1.transfers.list().data) == 1
    assert ledger.seller_payable(seller.pk) == 0

"""One lock order (core.locks.LOCK_ORDER), checked by the one lock helper; consent-change
handlers run in their declared stage order, not in INSTALLED_APPS order."""

from __future__ import annotations

import pytest
from django.db import transaction

from accounts import hooks
from accounts.models import ConsentGrant
from core.locks import LOCK_ORDER, LockOrderViolation, lock_rows
from listings.models import Listing
from marketplace.models import Bid

pytestmark = pytest.mark.django_db


def test_the_lock_order_is_the_documented_one():
    assert LOCK_ORDER == (
        "accounts.ConsentGrant",
        "listings.Listing",
        "marketplace.Bid",
        "marketplace.Trade",
        "marketplace.TradeLine",
        "marketplace.AccessGrant",
        "payments.Payment",
        "payments.Payout",
    )


def test_locking_in_order_is_allowed():
    with transaction.atomic(durable=True):
        lock_rows(ConsentGrant.objects.all())
        lock_rows(Listing.objects.all())
        lock_rows(Bid.objects.all())
        lock_rows(Bid.objects.all())  # again: the same rank is fine


def test_locking_against_the_order_in_one_transaction_raises():
    with pytest.raises(LockOrderViolation, match="accounts.ConsentGrant locked after listings.Listing"):
        with transaction.atomic(durable=True):
            lock_rows(Listing.objects.all())
            lock_rows(ConsentGrant.objects.all())


def test_each_transaction_starts_afresh():
    with transaction.atomic(durable=True):
        lock_rows(Bid.objects.all())
    with transaction.atomic(durable=True):
        lock_rows(ConsentGrant.objects.all())


def test_consent_handlers_run_listings_first_then_marketplace():
    from listings import receivers as listing_receivers
    from marketplace import services as marketplace_services

    assert hooks._consent_change_handlers == [
        listing_receivers.on_consent_change,
        marketplace_services.on_consent_change,
    ]


def test_a_stage_takes_one_handler():
    def other(changes, reason):
        return None

    with pytest.raises(ValueError, match="LISTINGS"):
        hooks.register_consent_change_handler(other, stage=hooks.ConsentHandlerStage.LISTINGS)

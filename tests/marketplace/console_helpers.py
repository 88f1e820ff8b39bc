"""Shared by the console view tests: members of each role, and a paid settlement batch."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from accounts import services
from accounts.models import BuyerOrganisation, User
from marketplace.models import Bid, SettlementBatch, Trade, TradeLine
from payments.models import Payment
from tests.marketplace.conftest import active_listing

PASSWORD = "un mot de passe solide"


def member(organisation: BuyerOrganisation, role: str = "owner", email: str | None = None) -> User:
    return services.buyer_member_create(
        organisation=organisation,
        email=email or f"{role}{User.objects.count()}@annonceur.example",
        password=PASSWORD,
        organisation_role=role,
    )


def paid_batch(organisation: BuyerOrganisation, *, price: int = 500, trades: int = 2) -> Payment:
    """A settlement batch of `trades` settled trades of one record each, paid and captured."""
    from accounts import taxonomy

    batch = SettlementBatch.objects.create(organisation=organisation, authorised_cents=price * trades)
    for _ in range(trades):
        listing = active_listing(pricing_mode="fixed", floor=price)
        bid = Bid.objects.create(
            organisation=organisation,
            kind=Bid.Kind.BUY_NOW,
            listing=listing,
            amount_cents=price,
            purpose="targeted_advertising",
            licence_days=30,
            status=Bid.Status.WON,
        )
        trade = Trade.objects.create(
            organisation=organisation,
            bid=bid,
            listing=listing,
            purpose="targeted_advertising",
            licence_days=30,
            price_per_record_cents=price,
            status=Trade.Status.SETTLED,
            charged_cents=price,
            fee_bps=1500,
            batch=batch,
        )
        TradeLine.objects.create(
            trade=trade,
            seller=listing.seller,
            categories_mask=taxonomy.mask_of(["demographics"], taxonomy.CATEGORY_CODES),
            price_cents=price,
            status=TradeLine.Status.DELIVERED,
        )
    return Payment.objects.create(
        reference=batch.payment_reference,
        organisation=organisation,
        customer=organisation.stripe_customer,
        amount=price * trades,
        amount_captured=price * trades,
        status=Payment.Status.CAPTURED,
        payment_method_id="pm_card_visa",
        created_at=timezone.now() - timedelta(minutes=1),
    )

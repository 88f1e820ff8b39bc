"""Stripe Connect onboarding for sellers. (The earnings and payouts page, which also shows sales by
category and buyer, is marketplace/views_seller.py.)

Onboarding goes through Stripe's hosted pages (Account Links): our refresh URL makes a new link
when one expired; our return URL re-reads the account from Stripe (the webhook also will).
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts.views import SellerRequest, seller_required
from core.errors import ServiceError
from payments import selectors, services


def _to_stripe(request: SellerRequest) -> HttpResponseRedirect:
    try:
        url = services.connect_onboarding_link_create(
            seller_id=request.user.pk,
            refresh_url=request.build_absolute_uri(reverse("seller-payouts-refresh")),
            return_url=request.build_absolute_uri(reverse("seller-payouts-return")),
        )
    except ServiceError as exc:
        messages.error(request, _("Payout setup is unavailable right now: %(why)s") % {"why": exc.message})
        return redirect("seller-payouts")
    return redirect(url)


@require_POST
@seller_required
def onboarding_start(request: SellerRequest) -> HttpResponseRedirect:
    return _to_stripe(request)


@require_GET
@seller_required
def onboarding_refresh(request: SellerRequest) -> HttpResponseRedirect:
    return _to_stripe(request)


@require_GET
@seller_required
def onboarding_return(request: SellerRequest) -> HttpResponseRedirect:
    account = selectors.seller_earnings(seller_id=request.user.pk).connect_account
    if account and account.stripe_account_id:
        try:
            account = services.connect_account_sync(stripe_account_id=account.stripe_account_id)
        except ServiceError:
            pass  # the account.updated webhook will bring it up to date
        if account.payouts_enabled:
            messages.success(request, _("Payouts are set up: your earnings will be sent to your bank."))
        else:
            messages.warning(request, _("Stripe still needs some details before it can pay you."))
    return redirect("seller-payouts")

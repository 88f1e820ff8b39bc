"""Sellers' Stripe Connect (Express) accounts: creation, onboarding links, sync."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from core.errors import Forbidden
from payments.models import ConnectAccount
from payments.services._common import UnknownStripeObject, _get, _now, _required
from payments.stripe_calls import StripeData, create_once, created_since, stripe_id, stripe_reachable
from payments.stripe_client import connect_client

# --- Sellers: Connect accounts --------------------------------------------------------------------


def connect_account_ensure(*, seller_id: int) -> ConnectAccount:
    """The seller's Express account, created at Stripe on first use."""
    seller = get_user_model().objects.filter(pk=seller_id).first()
    if seller is None or seller.role != "seller" or seller.erased_at or not seller.is_active:
        raise Forbidden("not_a_seller", "Only an active seller can be paid.")
    with transaction.atomic(durable=True):
        account, _created = ConnectAccount.objects.get_or_create(seller=seller)
    if account.stripe_account_id:
        return account
    api = connect_client().v1
    created = create_once(
        account,
        lambda: api.accounts.create(
            {
                "type": "express",
                "country": settings.STRIPE_CONNECT_COUNTRY,
                "email": seller.email,
                "business_type": "individual",
                "capabilities": {"transfers": {"requested": True}},
                "metadata": {"courtier_seller_id": str(seller.pk)},
            },
            {"idempotency_key": account.idempotency_key("create")},
        ),
        listed=lambda: api.accounts.list(
            {"created": created_since(account), "limit": 100}
        ).auto_paging_iter(),
        ours=("courtier_seller_id", seller.pk),
        since=account.created_at,
    )
    with transaction.atomic(durable=True):
        account = ConnectAccount.objects.select_for_update().get(pk=account.pk)
        if not account.stripe_account_id:
            account.stripe_account_id = created["id"]
            _copy_account_state(account, created)
            account.save()
    return account


def _copy_account_state(account: ConnectAccount, data: StripeData) -> None:
    account.payouts_enabled = bool(_required(data, "payouts_enabled"))
    account.charges_enabled = bool(_required(data, "charges_enabled"))
    account.details_submitted = bool(_required(data, "details_submitted"))
    requirements = _get(data, "requirements", {})
    account.requirements = {
        name: _get(requirements, name)
        for name in ("currently_due", "past_due", "eventually_due", "disabled_reason", "current_deadline")
    }
    account.updated_at = _now()


def connect_onboarding_link_create(*, seller_id: int, refresh_url: str, return_url: str) -> str:
    """A one-time Stripe-hosted onboarding URL (Account Link) for the seller's Express account.

    Account Links are single-use and expire within minutes, so each request makes a new one.
    """
    account = connect_account_ensure(seller_id=seller_id)
    with stripe_reachable():
        link = connect_client().v1.account_links.create(
            {
                "account": stripe_id(account.stripe_account_id),
                "refresh_url": refresh_url,
                "return_url": return_url,
                "type": "account_onboarding",
            }
        )
    url: str = link["url"]
    return url


def connect_account_sync(*, stripe_account_id: str) -> ConnectAccount:
    """Refresh payouts_enabled and the outstanding requirements from Stripe (account.updated)."""
    if not ConnectAccount.objects.filter(stripe_account_id=stripe_account_id).exists():
        raise UnknownStripeObject("not_found", f"No seller has Connect account {stripe_account_id}.")
    with stripe_reachable():
        data = connect_client().v1.accounts.retrieve(stripe_account_id)
    with transaction.atomic(durable=True):
        account = ConnectAccount.objects.select_for_update().get(stripe_account_id=stripe_account_id)
        _copy_account_state(account, data)
        account.save()
    return account

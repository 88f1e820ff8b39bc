"""Reads for payments: querysets and small summaries for the API, the seller pages and the admin."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet, Sum

from payments import ledger
from payments.models import (
    ConnectAccount,
    LedgerAccount,
    Payment,
    Payout,
    ReconciliationIssue,
    StripeCustomer,
    StripeEvent,
)


def payments_of_organisation(*, organisation_id: int) -> QuerySet[Payment]:
    return Payment.objects.filter(organisation_id=organisation_id).order_by("-created_at", "-pk")


def payment_of_reference(*, reference: str) -> Payment | None:
    """The latest payment for a caller's reference (e.g. "trade:42")."""
    return Payment.objects.filter(reference=reference).order_by("-created_at", "-pk").first()


def customer_of_organisation(*, organisation_id: int) -> StripeCustomer | None:
    return StripeCustomer.objects.filter(organisation_id=organisation_id).first()


def has_payment_method(*, organisation_id: int) -> bool:
    return (
        StripeCustomer.objects.filter(organisation_id=organisation_id)
        .exclude(default_payment_method_id="")
        .exists()
    )


@dataclass(frozen=True)
class SellerEarnings:
    currency: str
    payable: int  # earned, not yet transferred
    receivable: int  # owed back to the platform
    in_flight: int  # payouts waiting for their transfer
    paid_out: int  # transferred, less reversals
    connect_account: ConnectAccount | None


def seller_earnings(*, seller_id: int, currency: str = "EUR") -> SellerEarnings:
    receivable = LedgerAccount.objects.filter(
        purpose=LedgerAccount.Purpose.SELLER_RECEIVABLE, seller_id=seller_id, currency=currency
    ).first()
    payouts = Payout.objects.filter(seller_id=seller_id, currency=currency)
    sent = payouts.exclude(status=Payout.Status.PENDING).exclude(transfer_id__isnull=True)
    totals = sent.aggregate(amount=Sum("amount"), reversed=Sum("amount_reversed"))
    return SellerEarnings(
        currency=currency,
        payable=ledger.seller_payable(seller_id, currency),
        receivable=ledger.account_balance(receivable) if receivable else 0,
        in_flight=payouts.filter(status=Payout.Status.PENDING).aggregate(t=Sum("amount"))["t"] or 0,
        paid_out=(totals["amount"] or 0) - (totals["reversed"] or 0),
        connect_account=ConnectAccount.objects.filter(seller_id=seller_id).first(),
    )


def payouts_of_seller(*, seller_id: int) -> QuerySet[Payout]:
    return Payout.objects.filter(seller_id=seller_id).order_by("-created_at", "-pk")


def reconciliation_issues_open() -> QuerySet[ReconciliationIssue]:
    return ReconciliationIssue.objects.filter(resolved_at__isnull=True).order_by("-detected_at")


def stripe_events_failed() -> QuerySet[StripeEvent]:
    return StripeEvent.objects.filter(status=StripeEvent.Status.FAILED).order_by("-received_at")

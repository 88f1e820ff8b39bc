"""Reads for payments: querysets and small summaries for the API, the seller pages and the admin."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db.models import Count, Exists, QuerySet, Sum
from django.db.models.functions import TruncMonth

from payments import ledger
from payments.models import (
    ConnectAccount,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Payment,
    Payout,
    SettlementShare,
    StripeCustomer,
)


def payments_of_organisation(*, organisation_id: int) -> QuerySet[Payment]:
    return Payment.objects.filter(organisation_id=organisation_id).order_by("-created_at", "-pk")


def payment_of_organisation(*, organisation_id: int, public_id: Any) -> Payment | None:
    return Payment.objects.filter(organisation_id=organisation_id, public_id=public_id).first()


def organisation_spend_by_month(*, organisation_id: int, months: int = 12) -> list[dict[str, Any]]:
    """Captured money net of refunds, per calendar month (UTC) and currency, newest first:
    [{"month": date, "currency": "EUR", "captured": …, "refunded": …, "net": …, "payments": n}]."""
    rows = (
        Payment.objects.filter(organisation_id=organisation_id, status__in=Payment.CAPTURED_STATES)
        .annotate(month=TruncMonth("created_at", tzinfo=UTC))
        .values("month", "currency")
        .annotate(captured=Sum("amount_captured"), refunded=Sum("amount_refunded"), payments=Count("pk"))
        .order_by("-month", "currency")[:months]
    )
    return [{**row, "net": row["captured"] - row["refunded"]} for row in rows]


def payment_of_reference(*, reference: str) -> Payment | None:
    """The latest payment for a caller's reference (e.g. "trade:42")."""
    return Payment.objects.filter(reference=reference).order_by("-created_at", "-pk").first()


def customer_of_organisation(*, organisation_id: int) -> StripeCustomer | None:
    return StripeCustomer.objects.filter(organisation_id=organisation_id).first()


def has_payment_method(*, organisation_id: int) -> bool:
    return _with_payment_method(organisation_id).exists()


def has_payment_method_expression(*, organisation_id: int) -> Exists:
    """`has_payment_method` as a boolean expression, for another query to read in the same statement."""
    return Exists(_with_payment_method(organisation_id))


def _with_payment_method(organisation_id: int) -> QuerySet[StripeCustomer]:
    return StripeCustomer.objects.filter(organisation_id=organisation_id).exclude(
        default_payment_method_id=""
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


def connect_account_of_seller(*, seller_id: int) -> ConnectAccount | None:
    return ConnectAccount.objects.filter(seller_id=seller_id).first()


def payouts_of_seller(*, seller_id: int) -> QuerySet[Payout]:
    return Payout.objects.filter(seller_id=seller_id).order_by("-created_at", "-pk")


# ---------------------------------------------------------------------------------------------
# GDPR export (Art. 15 / 20): a seller's earnings, payouts and payout account, registered from
# PaymentsConfig.ready. One or two queries per section, whatever the number of sales.
# ---------------------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def seller_export_earnings(seller: Any) -> list[dict[str, Any]]:
    """Every movement on the seller's ledger accounts, signed from the seller's side: a sale
    settled to them is positive, a payout or an amount owed back negative."""
    entries = (
        LedgerEntry.objects.filter(account__seller_id=seller.pk)
        .select_related("transaction", "account")
        .order_by("transaction__created_at", "pk")
    )
    return [
        {
            "kind": entry.transaction.kind,
            "account": entry.account.purpose,
            "reference": entry.transaction.reference,
            # the seller's accounts are a liability (payable) and an asset (receivable): a credit
            # (negative) on either is in the seller's favour
            "amount_cents": -entry.amount,
            "currency": entry.currency,
            "created_at": _iso(entry.transaction.created_at),
        }
        for entry in entries
    ]


def seller_export_sale_shares(seller: Any) -> list[dict[str, Any]]:
    """How each settled payment was split for the seller: gross, platform fee, net."""
    shares = SettlementShare.objects.filter(seller_id=seller.pk).select_related("payment").order_by("pk")
    return [
        {
            "reference": share.payment.reference,
            "gross_cents": share.gross,
            "fee_cents": share.fee,
            "net_cents": share.net,
            "currency": share.currency,
        }
        for share in shares
    ]


def seller_export_payouts(seller: Any) -> list[dict[str, Any]]:
    payouts = (
        Payout.objects.filter(seller_id=seller.pk).prefetch_related("events").order_by("created_at", "pk")
    )
    return [
        {
            "amount_cents": payout.amount,
            "amount_reversed_cents": payout.amount_reversed,
            "currency": payout.currency,
            "status": payout.status,
            "failure_code": payout.failure_code,
            "created_at": _iso(payout.created_at),
            "transferred_at": _iso(payout.transferred_at),
            "history": [
                {
                    "from_status": event.from_status,
                    "to_status": event.to_status,
                    "reason": event.reason,
                    "occurred_at": _iso(event.occurred_at),
                }
                for event in payout.events.all()
            ],
        }
        for payout in payouts
    ]


def seller_export_payout_account(seller: Any) -> dict[str, Any] | None:
    """The payout (Stripe Connect) account's status; Stripe's own ids stay out (technical)."""
    account = ConnectAccount.objects.filter(seller_id=seller.pk).first()
    if account is None:
        return None
    return {
        "created": account.stripe_account_id is not None,
        "details_submitted": account.details_submitted,
        "payouts_enabled": account.payouts_enabled,
        "outstanding_requirements": account.outstanding_requirements,
        "created_at": _iso(account.created_at),
        "updated_at": _iso(account.updated_at),
    }


seller_export_earnings.covers = ("payments.LedgerAccount", "payments.LedgerEntry")  # type: ignore[attr-defined]
seller_export_sale_shares.covers = ("payments.SettlementShare",)  # type: ignore[attr-defined]
seller_export_payouts.covers = ("payments.Payout", "payments.PayoutEvent")  # type: ignore[attr-defined]
seller_export_payout_account.covers = ("payments.ConnectAccount",)  # type: ignore[attr-defined]
# Labels for the codes of these sections, for the My data page (accounts cannot import payments).
seller_export_earnings.choices = {  # type: ignore[attr-defined]
    "kind": dict(LedgerTransaction.Kind.choices),
    "account": dict(LedgerAccount.Purpose.choices),
}
seller_export_payouts.choices = {  # type: ignore[attr-defined]
    "status": dict(Payout.Status.choices),
    "from_status": dict(Payout.Status.choices),
    "to_status": dict(Payout.Status.choices),
}

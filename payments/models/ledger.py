"""Double-entry ledger. Entries carry signed integer minor units: debit > 0, credit < 0.

The database enforces (migration 0002): every transaction's entries sum to zero per currency at
commit (a deferred constraint trigger), there are at least two of them, an entry's currency is
its account's, and transactions and entries are never updated or deleted. Corrections are
reversing transactions.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class LedgerAccount(models.Model):
    class Kind(models.TextChoices):
        ASSET = "asset", _("Asset")
        LIABILITY = "liability", _("Liability")
        REVENUE = "revenue", _("Revenue")
        EXPENSE = "expense", _("Expense")

    class Purpose(models.TextChoices):
        STRIPE_BALANCE = "stripe_balance", _("Platform's Stripe balance")
        BUYER_CHARGES = "buyer_charges", _("Buyer charges awaiting settlement")
        SELLER_PAYABLE = "seller_payable", _("Payable to a seller")
        SELLER_RECEIVABLE = "seller_receivable", _("Receivable from a seller")
        PLATFORM_FEES = "platform_fees", _("Platform fees")
        REFUNDS = "refunds", _("Refunds")
        DISPUTES = "disputes", _("Disputes")
        STRIPE_FEES = "stripe_fees", _("Stripe fees")

    code = models.CharField(max_length=80, unique=True)
    purpose = models.CharField(max_length=24, choices=Purpose.choices)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    currency = models.CharField(max_length=3)
    seller = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            # the target of the entries' (account, currency) foreign key
            models.UniqueConstraint(fields=["id", "currency"], name="ledger_account_id_currency"),
            models.UniqueConstraint(
                fields=["purpose", "seller", "currency"],
                condition=Q(seller__isnull=False),
                name="ledger_one_account_per_seller_purpose",
            ),
        ]

    def __str__(self) -> str:
        return self.code


class LedgerTransaction(models.Model):
    APPEND_ONLY = True  # the database refuses UPDATE and DELETE (core.append_only)

    class Kind(models.TextChoices):
        CAPTURE = "capture", _("Buyer payment captured")
        SETTLEMENT = "settlement", _("Sale settled to the seller")
        PAYOUT = "payout", _("Payout to a seller")
        PAYOUT_REVERSAL = "payout_reversal", _("Payout reversed")
        REFUND = "refund", _("Refund to a buyer")
        DISPUTE = "dispute", _("Dispute opened")
        DISPUTE_WON = "dispute_won", _("Dispute won")
        REVERSAL = "reversal", _("Correction (reverses a transaction)")
        STRIPE_FEE = "stripe_fee", _("Fee taken by Stripe")

    kind = models.CharField(max_length=16, choices=Kind.choices)
    # An opaque reference owned by the caller ("trade:42", "payout:7"): payments knows no trades.
    reference = models.CharField(max_length=80, db_index=True)
    idempotency_key = models.CharField(max_length=120, unique=True)
    reverses = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by"
    )
    memo = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"{self.kind} {self.reference}"


class LedgerEntry(models.Model):
    APPEND_ONLY = True  # the database refuses UPDATE and DELETE (core.append_only)

    transaction = models.ForeignKey(LedgerTransaction, on_delete=models.PROTECT, related_name="entries")
    # indexed by ledger_entry_account (account, amount), which also serves balances
    account = models.ForeignKey(
        LedgerAccount, on_delete=models.PROTECT, related_name="entries", db_index=False
    )
    amount = models.BigIntegerField(help_text=_("minor units; debit > 0, credit < 0"))
    currency = models.CharField(max_length=3)

    class Meta:
        constraints = [models.CheckConstraint(condition=~Q(amount=0), name="ledger_entry_not_zero")]
        indexes = [models.Index(fields=["account", "amount"], name="ledger_entry_account")]

    def __str__(self) -> str:
        return f"{self.account_id} {self.amount} {self.currency}"

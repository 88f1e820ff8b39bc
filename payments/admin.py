"""Moderators' view of money: read-only. Nothing here edits an amount or a status by hand; the
only actions call services (reprocess a failed Stripe event, run reconciliation, resolve an issue
with a note, try to collect a seller's receivable)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, TypedDict, cast

from django.contrib import admin, messages
from django.db.models import Model, QuerySet, Sum
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from core import admin_display
from core.admin import ReadOnlyAdmin, ReadOnlyInline, action_with_reason
from core.errors import ServiceError
from core.money import format_amount
from payments import ledger, selectors, services, webhooks
from payments.models import (
    ConnectAccount,
    Dispute,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Payment,
    PaymentEvent,
    Payout,
    PayoutEvent,
    PayoutReversal,
    ReconciliationIssue,
    ReconciliationRun,
    Refund,
    SettlementShare,
    StripeCustomer,
    StripeEvent,
)

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations  # dev-only package: for the type checker


class _Total(TypedDict):  # LedgerAccountAdmin.get_queryset's annotation
    total: int | None


def _unpark(
    model_admin: admin.ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[Model], kind: str
) -> None:
    count = services.payments_unpark(kind=kind, ids=list(queryset.values_list("pk", flat=True)))
    model_admin.message_user(request, _("%d sent back to the resume sweep.") % count)


class PaymentEventInline(ReadOnlyInline):
    model = PaymentEvent
    fields = (
        "occurred_at",
        "from_status",
        "to_status",
        "reason",
        "delivered_at",
        "attempts",
        "last_error",
        "parked_at",
    )
    readonly_fields = fields


class RefundInline(ReadOnlyInline):
    model = Refund
    fields = (
        "created_at",
        "kind",
        "amount",
        "currency",
        "status",
        "stripe_refund_id",
        "reason",
        "failure_message",
        "last_error",
        "parked_at",
    )
    readonly_fields = fields


class DisputeInline(ReadOnlyInline):
    model = Dispute
    fields = (
        "opened_at",
        "stripe_dispute_id",
        "amount",
        "currency",
        "reason",
        "status",
        "stripe_status",
        "closed_at",
    )
    readonly_fields = fields


class SettlementShareInline(ReadOnlyInline):
    model = SettlementShare
    fields = ("seller", "gross", "fee", "net", "currency")
    readonly_fields = fields


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = [
        "reference",
        "organisation",
        "amount_display",
        "status",
        "failure_code",
        "created_at",
        "parked_at",
        "last_error",
    ]
    list_filter = ["status", "mode", "currency", ("parked_at", admin.EmptyFieldListFilter)]
    actions = ["unpark"]
    search_fields = [
        "reference",
        "public_id",
        "stripe_payment_intent_id",
        "stripe_charge_id",
        "organisation__legal_name",
    ]
    date_hierarchy = "created_at"
    list_select_related = ["organisation"]
    inlines = [PaymentEventInline, RefundInline, DisputeInline, SettlementShareInline]

    @admin.display(description=_("amount"), ordering="amount")
    def amount_display(self, obj: Payment) -> str:
        return format_amount(obj.amount, obj.currency)

    @admin.action(description=_("Resume the selected parked payments (retried by the next sweep)"))
    def unpark(self, request: HttpRequest, queryset: QuerySet[Payment]) -> None:
        _unpark(self, request, queryset, "payment")


@admin.register(StripeCustomer)
class StripeCustomerAdmin(ReadOnlyAdmin):
    list_display = ["organisation", "stripe_customer_id", "card_brand", "card_last4", "updated_at"]
    search_fields = ["organisation__legal_name", "stripe_customer_id"]


@admin.register(ConnectAccount)
class ConnectAccountAdmin(ReadOnlyAdmin):
    list_display = ["seller", "stripe_account_id", "payouts_enabled", "payable", "receivable", "updated_at"]
    list_filter = ["payouts_enabled", "details_submitted"]
    search_fields = ["seller__pseudonym", "stripe_account_id"]
    list_select_related = ["seller"]
    actions = ["recover_receivables"]

    @admin.display(description=_("payable"))
    def payable(self, obj: ConnectAccount) -> str:
        return format_amount(ledger.seller_payable(obj.seller_id), "EUR")

    @admin.display(description=_("owed back"))
    def receivable(self, obj: ConnectAccount) -> str:
        return format_amount(selectors.seller_earnings(seller_id=obj.seller_id).receivable, "EUR")

    @admin.action(description=_("Try to collect what the selected sellers owe (reverse transfers)"))
    def recover_receivables(self, request: HttpRequest, queryset: QuerySet[ConnectAccount]) -> None:
        total = 0
        for account in queryset:
            try:
                total += services.payout_recover(seller_id=account.seller_id)
            except ServiceError as exc:
                self.message_user(request, f"{account}: {exc.message}", messages.ERROR)
        self.message_user(request, _("Recovered %s.") % format_amount(total, "EUR"))


class PayoutEventInline(ReadOnlyInline):
    model = PayoutEvent
    fields = ("occurred_at", "from_status", "to_status", "reason")
    readonly_fields = fields


class PayoutReversalInline(ReadOnlyInline):
    model = PayoutReversal
    fields = (
        "created_at",
        "amount",
        "status",
        "stripe_reversal_id",
        "failure_message",
        "last_error",
        "parked_at",
    )
    readonly_fields = fields


@admin.register(Payout)
class PayoutAdmin(ReadOnlyAdmin):
    list_display = [
        "pk",
        "seller",
        "amount",
        "amount_reversed",
        "currency",
        "status",
        "transfer_id",
        "created_at",
        "parked_at",
        "last_error",
    ]
    list_filter = ["status", "currency", ("parked_at", admin.EmptyFieldListFilter)]
    search_fields = ["seller__pseudonym", "transfer_id", "transfer_group", "stripe_payout_id"]
    actions = ["unpark"]

    @admin.action(description=_("Resume the selected parked payouts (retried by the next sweep)"))
    def unpark(self, request: HttpRequest, queryset: QuerySet[Payout]) -> None:
        _unpark(self, request, queryset, "payout")

    date_hierarchy = "created_at"
    list_select_related = ["seller"]
    inlines = [PayoutEventInline, PayoutReversalInline]


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    list_display = ["event_id", "type", "status", "attempts", "received_at", "processed_at", "short_error"]
    list_filter = ["status", "type"]
    search_fields = ["event_id", "account"]
    date_hierarchy = "received_at"
    actions = ["reprocess"]
    exclude = ["payload"]  # shown redacted: a seller's Connect account carries their details
    readonly_fields = ["payload_redacted"]

    @admin.display(description=_("error"))
    def short_error(self, obj: StripeEvent) -> str:
        return obj.error[:120]

    @admin.display(description=_("payload (personal details redacted)"))
    def payload_redacted(self, obj: StripeEvent) -> str:
        return format_html("<pre>{}</pre>", json.dumps(admin_display.redacted(obj.payload), indent=2))

    @admin.action(description=_("Process the selected failed events again"))
    def reprocess(self, request: HttpRequest, queryset: QuerySet[StripeEvent]) -> None:
        results: dict[str, int] = {}
        for event in queryset.filter(status=StripeEvent.Status.FAILED):
            try:
                status = webhooks.webhook_reprocess(event_id=event.pk)
            except Exception as exc:  # transient: it stays failed and says why
                status = f"failed ({exc})"
            results[status] = results.get(status, 0) + 1
        self.message_user(
            request, ", ".join(f"{n} {status}" for status, n in results.items()) or _("Nothing to do.")
        )


@admin.register(ReconciliationIssue)
class ReconciliationIssueAdmin(ReadOnlyAdmin):
    list_display = [
        "detected_at",
        "kind",
        "stripe_object_id",
        "stripe_amount",
        "ledger_amount",
        "detail",
        "resolved_at",
    ]
    list_filter = ["kind", ("resolved_at", admin.EmptyFieldListFilter)]
    search_fields = ["stripe_object_id", "balance_transaction_id", "detail"]
    actions = ["resolve"]

    @admin.action(description=_("Mark as resolved (with a note)"))
    def resolve(
        self, request: HttpRequest, queryset: QuerySet[ReconciliationIssue]
    ) -> TemplateResponse | None:
        return action_with_reason(
            self,
            request,
            queryset,
            _("Resolve reconciliation issues"),
            lambda issue, reason: services.reconciliation_issue_resolve(
                issue_id=issue.pk,
                moderator=cast(User, request.user),  # the admin site lets in only logged-in staff
                resolution=reason,
            ),
        )


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyAdmin):
    list_display = [
        "started_at",
        "window_start",
        "balance_transactions",
        "ledger_transactions",
        "matched",
        "issues",
        "fees_posted",
    ]
    actions = ["run_now"]

    @admin.action(description=_("Run a reconciliation now (selection ignored)"))
    def run_now(self, request: HttpRequest, queryset: QuerySet[ReconciliationRun]) -> None:
        try:
            run = services.reconciliation_run()
        except ServiceError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        self.message_user(
            request,
            _("%(matched)d matched, %(issues)d issues.") % {"matched": run.matched, "issues": run.issues},
        )


class LedgerEntryInline(ReadOnlyInline):
    model = LedgerEntry
    fields = ("account", "amount", "currency")
    readonly_fields = fields


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "kind", "reference", "idempotency_key", "memo"]
    list_filter = ["kind"]
    search_fields = ["reference", "idempotency_key", "memo"]
    date_hierarchy = "created_at"
    inlines = [LedgerEntryInline]


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdmin):
    list_display = ["code", "purpose", "kind", "currency", "seller", "balance"]
    list_filter = ["purpose", "kind", "currency"]
    search_fields = ["code", "seller__pseudonym"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[LedgerAccount]:
        accounts: QuerySet[LedgerAccount] = (
            super().get_queryset(request).annotate(total=Sum("entries__amount"))
        )
        return accounts

    @admin.display(description=_("balance (debit +)"), ordering="total")
    def balance(self, obj: WithAnnotations[LedgerAccount, _Total]) -> str:
        return format_amount(obj.total or 0, obj.currency)

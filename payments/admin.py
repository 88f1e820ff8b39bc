"""Moderators' view of money: read-only. Nothing here edits an amount or a status by hand; the
only actions call services (reprocess a failed Stripe event, run reconciliation, resolve an issue
with a note, try to collect a seller's receivable)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, TypedDict, cast

from django.contrib import admin, messages
from django.db.models import QuerySet, Sum
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from core import admin_display, admin_queues
from core.admin import ReadOnlyAdmin, ReadOnlyInline, action_with_reason, money_column
from core.errors import ServiceError
from core.money import format_money
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
    from django_stubs_ext import StrOrPromise, WithAnnotations  # dev-only package: for the type checker


class _Total(TypedDict):  # LedgerAccountAdmin.get_queryset's annotation
    total: int | None


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
        "amount_shown",
        "status",
        "stripe_refund_id",
        "reason",
        "failure_message",
        "last_error",
        "parked_at",
    )
    readonly_fields = fields

    amount_shown = money_column("amount", "currency", _("amount"))


class DisputeInline(ReadOnlyInline):
    model = Dispute
    fields = (
        "opened_at",
        "stripe_dispute_id",
        "amount_shown",
        "reason",
        "status",
        "stripe_status",
        "closed_at",
    )
    readonly_fields = fields

    amount_shown = money_column("amount", "currency", _("amount"))


class SettlementShareInline(ReadOnlyInline):
    model = SettlementShare
    fields = ("seller", "gross_shown", "fee_shown", "net_shown")
    readonly_fields = fields

    gross_shown = money_column("gross", "currency", _("gross"))
    fee_shown = money_column("fee", "currency", _("fee"))
    net_shown = money_column("net", "currency", _("net"))


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = [
        "reference",
        "organisation",
        "amount_shown",
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
    show_full_result_count = False  # no COUNT of the whole (large) table beside a filtered one
    inlines = [PaymentEventInline, RefundInline, DisputeInline, SettlementShareInline]

    amount_shown = money_column("amount", "currency", _("amount"))

    @admin.action(description=_("Retry the selected parked payments (resumed by the next sweep)"))
    def unpark(self, request: HttpRequest, queryset: QuerySet[Payment]) -> TemplateResponse | None:
        return action_with_reason(
            self,
            request,
            queryset,
            _("Retry payments"),
            lambda payment, reason: services.payment_retry(
                payment_id=payment.pk, moderator=cast(User, request.user), reason=reason
            ),
        )


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
        return format_money(ledger.seller_payable(obj.seller_id), "EUR")

    @admin.display(description=_("owed back"))
    def receivable(self, obj: ConnectAccount) -> str:
        return format_money(selectors.seller_earnings(seller_id=obj.seller_id).receivable, "EUR")

    @admin.action(description=_("Try to collect what the selected sellers owe (reverse transfers)"))
    def recover_receivables(self, request: HttpRequest, queryset: QuerySet[ConnectAccount]) -> None:
        total = 0
        for account in queryset:
            try:
                total += services.payout_recover(seller_id=account.seller_id)
            except ServiceError as exc:
                self.message_user(request, f"{account}: {exc.message}", messages.ERROR)
        self.message_user(request, _("Recovered %s.") % format_money(total, "EUR"))


class PayoutEventInline(ReadOnlyInline):
    model = PayoutEvent
    fields = ("occurred_at", "from_status", "to_status", "reason")
    readonly_fields = fields


class PayoutReversalInline(ReadOnlyInline):
    model = PayoutReversal
    fields = (
        "created_at",
        "amount_shown",
        "status",
        "stripe_reversal_id",
        "failure_message",
        "last_error",
        "parked_at",
    )
    readonly_fields = fields

    amount_shown = money_column("amount", "currency", _("amount"))


@admin.register(Payout)
class PayoutAdmin(ReadOnlyAdmin):
    list_display = [
        "pk",
        "seller",
        "amount_shown",
        "reversed_shown",
        "status",
        "created_at",
        "parked_at",
        "last_error",
    ]
    list_filter = ["status", "currency", ("parked_at", admin.EmptyFieldListFilter)]
    search_fields = ["seller__pseudonym", "transfer_id", "transfer_group", "stripe_payout_id"]
    actions = ["unpark"]

    @admin.action(
        description=_("Retry the selected payouts (a parked one resumes; a refused transfer is paid again)")
    )
    def unpark(self, request: HttpRequest, queryset: QuerySet[Payout]) -> TemplateResponse | None:
        return action_with_reason(
            self,
            request,
            queryset,
            _("Retry payouts"),
            lambda payout, reason: services.payout_retry(
                payout_id=payout.pk, moderator=cast(User, request.user), reason=reason
            ),
        )

    date_hierarchy = "created_at"
    list_select_related = ["seller"]
    inlines = [PayoutEventInline, PayoutReversalInline]

    amount_shown = money_column("amount", "currency", _("amount"))
    reversed_shown = money_column("amount_reversed", "currency", _("reversed"))


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    list_display = ["event_id", "type", "status", "attempts", "received_at", "processed_at", "short_error"]
    list_filter = ["status", "type"]
    search_fields = ["event_id", "account"]
    date_hierarchy = "received_at"
    show_full_result_count = False  # no COUNT of the whole (large) table beside a filtered one
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
        "stripe_shown",
        "ledger_shown",
        "detail",
        "resolved_at",
    ]
    list_filter = ["kind", ("resolved_at", admin.EmptyFieldListFilter)]
    search_fields = ["stripe_object_id", "balance_transaction_id", "detail"]
    actions = ["resolve"]

    stripe_shown = money_column("stripe_amount", "currency", _("at Stripe"))
    ledger_shown = money_column("ledger_amount", "currency", _("in the ledger"))

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
    fields = ("account", "amount_shown")
    readonly_fields = fields

    amount_shown = money_column("amount", "currency", _("amount (debit +)"))


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
        return format_money(obj.total or 0, obj.currency)


@admin.register(Dispute)
class DisputeAdmin(ReadOnlyAdmin):
    """Chargebacks: opened by the buyer's bank, followed at Stripe; here to see what is open."""

    list_display = [
        "opened_at",
        "stripe_dispute_id",
        "payment_reference",
        "amount_shown",
        "reason",
        "status",
        "closed_at",
    ]
    list_filter = ["status"]
    search_fields = ["stripe_dispute_id", "payment__reference", "payment__organisation__legal_name"]
    date_hierarchy = "opened_at"
    list_select_related = ["payment"]

    amount_shown = money_column("amount", "currency", _("amount"))

    @admin.display(description=_("payment"), ordering="payment__reference")
    def payment_reference(self, dispute: Dispute) -> str:
        return dispute.payment.reference


def _queue(
    key: str, label: StrOrPromise, count: Callable[[], int], model: str, query: str, order: int
) -> None:
    admin_queues.register(
        admin_queues.Queue(key, label, count, f"admin:payments_{model}_changelist", query, order)
    )


_queue(
    "payouts-failed",
    _("Failed payouts"),
    lambda: Payout.objects.filter(status=Payout.Status.FAILED).count(),
    "payout",
    "status__exact=failed",
    50,
)
_queue(
    "disputes-open",
    _("Open disputes"),
    lambda: Dispute.objects.filter(status=Dispute.Status.OPEN).count(),
    "dispute",
    "status__exact=open",
    60,
)
_queue(
    "stripe-events-failed",
    _("Failed Stripe events"),
    lambda: StripeEvent.objects.filter(status=StripeEvent.Status.FAILED).count(),
    "stripeevent",
    "status__exact=failed",
    70,
)
_queue(
    "payments-parked",
    _("Parked payments (left after repeated Stripe failures)"),
    lambda: Payment.objects.filter(parked_at__isnull=False).count(),
    "payment",
    "parked_at__isempty=0",
    80,
)
_queue(
    "payouts-parked",
    _("Parked payouts (left after repeated Stripe failures)"),
    lambda: Payout.objects.filter(parked_at__isnull=False).count(),
    "payout",
    "parked_at__isempty=0",
    81,
)
_queue(
    "reconciliation-open",
    _("Reconciliation mismatches to resolve"),
    lambda: ReconciliationIssue.objects.filter(resolved_at__isnull=True).count(),
    "reconciliationissue",
    "resolved_at__isempty=1",
    90,
)

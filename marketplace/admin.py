from __future__ import annotations

import json

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from accounts import taxonomy
from accounts.models import BuyerOrganisation, DeletionDutyClearance
from core import admin_queues
from core.admin import ReadOnlyAdmin, ReadOnlyInline, action_with_reason, labels_column, money_column
from marketplace import selectors, selectors_market, services, views_market
from marketplace.models import (
    AccessGrant,
    AccessLog,
    Bid,
    BidEvent,
    BuyerDeletionOverdue,
    BuyerFailingPayments,
    DeletionNotice,
    Report,
    ReportEvent,
    Trade,
    TradeEvent,
    TradeLine,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)


class BidEventInline(ReadOnlyInline):
    model = BidEvent
    fields = ["occurred_at", "from_status", "to_status", "amount", "reason"]
    readonly_fields = fields

    amount = money_column("amount_cents", description=_("amount"), currency="EUR")


@admin.register(Bid)
class BidAdmin(ReadOnlyAdmin):
    list_display = ["public_id", "organisation", "kind", "amount", "status", "created_at"]
    list_filter = ["status", "kind", "purpose"]
    search_fields = ["public_id", "organisation__legal_name", "listing__public_id"]
    list_select_related = ["organisation"]
    date_hierarchy = "created_at"
    inlines = [BidEventInline]

    amount = money_column("amount_cents", "currency", _("amount"))


class TradeLineInline(ReadOnlyInline):
    model = TradeLine
    fields = ["seller", "category_list", "price", "status", "status_reason"]
    readonly_fields = fields

    category_list = labels_column(
        lambda line: line.categories, dict(taxonomy.DataCategory.choices), _("categories")
    )
    price = money_column("price_cents", description=_("price"), currency="EUR")


class TradeEventInline(BidEventInline):
    model = TradeEvent
    fields = ["occurred_at", "from_status", "to_status", "reason"]
    readonly_fields = fields


@admin.register(Trade)
class TradeAdmin(ReadOnlyAdmin):
    """Moderators follow trades, stuck settlements and disputes here; money is read-only."""

    list_display = [
        "public_id",
        "organisation",
        "status",
        "price_per_record",
        "charged",
        "attempts",
        "created_at",
    ]
    list_filter = ["status", "purpose"]
    search_fields = ["public_id", "organisation__legal_name"]
    list_select_related = ["organisation"]
    show_full_result_count = False  # no COUNT of the whole (large) table beside a filtered one
    date_hierarchy = "created_at"
    inlines = [TradeLineInline, TradeEventInline]

    price_per_record = money_column("price_per_record_cents", "currency", _("price per record"))
    charged = money_column("charged_cents", "currency", _("charged"))


@admin.register(AccessGrant)
class AccessGrantAdmin(ReadOnlyAdmin):
    list_display = ["public_id", "organisation", "seller", "purpose", "status", "starts_at", "ends_at"]
    list_filter = ["status", "purpose"]
    search_fields = ["public_id", "organisation__legal_name", "seller__pseudonym"]
    list_select_related = ["organisation", "seller"]


@admin.register(AccessLog)
class AccessLogAdmin(ReadOnlyAdmin):
    list_display = ["read_at", "grant", "api_key"]
    search_fields = ["grant__public_id"]
    date_hierarchy = "read_at"
    list_select_related = ["grant", "api_key"]


class OverdueFilter(admin.SimpleListFilter):
    title = _("follow-up")
    parameter_name = "follow_up"

    def lookups(self, request, model_admin):
        return [("overdue", _("Overdue: buyer has not confirmed deletion"))]

    def queryset(self, request, queryset):
        if self.value() == "overdue":
            return queryset.filter(status=DeletionNotice.Status.OVERDUE)
        return queryset


@admin.register(DeletionNotice)
class DeletionNoticeAdmin(ReadOnlyAdmin):
    list_display = [
        "public_id",
        "organisation",
        "reason_label",
        "created_at",
        "deadline",
        "status",
        "acknowledged_at",
    ]
    list_filter = [OverdueFilter, "status", "reason"]
    search_fields = ["public_id", "organisation__legal_name"]
    list_select_related = ["organisation"]
    date_hierarchy = "deadline"

    @admin.display(description=_("reason"), ordering="reason")
    def reason_label(self, notice: DeletionNotice) -> str:
        labels = selectors.seller_export_deletion_notices.choices["reason"]  # type: ignore[attr-defined]
        return str(labels.get(notice.reason, notice.reason))


@admin.register(BuyerFailingPayments)
class BuyerFailingPaymentsAdmin(ReadOnlyAdmin):
    """Flagged to moderators: PAYMENT_FAILURES_FLAG or more failed trades in the last 30 days."""

    list_display = ["legal_name", "verification_status", "failed_payments", "trades"]
    search_fields = ["legal_name"]

    def get_queryset(self, request):
        self._failures = selectors.organisations_failing_payments()
        return super().get_queryset(request).filter(pk__in=list(self._failures))

    @admin.display(description=_("failed payments (30 days)"))
    def failed_payments(self, obj) -> int:
        return self._failures.get(obj.pk, 0)

    @admin.display(description=_("trades"))
    def trades(self, obj) -> str:
        url = reverse("admin:marketplace_trade_changelist")
        return format_html(
            '<a href="{}?organisation__id__exact={}&status__exact=payment_failed">{}</a>',
            url,
            obj.pk,
            _("failed trades"),
        )


class DeletionDutyClearanceInline(ReadOnlyInline):
    model = DeletionDutyClearance
    fields = ["cleared_at", "actor", "overdue_notices", "reason"]
    readonly_fields = fields


@admin.register(BuyerDeletionOverdue)
class BuyerDeletionOverdueAdmin(ReadOnlyAdmin):
    """Organisations with overdue deletion notices. Above DELETION_OVERDUE_BID_LIMIT they cannot
    bid; "Allow bidding again" (with a reason, kept below) forgives the notices overdue now."""

    list_display = [
        "legal_name",
        "verification_status",
        "overdue_notices",
        "blocking",
        "deletion_duty_cleared_at",
    ]
    search_fields = ["legal_name"]
    readonly_fields = ["legal_name", "deletion_duty_cleared_at"]
    fields = readonly_fields
    inlines = [DeletionDutyClearanceInline]
    actions = ["allow_bidding"]

    def get_queryset(self, request):
        overdue = DeletionNotice.objects.filter(status=DeletionNotice.Status.OVERDUE)
        return super().get_queryset(request).filter(pk__in=overdue.values("organisation_id"))

    @admin.display(description=_("overdue notices"))
    def overdue_notices(self, obj) -> int:
        return DeletionNotice.objects.filter(organisation=obj, status=DeletionNotice.Status.OVERDUE).count()

    @admin.display(description=_("blocking bids"))
    def blocking(self, obj) -> int:
        return selectors.deletion_notices_blocking_bids(obj).count()

    @admin.action(description=_("Allow bidding again (forgives the notices overdue now)"))
    def allow_bidding(self, request, queryset):
        return action_with_reason(
            self,
            request,
            queryset,
            _("Allow bidding again"),
            lambda organisation, reason: services.deletion_duty_clear(
                organisation_id=organisation.pk, actor=request.user, reason=reason
            ),
        )


# --- Outbound webhooks (read-only: buyers manage their endpoints through the API and console) ---


class WebhookAttemptInline(ReadOnlyInline):
    model = WebhookAttempt
    fields = ["attempted_at", "url", "status_code", "duration_ms", "error", "response_excerpt"]
    readonly_fields = fields


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdmin):
    list_display = ["public_id", "organisation", "url", "status", "failing_since", "created_at"]
    list_filter = ["status"]
    search_fields = ["public_id", "organisation__legal_name", "url"]
    list_select_related = ["organisation"]
    exclude = ["secret_encrypted", "previous_secret_encrypted"]  # never shown, even encrypted


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "public_id",
        "event",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
    ]
    list_filter = ["status", "event__type"]
    search_fields = ["public_id", "event__public_id", "endpoint__organisation__legal_name"]
    list_select_related = ["event", "endpoint"]
    inlines = [WebhookAttemptInline]
    actions = ["retry"]

    @admin.action(description=_("Retry the selected failed deliveries now"))
    def retry(self, request, queryset):
        return action_with_reason(
            self,
            request,
            queryset,
            _("Retry webhook deliveries"),
            lambda delivery, reason: services.webhook_delivery_retry(
                delivery_id=delivery.pk, moderator=request.user, reason=reason
            ),
        )


class ReportEventInline(ReadOnlyInline):
    model = ReportEvent
    fields = ["occurred_at", "from_status", "to_status", "reason"]
    readonly_fields = fields


@admin.register(Report)
class ReportAdmin(ReadOnlyAdmin):
    """Reports from sellers (about an organisation) and buyers (about a listing): read, then
    resolved or dismissed with a note (marketplace.services.report_close)."""

    list_display = [
        "created_at",
        "reason",
        "status",
        "organisation",
        "listing",
        "reporter",
        "reporter_organisation",
    ]
    list_filter = [
        "status",
        "reason",
        ("organisation", admin.EmptyFieldListFilter),
        ("created_at", admin.DateFieldListFilter),
    ]
    search_fields = [
        "public_id",
        "details",
        "organisation__legal_name",
        "listing__public_id",
        "reporter__email",
        "reporter_organisation__legal_name",
    ]
    date_hierarchy = "created_at"
    list_select_related = ["organisation", "listing", "reporter", "reporter_organisation"]
    readonly_fields = ["context_display"]
    exclude = ["context"]
    inlines = [ReportEventInline]
    actions = ["resolve", "dismiss"]

    @admin.display(description=_("context when reported"))
    def context_display(self, report: Report) -> str:
        return format_html("<pre>{}</pre>", json.dumps(report.context, indent=2, ensure_ascii=False))

    @admin.action(description=_("Resolve the selected reports (the note is kept)"))
    def resolve(self, request, queryset):
        return action_with_reason(
            self,
            request,
            queryset,
            _("Resolve reports"),
            lambda report, note: services.report_close(
                report_id=report.pk, moderator=request.user, note=note
            ),
        )

    @admin.action(description=_("Dismiss the selected reports (the note is kept)"))
    def dismiss(self, request, queryset):
        return action_with_reason(
            self,
            request,
            queryset,
            _("Dismiss reports"),
            lambda report, note: services.report_close(
                report_id=report.pk, moderator=request.user, note=note, dismiss=True
            ),
        )


admin_queues.register(
    admin_queues.Queue(
        "reports",
        _("Open reports"),
        lambda: Report.objects.filter(status=Report.Status.OPEN).count(),
        "admin:marketplace_report_changelist",
        "status__exact=open",
        order=30,
    )
)


class FlaggedBuyerFilter(admin.SimpleListFilter):
    """On the buyer organisations' list: those with failing payments or overdue deletion notices
    (marketplace.selectors_market.organisations_flagged)."""

    title = _("flagged")
    parameter_name = "flagged"

    def lookups(self, request, model_admin):
        return [("yes", _("Failing payments or overdue deletion notices"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(pk__in=selectors_market.organisations_flagged().values("pk"))
        return queryset


# accounts/admin.py owns the organisations' list but may not import marketplace (DESIGN.md): the
# filter is added to its registered ModelAdmin here.
_organisations = admin.site.get_model_admin(BuyerOrganisation)
_organisations.list_filter = [FlaggedBuyerFilter, *_organisations.list_filter]

admin.site.register_view("market/", views_market.market_dashboard, "market", _("Market dashboard"))

admin_queues.register(
    admin_queues.Queue(
        key="deletion-notices-overdue",
        label=_("Overdue deletion notices"),
        count=lambda: DeletionNotice.objects.filter(status=DeletionNotice.Status.OVERDUE).count(),
        url_name="admin:marketplace_deletionnotice_changelist",
        query="follow_up=overdue",
        order=30,
    )
)
admin_queues.register(
    admin_queues.Queue(
        key="buyers-flagged",
        label=_("Flagged buyers (failing payments, overdue deletions)"),
        count=lambda: selectors_market.organisations_flagged().count(),
        url_name="admin:accounts_buyerorganisation_changelist",
        query="flagged=yes",
        order=40,
    )
)

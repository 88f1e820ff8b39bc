from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from accounts import taxonomy
from core import admin_queues
from core.admin import ReadOnlyAdmin, ReadOnlyInline, action_with_reason, labels_column, money_column
from listings import services
from listings.models import Listing, ListingEvent


class ListingEventInline(ReadOnlyInline):
    model = ListingEvent
    fields = ["occurred_at", "from_status", "to_status", "reason", "actor"]
    readonly_fields = fields


@admin.register(Listing)
class ListingAdmin(admin.ModelAdmin):
    list_display = [
        "public_id",
        "seller",
        "category_list",
        "pricing_mode",
        "floor_price",
        "status",
        "created_at",
    ]
    list_filter = ["status", "pricing_mode", "licence_days"]
    search_fields = ["public_id", "seller__pseudonym"]
    date_hierarchy = "created_at"
    list_select_related = ["seller"]
    inlines = [ListingEventInline]
    actions = ["approve", "reject", "suspend"]
    readonly_fields = [
        "public_id",
        "seller",
        "category_list",
        "purpose_list",
        "licence_days",
        "pricing_mode",
        "floor_price",
        "auction_ends_at",
        "status",
        "status_reason",
        "suggested_price",
        "created_at",
        "updated_at",
    ]
    exclude = ["categories_mask", "purposes_mask", "floor_price_cents", "suggested_price_cents", "currency"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    category_list = labels_column(
        lambda listing: listing.categories, dict(taxonomy.DataCategory.choices), _("categories")
    )
    purpose_list = labels_column(
        lambda listing: listing.purposes, dict(taxonomy.Purpose.choices), _("purposes")
    )
    floor_price = money_column("floor_price_cents", "currency", _("floor price"))
    suggested_price = money_column("suggested_price_cents", "currency", _("suggested price"))

    @admin.action(description=_("Approve the selected listings (with a reason)"))
    def approve(self, request, queryset):
        return action_with_reason(
            self,
            request,
            queryset,
            _("Approve listings"),
            lambda listing, reason: services.listing_moderate(
                listing_id=listing.pk, moderator=request.user, approve=True, reason=reason
            ),
        )

    @admin.action(description=_("Reject the selected listings (with a reason)"))
    def reject(self, request, queryset):
        return action_with_reason(
            self,
            request,
            queryset,
            _("Reject listings"),
            lambda listing, reason: services.listing_moderate(
                listing_id=listing.pk, moderator=request.user, approve=False, reason=reason
            ),
        )

    @admin.action(description=_("Suspend the selected listings (with a reason)"))
    def suspend(self, request, queryset):
        return action_with_reason(
            self,
            request,
            queryset,
            _("Suspend listings"),
            lambda listing, reason: services.listing_suspend(
                listing_id=listing.pk, moderator=request.user, reason=reason
            ),
        )


@admin.register(ListingEvent)
class ListingEventAdmin(ReadOnlyAdmin):
    list_display = ["occurred_at", "listing", "from_status", "to_status", "actor"]
    list_filter = ["to_status"]
    search_fields = ["listing__public_id", "reason"]
    list_select_related = ["listing", "actor"]


admin_queues.register(
    admin_queues.Queue(
        key="listings-pending-review",
        label=_("Listings awaiting review"),
        count=lambda: Listing.objects.filter(status=Listing.Status.PENDING_REVIEW).count(),
        url_name="admin:listings_listing_changelist",
        query="status__exact=pending_review",
        order=20,
    )
)

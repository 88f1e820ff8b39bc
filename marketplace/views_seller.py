"""The seller's dashboard and earnings pages. They gather figures from every app (consents,
listings, sales, payouts), so they live here, at the top of the import arrows; the pages of one
app's own data stay in that app.

Each page is a fixed number of aggregate queries (marketplace/selectors_seller.py), whatever the
number of sales.
"""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET

from accounts import selectors as account_selectors
from accounts import taxonomy
from accounts.views import SellerRequest, landing, seller_required
from core.charts import column_chart, row_chart
from core.money import format_money
from listings.models import Listing
from marketplace import selectors_seller
from payments import selectors as payment_selectors
from payments.models import ConnectAccount, Payout

BADGE_LABELS = {
    "email_verified": gettext_lazy("Email verified"),
    "phone_verified": gettext_lazy("Phone verified"),
    "profile_complete": gettext_lazy("Profile complete"),
    "verified_seller": gettext_lazy("Verified seller"),
}
CURRENCY = "EUR"


def days_left(until: datetime | None) -> int | None:
    """Whole days left until `until`, counted as people do: a 90-day grant made today has 90."""
    if until is None:
        return None
    return max(0, (timezone.localtime(until).date() - timezone.localdate()).days)


def _next_steps(
    badges: dict[str, bool], figures: selectors_seller.DashboardFigures, account: ConnectAccount | None
) -> list[tuple[str, str, str]]:
    """(key, what to do, where) for each step the seller has not taken yet, in the order to take them."""
    steps = []
    if not badges["email_verified"]:
        steps.append(("verify-email", _("Verify your email address"), reverse("seller-verification")))
    if not badges["phone_verified"]:
        steps.append(("verify-phone", _("Verify your phone number"), reverse("seller-verification")))
    if not badges["profile_complete"]:
        steps.append(("complete-profile", _("Complete your profile"), reverse("seller-profile")))
    if not figures.active_consents:
        steps.append(
            ("give-consent", _("Choose who may use which data: give a consent"), reverse("seller-consents"))
        )
    offered = sum(
        n
        for status, n in figures.listings_by_status.items()
        if status not in (Listing.Status.WITHDRAWN, Listing.Status.EXPIRED)
    )
    if not offered:
        steps.append(
            ("create-listing", _("Put your data on sale: create a listing"), reverse("seller-listing-new"))
        )
    if not (account and account.payouts_enabled):
        steps.append(
            ("set-up-payouts", _("Set up payouts to receive your earnings"), reverse("seller-payouts"))
        )
    return steps


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """`/`: the landing page for anonymous visitors, the dashboard for a logged-in seller
    (seller_required: moderators to the admin, buyers to their console)."""
    if request.user.is_authenticated:
        return dashboard(request)
    return landing.landing(request)


@require_GET
@seller_required
def dashboard(request: SellerRequest) -> HttpResponse:
    seller = request.user
    badges = account_selectors.seller_badges(seller=seller)
    figures = selectors_seller.seller_dashboard_figures(seller=seller)
    account = payment_selectors.connect_account_of_seller(seller_id=seller.pk)
    labels = dict(Listing.Status.choices)
    context = {
        "badges": [(key, BADGE_LABELS[key], badges[key]) for key in BADGE_LABELS],
        "next_steps": _next_steps(badges, figures, account),
        "figures": figures,
        "active_consents": figures.active_consents,
        "next_expiry_days": days_left(figures.next_consent_expiry),
        "listings": [
            (status, labels[status], figures.listings_by_status[status])
            for status in Listing.Status.values
            if figures.listings_by_status.get(status)
        ],
        "earned_this_month": format_money(figures.earned_this_month, CURRENCY),
        "pending_notices_text": ngettext(
            "%(count)d deletion notice awaits the buyer's confirmation",
            "%(count)d deletion notices await the buyers' confirmation",
            figures.pending_notices,
        )
        % {"count": figures.pending_notices},
        "overdue_notices_text": ngettext(
            "%(count)d is overdue", "%(count)d are overdue", figures.overdue_notices
        )
        % {"count": figures.overdue_notices},
        "life_events": account_selectors.life_events_for(seller=seller).count(),
    }
    return render(request, "accounts/dashboard.html", context)


def _charts(request: SellerRequest) -> list:
    seller = request.user
    months = selectors_seller.seller_earnings_by_month(seller=seller)
    categories = dict(taxonomy.DataCategory.choices)
    by_category = selectors_seller.seller_earnings_by_category(seller=seller)
    by_buyer = selectors_seller.seller_earnings_by_buyer(seller=seller)
    total = sum(value for _, value in months)
    return [
        column_chart(
            slug="chart-months",
            title=_("Earnings per month, last 12 months"),
            description=_("A bar per month; in total %(total)s over the last 12 months.")
            % {"total": format_money(total, CURRENCY)},
            label_heading=_("Month"),
            value_heading=_("Earned"),
            items=[
                (formats.date_format(day, "F Y"), value, format_money(value, CURRENCY))
                for day, value in months
            ],
            ticks=[formats.date_format(day, "M") for day, _value in months],
        ),
        row_chart(
            slug="chart-categories",
            title=_("Earnings by category of data"),
            description=_(
                "A bar per category of data sold; a sale of several categories is shared equally between them."
            ),
            label_heading=_("Category"),
            value_heading=_("Earned"),
            items=[
                (str(categories.get(code, code)), value, format_money(value, CURRENCY))
                for code, value in by_category
            ],
        ),
        row_chart(
            slug="chart-buyers",
            title=_("Earnings by buyer"),
            description=_("A bar per buyer organisation, the ten that paid you most."),
            label_heading=_("Buyer"),
            value_heading=_("Earned"),
            items=[(name, value, format_money(value, CURRENCY)) for name, value in by_buyer],
        ),
    ]


@require_GET
@seller_required
def earnings(request: SellerRequest) -> HttpResponse:
    summary = payment_selectors.seller_earnings(seller_id=request.user.pk, currency=CURRENCY)
    payouts = list(payment_selectors.payouts_of_seller(seller_id=request.user.pk)[:50])
    for payout in payouts:
        payout.amount_display = format_money(payout.amount, payout.currency)  # type: ignore[attr-defined]  # for the template
    amounts = {
        name: format_money(getattr(summary, name), summary.currency)
        for name in ("payable", "in_flight", "paid_out", "receivable")
    }
    context = {
        "earnings": summary,
        "amounts": amounts,
        "payouts": payouts,
        "pending_payouts": sum(1 for p in payouts if p.status == Payout.Status.PENDING),
        "charts": _charts(request),
    }
    return render(request, "payments/earnings.html", context)

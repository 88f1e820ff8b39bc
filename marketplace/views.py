"""Seller pages of the marketplace: who bought my data (and sales.json, the same as data)."""

from __future__ import annotations

from datetime import datetime

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from accounts import taxonomy
from accounts.forms import add_service_error
from accounts.views import seller_required
from core.countries import country_name
from core.errors import ServiceError
from core.money import format_money
from marketplace import selectors, selectors_seller, services
from marketplace.forms import OrganisationReportForm
from marketplace.models import DeletionNotice

CATEGORY_LABELS = dict(taxonomy.DataCategory.choices)
PURPOSE_LABELS = dict(taxonomy.Purpose.choices)
# "avis" (notice) is masculine in French: the model's labels ("Envoyée") are shared with feminine nouns
NOTICE_STATUS_LABELS = {
    DeletionNotice.Status.SENT: pgettext_lazy("deletion notice", "Sent"),
    DeletionNotice.Status.ACKNOWLEDGED: pgettext_lazy("deletion notice", "Acknowledged"),
    DeletionNotice.Status.OVERDUE: pgettext_lazy("deletion notice", "Overdue"),
}
NOTICES_SHOWN = 200


def _category_labels(mask: int) -> list[str]:
    return [str(CATEGORY_LABELS.get(code, code)) for code in taxonomy.codes_of(mask, taxonomy.CATEGORY_CODES)]


def _buyers(seller) -> list[dict]:
    """One entry per buyer organisation: its licences (grouped by purpose and categories) and the
    deletion notices it was sent. Two queries, whatever the number of sales."""
    now = timezone.now()
    buyers: dict[int, dict] = {}

    def buyer(organisation_id: int, name: str, country: str) -> dict:
        return buyers.setdefault(
            organisation_id,
            {
                "id": organisation_id,
                "name": name,
                "country": country,
                "country_name": country_name(country),
                "licences": [],
                "notices": [],
            },
        )

    for row in selectors_seller.seller_buyer_licences(seller=seller):
        ends: datetime | None = row["until"]
        buyer(
            row["trade__organisation_id"],
            row["trade__organisation__legal_name"],
            row["trade__organisation__country"],
        )["licences"].append(
            {
                "categories": _category_labels(row["categories_mask"]),
                "purpose": PURPOSE_LABELS.get(row["trade__purpose"], row["trade__purpose"]),
                "licences": row["licences"],
                "active": row["active"],
                "until": ends,
                "ended": ends is None or ends <= now or not row["active"],
                "reads": row["reads"],
                "last_read": row["last_read"],
            }
        )
    for notice in selectors_seller.seller_deletion_notices(seller=seller)[:NOTICES_SHOWN]:
        overdue = notice.status == DeletionNotice.Status.OVERDUE or (
            notice.status == DeletionNotice.Status.SENT and notice.deadline <= now
        )
        buyer(notice.organisation_id, notice.organisation.legal_name, notice.organisation.country)[
            "notices"
        ].append(
            {
                "categories": _category_labels(notice.categories_mask),
                "sent_at": notice.created_at,
                "deadline": notice.deadline,
                "status": DeletionNotice.Status.OVERDUE if overdue else notice.status,
                "status_label": NOTICE_STATUS_LABELS[
                    DeletionNotice.Status.OVERDUE if overdue else notice.status
                ],
                "acknowledged_at": notice.acknowledged_at,
            }
        )
    return sorted(buyers.values(), key=lambda b: (b["name"].casefold(), b["id"]))


@require_GET
@seller_required
def sales(request: HttpRequest) -> HttpResponse:
    """Who bought my data: per buyer organisation, what, for what, until when, reads, notices."""
    buyers = _buyers(request.user)
    return render(
        request,
        "marketplace/sales.html",
        {"buyers": buyers, "any_notice": any(b["notices"] for b in buyers)},
    )


def _sale_rows(request: HttpRequest) -> list[dict]:
    return [
        {
            "buyer": line.trade.organisation.legal_name,
            "buyer_country": line.trade.organisation.country,
            "purpose": line.trade.purpose,
            "categories": line.categories,
            "price_cents": line.price_cents,
            "price": format_money(line.price_cents, line.trade.currency),
            "currency": line.trade.currency,
            "sold_at": line.trade.created_at,
            "licence_ends_at": getattr(getattr(line, "access_grant", None), "ends_at", None),
            "access_status": getattr(getattr(line, "access_grant", None), "status", None),
            "reads": line.reads,
            "last_read_at": line.last_read,
        }
        for line in selectors.seller_sales(seller=request.user)[:500]
    ]


@seller_required
def sales_json(request: HttpRequest) -> JsonResponse:
    rows = [{k: v for k, v in row.items() if k != "price"} for row in _sale_rows(request)]
    return JsonResponse({"sales": rows})


@require_http_methods(["GET", "POST"])
@seller_required
def report_organisation(request: HttpRequest, organisation_id: int) -> HttpResponse:
    """Report a buyer organisation from "who bought my data" (only one that holds or held the
    seller's data: any other answers 404)."""
    buyer = next((b for b in _buyers(request.user) if b["id"] == organisation_id), None)
    if buyer is None:
        raise Http404
    form = OrganisationReportForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        try:
            services.report_organisation(
                seller=request.user, organisation_id=organisation_id, **form.cleaned_data
            )
        except ServiceError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, _("Thank you: your report was sent to our moderators."))
            return redirect("seller-sales")
    status = 400 if form.is_bound and form.errors else 200
    return render(request, "marketplace/report.html", {"buyer": buyer, "form": form}, status=status)

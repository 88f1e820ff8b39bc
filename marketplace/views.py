"""Seller pages of the marketplace: who bought my data."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from accounts.views import seller_required
from core.money import format_euros
from marketplace import selectors


def _sale_rows(request: HttpRequest) -> list[dict]:
    return [
        {
            "buyer": line.trade.organisation.legal_name,
            "buyer_country": line.trade.organisation.country,
            "purpose": line.trade.purpose,
            "categories": line.categories,
            "price_cents": line.price_cents,
            "price": format_euros(line.price_cents),
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
def sales(request: HttpRequest) -> HttpResponse:
    """Who bought my data: buyer, purpose, categories, price, date, licence end, reads."""
    return render(request, "marketplace/sales.html", {"sales": _sale_rows(request)})


@seller_required
def sales_json(request: HttpRequest) -> JsonResponse:
    rows = [{k: v for k, v in row.items() if k != "price"} for row in _sale_rows(request)]
    return JsonResponse({"sales": rows})

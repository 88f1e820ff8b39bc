"""Seller web endpoints for listings. The HTML pages extend the seller UI's base template."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, JsonResponse

from accounts import taxonomy
from accounts.models import User
from listings.valuation import seller_valuation


@login_required
def valuation_json(request: HttpRequest) -> JsonResponse:
    """What my data is worth: per category and in total, with the factors explained."""
    if request.user.role != User.Role.SELLER:
        return JsonResponse({"code": "not_a_seller", "detail": "Only sellers have a valuation."}, status=403)
    try:
        licence_days = int(request.GET.get("licence_days", 30))
    except ValueError:
        licence_days = 0
    if licence_days not in taxonomy.LICENCE_DAYS:
        return JsonResponse(
            {"code": "licence_invalid", "detail": "licence_days is 30, 90 or 365.", "field": "licence_days"},
            status=400,
        )
    categories = request.GET.getlist("category") or None
    unknown = [c for c in categories or [] if c not in taxonomy.CATEGORY_CODES]
    if unknown:
        return JsonResponse(
            {
                "code": "category_unknown",
                "detail": f"Unknown categories: {', '.join(unknown)}.",
                "field": "category",
            },
            status=400,
        )
    return JsonResponse(
        seller_valuation(seller=request.user, categories=categories, licence_days=licence_days)
    )

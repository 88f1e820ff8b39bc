"""`/` for anonymous visitors: the product explained (marketplace.views_seller.home routes a
logged-in seller to their dashboard)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def landing(request: HttpRequest) -> HttpResponse:
    seller_share = 100 - settings.PLATFORM_FEE_BPS / 100
    context = {"seller_share": f"{seller_share:g}", "deletion_notice_days": settings.DELETION_NOTICE_DAYS}
    return render(request, "accounts/landing.html", context)

"""`/`: the product explained to anonymous visitors; a logged-in seller gets their dashboard."""

from __future__ import annotations

from django.conf import settings
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.views import dashboard


@require_GET
def home(request):
    if request.user.is_authenticated:
        return dashboard.dashboard(request)  # seller_required: moderators to the admin, buyers 403
    seller_share = 100 - settings.PLATFORM_FEE_BPS / 100
    context = {"seller_share": f"{seller_share:g}", "deletion_notice_days": settings.DELETION_NOTICE_DAYS}
    return render(request, "accounts/landing.html", context)

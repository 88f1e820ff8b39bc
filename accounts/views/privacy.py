"""The privacy notice (GDPR Art. 13), public."""

from __future__ import annotations

from django.conf import settings
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts import taxonomy


@require_GET
def privacy_notice(request):
    """The privacy notice (GDPR Art. 13): public, linked from every page and the `policyUrl` of
    every consent receipt."""
    context = {
        "controller": settings.CONSENT_CONTROLLER,
        "purposes": [(purpose.label, taxonomy.TCF_PURPOSE_IDS[purpose]) for purpose in taxonomy.Purpose],
        "categories": [
            (category.label, category in taxonomy.SENSITIVE_CATEGORIES) for category in taxonomy.DataCategory
        ],
        "window_days": ", ".join(map(str, taxonomy.CONSENT_WINDOW_DAYS)),
        "deletion_notice_days": settings.DELETION_NOTICE_DAYS,
    }
    return render(request, "accounts/privacy.html", context)

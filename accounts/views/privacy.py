"""The privacy notice (GDPR Art. 13), public."""

from __future__ import annotations

from django.conf import settings
from django.shortcuts import render
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from accounts import taxonomy
from core.countries import country_name

# The default contact role, in the reader's language; a configured name is shown as it is.
CONTACT_LABELS = {"Data Protection Officer": gettext_lazy("Data Protection Officer")}


@require_GET
def privacy_notice(request):
    """The privacy notice (GDPR Art. 13): public, linked from every page and the `policyUrl` of
    every consent receipt."""
    context = {
        "controller": settings.CONSENT_CONTROLLER,
        "controller_country": country_name(settings.CONSENT_CONTROLLER["address"]["addressCountry"]),
        "controller_contact": CONTACT_LABELS.get(
            settings.CONSENT_CONTROLLER["contact"], settings.CONSENT_CONTROLLER["contact"]
        ),
        "purposes": [(purpose.label, taxonomy.TCF_PURPOSE_IDS[purpose]) for purpose in taxonomy.Purpose],
        "categories": [
            (category.label, category in taxonomy.SENSITIVE_CATEGORIES) for category in taxonomy.DataCategory
        ],
        "window_days": ", ".join(map(str, taxonomy.CONSENT_WINDOW_DAYS)),
        "deletion_notice_days": settings.DELETION_NOTICE_DAYS,
    }
    return render(request, "accounts/privacy.html", context)

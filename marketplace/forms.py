"""Seller web forms of the marketplace: a report about a buyer organisation (issue 14)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.forms import Form
from marketplace.models import Report

# What a seller may report about an organisation ("inaccurate listing" is the buyers' reason).
SELLER_REPORT_REASONS = [
    (Report.Reason.MISUSE_OF_DATA, _("They misuse my data")),
    (Report.Reason.UNWANTED_CONTACT, _("Spam or unwanted contact")),
    (Report.Reason.SUSPECTED_FRAUD, _("Suspected fraud")),
    (Report.Reason.OTHER, _("Something else")),
]


class OrganisationReportForm(Form):
    reason = forms.ChoiceField(
        label=_("What is wrong?"),
        choices=SELLER_REPORT_REASONS,
        widget=forms.RadioSelect(attrs={"class": "checks"}),
    )
    details = forms.CharField(
        label=_("Tell us more (optional)"),
        required=False,
        max_length=Report.DETAILS_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_("What happened, and when. A moderator reads every report."),
    )

"""My data (GDPR Art. 15, 17, 20): see it in the seller's language, download it as JSON, erase it."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from accounts import hooks, selectors, services, taxonomy
from accounts.forms import (
    EraseForm,
    add_service_error,
)
from accounts.models import ConsentEvent, ConsentGrant, User
from accounts.views.access import seller_required
from core.countries import country_name
from core.errors import ServiceError
from core.money import format_money

EXPORT_SECTION_TITLES = {
    "account": gettext_lazy("Account"),
    "verification": gettext_lazy("Verification"),
    "profile": gettext_lazy("Profile"),
    "life_events": gettext_lazy("Life events"),
    "consent_grants": gettext_lazy("Consents"),
    "consent_events": gettext_lazy("Consent history"),
    "listings": gettext_lazy("Listings"),
    "sales": gettext_lazy("Sales"),
    "recipients": gettext_lazy("Who received your data"),
    "access_log": gettext_lazy("Reads of your data"),
    "deletion_notices": gettext_lazy("Deletion notices to buyers"),
    "earnings": gettext_lazy("Earnings"),
    "sale_shares": gettext_lazy("Sale proceeds"),
    "payouts": gettext_lazy("Payouts"),
    "payout_account": gettext_lazy("Payout account"),
    "sessions": gettext_lazy("Where you are logged in"),
}

# Human labels of the export's field names (the JSON keeps the names).
EXPORT_FIELD_LABELS = {
    "id": gettext_lazy("Number"),
    "email": gettext_lazy("Email"),
    "full_name": gettext_lazy("Name"),
    "role": gettext_lazy("Role"),
    "pseudonym": gettext_lazy("Pseudonym"),
    "preferred_language": gettext_lazy("Language"),
    "email_verified_at": gettext_lazy("Email verified on"),
    "phone_verified_at": gettext_lazy("Phone verified on"),
    "erased_at": gettext_lazy("Erased on"),
    "is_active": gettext_lazy("Active"),
    "date_joined": gettext_lazy("Joined on"),
    "last_login": gettext_lazy("Last login"),
    "user_agent": gettext_lazy("Device"),
    "ip_address": gettext_lazy("IP address"),
    "logged_in_at": gettext_lazy("Logged in"),
    "last_seen_at": gettext_lazy("Last activity"),
    "password": gettext_lazy("Password"),
    "email_verified": gettext_lazy("Email verified"),
    "phone_verified": gettext_lazy("Phone verified"),
    "profile_complete": gettext_lazy("Profile complete"),
    "verified_seller": gettext_lazy("Verified seller"),
    "age_band": gettext_lazy("Age band"),
    "gender": gettext_lazy("Gender"),
    "region": gettext_lazy("Region"),
    "mobile_os": gettext_lazy("Mobile OS"),
    "mobile_operator": gettext_lazy("Mobile operator"),
    "interests": gettext_lazy("Interests"),
    "affinities": gettext_lazy("Content affinities"),
    "audience_optin": gettext_lazy("Offered to audience bundles"),
    "sellable": gettext_lazy("Offered to buyers"),
    "sellable_until": gettext_lazy("Offered until"),
    "birth_date": gettext_lazy("Birth date"),
    "postcode": gettext_lazy("Postcode"),
    "phone": gettext_lazy("Phone"),
    "updated_at": gettext_lazy("Updated on"),
    "kind": gettext_lazy("Kind"),
    "details": gettext_lazy("Details"),
    "created_at": gettext_lazy("Date"),
    "category": gettext_lazy("Category"),
    "categories": gettext_lazy("Categories"),
    "purpose": gettext_lazy("Purpose"),
    "purposes": gettext_lazy("Purposes"),
    "tcf_purpose_id": gettext_lazy("IAB TCF purpose"),
    "window_days": gettext_lazy("Window (days)"),
    "granted_at": gettext_lazy("Granted on"),
    "expires_at": gettext_lazy("Expires on"),
    "ended_at": gettext_lazy("Ended on"),
    "status": gettext_lazy("Status"),
    "renewed_from": gettext_lazy("Renews consent"),
    "reminder_sent_at": gettext_lazy("Reminder sent on"),
    "grant": gettext_lazy("Consent"),
    "occurred_at": gettext_lazy("Date"),
    "receipt_id": gettext_lazy("Receipt"),
    "licence_days": gettext_lazy("Licence (days)"),
    "pricing_mode": gettext_lazy("Sale type"),
    "floor_price_cents": gettext_lazy("Floor price"),
    "suggested_price_cents": gettext_lazy("Suggested price"),
    "currency": gettext_lazy("Currency"),
    "auction_ends_at": gettext_lazy("Auction ends on"),
    "status_reason": gettext_lazy("Reason"),
    "history": gettext_lazy("History"),
    "trade": gettext_lazy("Trade"),
    "buyer": gettext_lazy("Buyer"),
    "price_cents": gettext_lazy("Price"),
    "trade_status": gettext_lazy("Trade status"),
    "access_grant": gettext_lazy("Licence"),
    "organisation": gettext_lazy("Organisation"),
    "organisation_country": gettext_lazy("Country"),
    "starts_at": gettext_lazy("From"),
    "ends_at": gettext_lazy("Until"),
    "revoked_at": gettext_lazy("Revoked on"),
    "revoked_reason": gettext_lazy("Why revoked"),
    "read_at": gettext_lazy("Read on"),
    "deletion_notice": gettext_lazy("Notice"),
    "reason": gettext_lazy("Reason"),
    "deadline": gettext_lazy("Delete by"),
    "acknowledged_at": gettext_lazy("Deletion confirmed on"),
    "account": gettext_lazy("Account"),
    "reference": gettext_lazy("Reference"),
    "amount_cents": gettext_lazy("Amount"),
    "amount_reversed_cents": gettext_lazy("Amount reversed"),
    "gross_cents": gettext_lazy("Sale price"),
    "fee_cents": gettext_lazy("Platform fee"),
    "net_cents": gettext_lazy("Your share"),
    "failure_code": gettext_lazy("Failure"),
    "transferred_at": gettext_lazy("Sent on"),
    "created": gettext_lazy("Opened at Stripe"),
    "details_submitted": gettext_lazy("Details submitted"),
    "payouts_enabled": gettext_lazy("Payouts enabled"),
    "outstanding_requirements": gettext_lazy("Still required"),
}

# Codes shown as their labels: the taxonomy's and accounts' own choices; other apps' sections
# bring theirs in a `choices` attribute (accounts cannot import them).
_ACCOUNTS_CHOICES: dict[str, dict] = {
    "category": dict(taxonomy.DataCategory.choices),
    "categories": dict(taxonomy.DataCategory.choices),
    "audience_optin": dict(taxonomy.DataCategory.choices),
    "purpose": dict(taxonomy.Purpose.choices),
    "purposes": dict(taxonomy.Purpose.choices),
    "gender": dict(taxonomy.Gender.choices),
    "region": dict(taxonomy.Region.choices),
    "mobile_os": dict(taxonomy.MobileOS.choices),
    "mobile_operator": dict(taxonomy.MobileOperator.choices),
    "interests": dict(taxonomy.INTERESTS),
    "affinities": dict(taxonomy.AFFINITIES),
    "role": dict(User.Role.choices),
    # in the reader's language ("Anglais" on the French page), not the switcher's native names
    "preferred_language": {
        "en": pgettext_lazy("language name", "English"),
        "fr": pgettext_lazy("language name", "French"),
    },
}
_SECTION_CHOICES: dict[str, dict[str, dict]] = {
    "life_events": {"kind": dict(taxonomy.LifeEventKind.choices)},
    "consent_grants": {"status": dict(ConsentGrant.Status.choices)},
    "consent_events": {"kind": dict(ConsentEvent.Kind.choices)},
}
# Ledger references ("trade:12") as people read them ("Sale no. 12"); the JSON keeps them.
_REFERENCE_LABELS = {
    "trade": pgettext_lazy("ledger reference", "Sale no. %(number)s"),
    "payout": pgettext_lazy("ledger reference", "Payout no. %(number)s"),
    "payout_reversal": pgettext_lazy("ledger reference", "Payout reversal no. %(number)s"),
    "refund": pgettext_lazy("ledger reference", "Refund no. %(number)s"),
    "dispute": pgettext_lazy("ledger reference", "Dispute no. %(number)s"),
}
_DATE_FIELDS = frozenset({"birth_date", "date_joined", "last_login", "deadline", "sellable_until"})
_HIDDEN_FIELDS = frozenset({"receipt"})
_COUNTRY_FIELDS = frozenset({"country", "organisation_country", "buyer_country"})


def _display_value(name: str, value: Any, row: dict, choices: dict[str, dict]) -> Any:
    """One exported value as a person reads it: labels for codes, local dates, money."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if name == "password":
        return _("Set (a credential: not exported)")
    if name == "sellable":
        labels = (choices["categories"], choices["purposes"])
        return ", ".join(
            f"{labels[0].get(c, c)} — {labels[1].get(p, p)}"
            for c, p in (pair.split(":", 1) for pair in value)
        )
    if name == "history":
        return "; ".join(
            f"{choices.get('to_status', {}).get(step['to_status'], step['to_status'])} "
            f"({_display_value('occurred_at', step['occurred_at'], step, choices)})"
            for step in value
        )
    if name == "reference" and isinstance(value, str) and value.partition(":")[0] in _REFERENCE_LABELS:
        kind, _sep, number = value.partition(":")
        return _REFERENCE_LABELS[kind] % {"number": number.split(":")[0]}
    if name in _COUNTRY_FIELDS and isinstance(value, str):
        return country_name(value)
    if name.endswith("_cents") and isinstance(value, int):
        return format_money(value, row.get("currency") or "EUR")
    if name in choices:
        labels = choices[name]
        if isinstance(value, list):
            return ", ".join(str(labels.get(item, item)) for item in value)
        return labels.get(value, value)
    if isinstance(value, list):
        return ", ".join(map(str, value))
    if isinstance(value, str) and (name.endswith("_at") or name in _DATE_FIELDS):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        if len(value) == 10:  # a date
            return formats.date_format(moment.date(), "DATE_FORMAT")
        return formats.date_format(timezone.localtime(moment), "DATETIME_FORMAT")
    return value


def _label(name: str) -> str:
    return str(EXPORT_FIELD_LABELS.get(name, name.replace("_", " ").capitalize()))


def _export_sections(data: dict) -> list[dict]:
    """Shape the export for people, in their language: a titled section per topic; a dict becomes
    rows, a list of dicts a table; field names become labels, codes the taxonomy's labels,
    timestamps local dates, minor units money."""
    sections = []
    registered = hooks.export_sections()
    for key, value in data.items():
        if key in ("format", "generated_at"):
            continue
        choices = {
            **_ACCOUNTS_CHOICES,
            **_SECTION_CHOICES.get(key, {}),
            **getattr(registered.get(key), "choices", {}),
        }
        section: dict[str, Any] = {"key": key, "title": EXPORT_SECTION_TITLES.get(key, _label(key))}
        if isinstance(value, dict):
            section["rows"] = [
                (_label(k), _display_value(k, v, value, choices))
                for k, v in value.items()
                if k not in _HIDDEN_FIELDS
            ]
        elif isinstance(value, list) and all(isinstance(item, dict) for item in value):
            names = [
                c for c in (value[0].keys() if value else []) if c not in _HIDDEN_FIELDS and c != "currency"
            ]
            section["columns"] = [_label(c) for c in names]
            section["table"] = [
                [_display_value(c, item.get(c), item, choices) for c in names] for item in value
            ]
        elif value is not None:
            section["json"] = json.dumps(value, indent=2, ensure_ascii=False, default=str)
        sections.append(section)
    return sections


def _export_unavailable(request, exc: ServiceError):
    return render(
        request, "accounts/my_data.html", {"error": exc.message, "sections": []}, status=exc.status_code
    )


@require_GET
@seller_required
def my_data(request):
    try:
        data = selectors.seller_export(seller=request.user)
    except ServiceError as exc:
        return _export_unavailable(request, exc)
    context = {
        "sections": _export_sections(data),
        "generated_at": datetime.fromisoformat(data["generated_at"]),
    }
    return render(request, "accounts/my_data.html", context)


@require_GET
@seller_required
def my_data_export(request):
    """The same content as machine-readable JSON: codes and ISO 8601 timestamps (Art. 20)."""
    try:
        data = selectors.seller_export(seller=request.user)
    except ServiceError as exc:
        return JsonResponse({"code": exc.code, "detail": exc.message}, status=exc.status_code)
    body = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    filename = f"courtier-my-data-{timezone.localdate():%Y-%m-%d}.json"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_http_methods(["GET", "POST"])
@seller_required
def my_data_erase(request):
    form = EraseForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            services.seller_erase(seller=request.user)
        except ServiceError as exc:
            add_service_error(form, exc)
        else:
            logout(request)
            messages.success(request, _("Your account and your data are erased. Goodbye."))
            return redirect("login")
    return render(request, "accounts/erase.html", {"form": form})

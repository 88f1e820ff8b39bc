"""The seller's listings in the web UI: list, create, pause, resume, resubmit, withdraw, reprice,
offer categories to audience bundles, and the price suggestion's JSON (what their data is worth:
`listings.worth_views`).

Thin views in the seller UI's manner (`accounts.views`): forms check the input, services write,
selectors read. Every page is for sellers only; every write is a POST. A `ServiceError` becomes
a form error (status 200) or, for a per-listing action, an error next to that listing with the
error's status; nothing is stored. Another seller's listing is a 404.
"""

from __future__ import annotations

from collections import defaultdict
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import selectors as account_selectors
from accounts import taxonomy
from accounts.models import User
from accounts.views import seller_required
from core.errors import NotFound, ServiceError
from core.money import format_money
from listings import services
from listings.forms import (
    AudienceOptinForm,
    ListingCreateForm,
    ListingPriceForm,
    add_service_error,
    euros_for_input,
    listing_error_message,
)
from listings.models import Listing
from listings.selectors import listings_of_seller
from listings.valuation import seller_valuation

CATEGORY_LABELS = dict(taxonomy.DataCategory.choices)
PURPOSE_LABELS = dict(taxonomy.Purpose.choices)


# ---------------------------------------------------------------------------------------------
# My listings
# ---------------------------------------------------------------------------------------------

# action in the URL → (status it moves to, button label, message once done)
SELLER_ACTIONS = {
    "pause": (
        Listing.Status.PAUSED,
        gettext_lazy("Pause"),
        gettext_lazy("Listing paused: buyers no longer see it."),
    ),
    "resume": (
        Listing.Status.ACTIVE,
        gettext_lazy("Resume"),
        gettext_lazy("Listing resumed: buyers see it again."),
    ),
    "resubmit": (
        Listing.Status.PENDING_REVIEW,
        gettext_lazy("Resubmit for review"),
        gettext_lazy("Listing resubmitted: a moderator will review it."),
    ),
}
ACTIONS_BY_STATUS = {
    Listing.Status.ACTIVE: ["pause"],
    Listing.Status.PAUSED: ["resume"],
    Listing.Status.DRAFT: ["resubmit"],
}

# Reasons that services write in English; a moderator's own words are shown as they are.
STATUS_REASONS = {
    "auto-approved": gettext_lazy("approved automatically"),
    "consent revoked": gettext_lazy("you revoked a consent it needs"),
    "consent expired": gettext_lazy("a consent it needs has expired"),
    "consent erasure": gettext_lazy("your account was erased"),
    "erasure": gettext_lazy("your account was erased"),
}


def _with_display(listing: Listing) -> Listing:
    """Labels and euros for the template; the listing's fields are not touched."""
    listing.category_labels = [CATEGORY_LABELS[c] for c in listing.categories]
    listing.purpose_labels = [PURPOSE_LABELS[p] for p in listing.purposes]
    listing.floor_price = format_money(listing.floor_price_cents, listing.currency)
    listing.floor_price_input = euros_for_input(listing.floor_price_cents)
    listing.suggested_price = (
        format_money(listing.suggested_price_cents, listing.currency)
        if listing.suggested_price_cents is not None
        else ""
    )
    listing.reason_display = STATUS_REASONS.get(listing.status_reason, listing.status_reason)
    listing.is_live = listing.status in Listing.LIVE
    listing.actions = [
        (action, SELLER_ACTIONS[action][1]) for action in ACTIONS_BY_STATUS.get(listing.status, [])
    ]
    return listing


def _consent_missing_message(seller: User, categories: list[str], purposes: list[str]) -> SafeString:
    """Which category × purpose lacks consent, and a link to its cell of the consent matrix (where
    one tap grants it; the query also prefills the grant form below the matrix)."""
    held = set(account_selectors.consent_active_for(seller=seller).values_list("category", "purpose"))
    missing = [(c, p) for c in categories for p in purposes if (c, p) not in held]
    url = reverse("seller-consents")
    if missing:
        text = _("Consent is missing for: %(pairs)s.") % {
            "pairs": ", ".join(f"{CATEGORY_LABELS[c]} × {PURPOSE_LABELS[p]}" for c, p in missing)
        }
        category, purpose = missing[0]
        url += "?" + urlencode({"category": category, "purpose": purpose}) + f"#cell-{category}-{purpose}"
    else:
        text = _("Consent is missing for some of these categories and purposes.")
    return format_html('{} <a href="{}">{}</a>', text, url, _("Give your consent on the consents page."))


def _audience_initial(seller: User) -> dict:
    categories = taxonomy.codes_of(seller.profile.audience_optin_mask, taxonomy.CATEGORY_CODES)
    explicit = any(c in taxonomy.SENSITIVE_CATEGORIES for c in categories)
    return {"categories": categories, "explicit_sensitive": explicit}


def _listings_page(request, *, audience_form=None, row_error=None, status=200):
    listings = [_with_display(listing) for listing in listings_of_seller(seller=request.user)]
    context = {
        "live": [listing for listing in listings if listing.is_live],
        "closed": [listing for listing in listings if not listing.is_live],
        "audience_form": audience_form or AudienceOptinForm(initial=_audience_initial(request.user)),
        "row_error": row_error,
    }
    return render(request, "listings/listings.html", context, status=status)


@require_GET
@seller_required
def listings(request):
    return _listings_page(request)


def _row_error(listing_id: int, message: str, typed_price: str | None = None) -> dict:
    return {"listing_id": listing_id, "message": message, "typed_price": typed_price}


@require_POST
@seller_required
def listing_action(request, listing_id: int, action: str):
    if action not in SELLER_ACTIONS:
        raise Http404
    to_status, _label, done = SELLER_ACTIONS[action]
    try:
        services.listing_seller_action(seller=request.user, listing_id=listing_id, to_status=to_status)
    except NotFound:
        raise Http404
    except ServiceError as exc:
        message = listing_error_message(exc)
        if exc.code == "consent_missing":
            listing = listings_of_seller(seller=request.user).get(pk=listing_id)
            message = _consent_missing_message(request.user, listing.categories, listing.purposes)
        return _listings_page(request, row_error=_row_error(listing_id, message), status=exc.status_code)
    messages.success(request, str(done))
    return redirect("seller-listings")


@require_http_methods(["GET", "POST"])
@seller_required
def listing_withdraw(request, listing_id: int):
    """GET asks for confirmation (withdrawing cannot be undone); POST withdraws."""
    listing = listings_of_seller(seller=request.user).filter(pk=listing_id).first()
    if listing is None:
        raise Http404
    if request.method == "POST":
        try:
            services.listing_seller_action(
                seller=request.user, listing_id=listing.pk, to_status=Listing.Status.WITHDRAWN
            )
        except NotFound:
            raise Http404
        except ServiceError as exc:
            context = {"listing": _with_display(listing), "error": listing_error_message(exc)}
            return render(request, "listings/listing_withdraw.html", context, status=exc.status_code)
        messages.success(request, _("Listing withdrawn. It can no longer be sold."))
        return redirect("seller-listings")
    return render(request, "listings/listing_withdraw.html", {"listing": _with_display(listing)})


@require_POST
@seller_required
def listing_price(request, listing_id: int):
    if not listings_of_seller(seller=request.user).filter(pk=listing_id).exists():
        raise Http404
    form = ListingPriceForm(request.POST)
    typed = request.POST.get("floor_price", "")
    if not form.is_valid():
        message = " ".join(form.errors.get("floor_price", []))
        return _listings_page(request, row_error=_row_error(listing_id, message, typed), status=400)
    try:
        listing = services.listing_update_terms(
            seller=request.user, listing_id=listing_id, floor_price_cents=form.cleaned_data["floor_price"]
        )
    except NotFound:
        raise Http404
    except ServiceError as exc:
        error = _row_error(listing_id, listing_error_message(exc), typed)
        return _listings_page(request, row_error=error, status=exc.status_code)
    messages.success(
        request,
        _("Floor price changed to %(price)s.")
        % {"price": format_money(listing.floor_price_cents, listing.currency)},
    )
    return redirect("seller-listings")


@require_POST
@seller_required
def audience_optin(request):
    form = AudienceOptinForm(request.POST)
    if form.is_valid():
        try:
            services.audience_optin_update(seller=request.user, **form.cleaned_data)
        except ServiceError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, _("Your audience bundle choices are saved."))
            return redirect(reverse("seller-listings") + "#audience")
    return _listings_page(request, audience_form=form)


# ---------------------------------------------------------------------------------------------
# New listing
# ---------------------------------------------------------------------------------------------


def _create_initial(seller: User) -> tuple[dict, bool]:
    """Prefill what the seller can list as is: the purpose their consents cover most widely, the
    (non-sensitive) categories consented for it, and every purpose those categories all allow.
    Sensitive categories are never ticked for them. Also says whether any consent is active."""
    held = list(account_selectors.consent_active_for(seller=seller).values_list("category", "purpose"))
    categories_for: dict[str, set[str]] = defaultdict(set)
    for category, purpose in held:
        if category not in taxonomy.SENSITIVE_CATEGORIES:
            categories_for[purpose].add(category)
    initial = {"licence_days": 30, "pricing_mode": Listing.PricingMode.FIXED}
    if categories_for:
        widest = max(taxonomy.PURPOSE_CODES, key=lambda p: len(categories_for[p]))
        chosen = categories_for[widest]
        initial["categories"] = [c for c in taxonomy.CATEGORY_CODES if c in chosen]
        initial["purposes"] = [p for p in taxonomy.PURPOSE_CODES if categories_for[p] >= chosen]
    return initial, bool(held)


def _chosen_terms(form: ListingCreateForm) -> tuple[list[str], list[str], int]:
    """The categories, purposes and licence the form shows now, valid or not, for the price
    suggestion."""
    if form.is_bound:
        categories = form.data.getlist("categories")
        purposes = form.data.getlist("purposes")
        licence = form.data.get("licence_days", "")
    else:
        categories = form.initial.get("categories", [])
        purposes = form.initial.get("purposes", [])
        licence = form.initial.get("licence_days", 30)
    licence_days = int(licence) if str(licence).isdigit() else 0
    return (
        [c for c in taxonomy.CATEGORY_CODES if c in categories],
        [p for p in taxonomy.PURPOSE_CODES if p in purposes],
        licence_days if licence_days in taxonomy.LICENCE_DAYS else 30,
    )


CURRENCY = "EUR"  # valuations are in euros (listings.valuation)

# The page's script fills the same sentence when the seller ticks other categories.
SUGGESTION_RANGE = gettext_lazy("Likely between %(low)s and %(high)s per licence.")


def _suggestion(seller: User, categories: list[str], purposes: list[str], licence_days: int) -> dict | None:
    """The same estimate as the worth simulator's for these terms (listings.valuation)."""
    if not categories:
        return None
    total = seller_valuation(
        seller=seller, categories=categories, purposes=purposes or None, licence_days=licence_days
    )["total"]
    return {
        "estimate_cents": total["estimate_cents"],
        "estimate": format_money(total["estimate_cents"], CURRENCY),
        "range": SUGGESTION_RANGE
        % {
            "low": format_money(total["low_cents"], CURRENCY),
            "high": format_money(total["high_cents"], CURRENCY),
        },
        "estimate_input": euros_for_input(total["estimate_cents"]),
    }


@require_http_methods(["GET", "POST"])
@seller_required
def listing_create(request):
    seller = request.user
    has_consent = True
    if request.method == "POST":
        form = ListingCreateForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.listing_create(
                    seller=seller,
                    categories=data["categories"],
                    purposes=data["purposes"],
                    licence_days=data["licence_days"],
                    pricing_mode=data["pricing_mode"],
                    floor_price_cents=data["floor_price"],
                    auction_ends_at=data["auction_ends_at"],
                )
            except ServiceError as exc:
                message = None
                if exc.code == "consent_missing":
                    message = _consent_missing_message(seller, data["categories"], data["purposes"])
                add_service_error(form, exc, message)
            else:
                messages.success(request, _("Listing created."))
                return redirect("seller-listings")
        categories, purposes, licence_days = _chosen_terms(form)
        suggestion = _suggestion(seller, categories, purposes, licence_days)
    else:
        initial, has_consent = _create_initial(seller)
        form = ListingCreateForm(initial=initial)
        categories, purposes, licence_days = _chosen_terms(form)
        suggestion = _suggestion(seller, categories, purposes, licence_days)
        if suggestion:
            form.initial["floor_price"] = suggestion["estimate_input"]
    context = {
        "form": form,
        "suggestion": suggestion,
        "range_pattern": SUGGESTION_RANGE,
        "has_consent": has_consent,
    }
    return render(request, "listings/listing_create.html", context)


# ---------------------------------------------------------------------------------------------
# JSON for the new-listing page's price suggestion
# ---------------------------------------------------------------------------------------------


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
    purposes = request.GET.getlist("purpose") or None
    unknown = [p for p in purposes or [] if p not in taxonomy.PURPOSE_CODES]
    if unknown:
        return JsonResponse(
            {
                "code": "purpose_unknown",
                "detail": f"Unknown purposes: {', '.join(unknown)}.",
                "field": "purpose",
            },
            status=400,
        )
    return JsonResponse(
        seller_valuation(
            seller=request.user, categories=categories, purposes=purposes, licence_days=licence_days
        )
    )

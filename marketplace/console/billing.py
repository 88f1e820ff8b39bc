"""Money pages: the saved card (Stripe.js and a SetupIntent), invoices with a printable receipt
per payment, and usage (spend per month, API requests)."""

from __future__ import annotations

from urllib.parse import urlsplit
from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from accounts import selectors as account_selectors
from core.errors import ServiceError
from core.money import format_money
from marketplace import selectors as marketplace_selectors
from marketplace.console.access import BILLING_ROLES, console_required
from marketplace.console.forms import CardForm, console_error_message
from payments import selectors as payment_selectors
from payments import services as payment_services

INVOICES_PER_PAGE = 25


def stripe_js_csp() -> dict[str, list[str]]:
    """What the card page adds to the CSP: Stripe.js's origin (script, frames, its API calls),
    and Stripe's API when it is the real Stripe.js. Nothing when STRIPE_JS_URL is empty."""
    parts = urlsplit(settings.STRIPE_JS_URL or "")
    if not parts.scheme or not parts.netloc:
        return {}
    origin = f"{parts.scheme}://{parts.netloc}"
    connect = [origin, "https://api.stripe.com"] if parts.netloc == "js.stripe.com" else [origin]
    return {"script-src": [origin], "frame-src": [origin], "connect-src": connect}


@require_http_methods(["GET", "POST"])
@console_required(*BILLING_ROLES)
def card(request):
    organisation_id = request.user.organisation_id
    if request.method == "POST":
        form = CardForm(request.POST)
        if form.is_valid():
            try:
                payment_services.payment_method_save(
                    organisation_id=organisation_id, setup_intent_id=form.cleaned_data["setup_intent"]
                )
            except ServiceError as exc:
                messages.error(request, console_error_message(exc))
            else:
                messages.success(request, _("Your card is saved."))
        else:
            messages.error(request, _("The card could not be saved: start again."))
        return redirect("console-card")
    customer = payment_selectors.customer_of_organisation(organisation_id=organisation_id)
    saved = customer if customer is not None and customer.default_payment_method_id else None
    intent, error = None, ""
    if settings.STRIPE_PUBLISHABLE_KEY and settings.STRIPE_JS_URL:
        try:  # the customer's open SetupIntent is reused: reloading the page creates nothing new
            intent = payment_services.payment_method_setup_intent_create(organisation_id=organisation_id)
        except ServiceError as exc:
            error = console_error_message(exc)
    else:
        error = _("Saving a card is not configured on this server.")
    response = render(
        request,
        "console/card.html",
        {
            "saved": saved,
            "intent": intent,
            "error": error,
            "stripe_js_url": settings.STRIPE_JS_URL,
            "publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
        },
    )
    if intent is not None:
        response._csp_update = stripe_js_csp()  # type: ignore[attr-defined]  # read by django-csp
    return response


@require_GET
@console_required(*BILLING_ROLES)
def invoices(request):
    organisation = request.user.organisation
    page = Paginator(
        payment_selectors.payments_of_organisation(organisation_id=organisation.pk), INVOICES_PER_PAGE
    ).get_page(request.GET.get("page"))
    payments = list(page.object_list)
    trades = marketplace_selectors.trades_by_payment_reference(organisation, [p.reference for p in payments])
    rows = [
        {
            "payment": payment,
            "amount": format_money(payment.amount, payment.currency),
            "trades": trades.get(payment.reference, []),
            "records": sum(t.records for t in trades.get(payment.reference, [])),
        }
        for payment in payments
    ]
    return render(request, "console/invoices.html", {"rows": rows, "page": page})


@require_GET
@console_required(*BILLING_ROLES)
def receipt(request, public_id: UUID):
    organisation = request.user.organisation
    payment = payment_selectors.payment_of_organisation(organisation_id=organisation.pk, public_id=public_id)
    if payment is None:
        raise Http404
    trades = [
        {
            "trade": trade,
            "price_per_record": format_money(trade.price_per_record_cents, trade.currency),
            "charged": format_money(trade.charged_cents, trade.currency),
        }
        for trade in marketplace_selectors.trades_of_payment_reference(organisation, payment.reference)
    ]
    context = {
        "organisation": organisation,
        "payment": payment,
        "trades": trades,
        "amount": format_money(payment.amount, payment.currency),
        "captured": format_money(payment.amount_captured, payment.currency),
        "refunded": format_money(payment.amount_refunded, payment.currency),
        "net": format_money(payment.amount_captured - payment.amount_refunded, payment.currency),
    }
    return render(request, "console/receipt.html", context)


@require_GET
@console_required(*BILLING_ROLES)
def usage(request):
    organisation = request.user.organisation
    spend = [
        {**row, "net_display": format_money(row["net"], row["currency"])}
        for row in payment_selectors.organisation_spend_by_month(organisation_id=organisation.pk)
    ]
    # API requests and 429s per day come from accounts.selectors.api_usage (being added with
    # per-key throttling, issue 12 item 4). Until it exists the page shows spend and the keys'
    # last use only; once it does, this lights up with no other change.
    api_usage = getattr(account_selectors, "api_usage", None)
    requests = list(api_usage(organisation, days=30)) if api_usage is not None else None
    keys = account_selectors.api_keys_of(organisation=organisation).filter(revoked_at=None)
    return render(request, "console/usage.html", {"spend": spend, "requests": requests, "keys": keys})

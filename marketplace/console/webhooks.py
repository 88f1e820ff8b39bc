"""Webhook endpoints (owners and developers): list, create (the signing secret shown once), edit,
delete after a confirmation, roll the secret (shown once; the previous one keeps signing for
WEBHOOK_SECRET_ROLL_OVERLAP), enable and disable; per endpoint its recent deliveries with every
attempt, and redelivery on request. Writes are marketplace.services', reads
marketplace.selectors_webhooks'; another organisation's ids answer 404."""

from __future__ import annotations

from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.errors import NotFound, ServiceError
from marketplace import selectors_webhooks as selectors
from marketplace import services
from marketplace.console.access import WEBHOOK_ROLES, console_required
from marketplace.console.forms import WebhookEndpointForm, add_console_error, console_error_message
from marketplace.models_webhooks import ALL_EVENT_TYPES, WebhookEndpoint

DELIVERIES_PER_PAGE = 20


def _endpoint(request, public_id: UUID) -> WebhookEndpoint:
    endpoint = selectors.webhook_endpoint_of(request.user.organisation, public_id)
    if endpoint is None:
        raise Http404
    return endpoint


def _list(request, *, form=None):
    endpoints = list(selectors.webhook_endpoints_of(request.user.organisation))
    return render(
        request,
        "console/webhooks.html",
        {"endpoints": endpoints, "form": form or WebhookEndpointForm(), "all_types": ALL_EVENT_TYPES},
    )


@require_GET
@console_required(*WEBHOOK_ROLES)
def webhooks(request):
    return _list(request)


def _overlap_hours() -> int:
    return round(settings.WEBHOOK_SECRET_ROLL_OVERLAP.total_seconds() / 3600)


def _secret_page(request, *, endpoint: WebhookEndpoint, secret: str, rolled: bool):
    context = {
        "endpoint": endpoint,
        "secret": secret,
        "rolled": rolled,
        "overlap_hours": _overlap_hours(),
    }
    response = render(request, "console/webhook_secret.html", context)
    add_never_cache_headers(response)  # the secret must not stay in a cache
    return response


@require_POST
@console_required(*WEBHOOK_ROLES)
def webhook_create(request):
    form = WebhookEndpointForm(request.POST)
    if form.is_valid():
        try:
            endpoint, secret = services.webhook_endpoint_create(
                organisation=request.user.organisation, **form.cleaned_data
            )
        except ServiceError as exc:
            add_console_error(form, exc)
        else:
            return _secret_page(request, endpoint=endpoint, secret=secret, rolled=False)
    return _list(request, form=form)


def _detail(request, endpoint: WebhookEndpoint, *, form=None):
    page = Paginator(selectors.webhook_deliveries_of_endpoint(endpoint), DELIVERIES_PER_PAGE).get_page(
        request.GET.get("page")
    )
    form = form or WebhookEndpointForm(
        initial={
            "url": endpoint.url,
            "description": endpoint.description,
            "event_types": endpoint.event_types,
        }
    )
    context = {
        "endpoint": endpoint,
        "form": form,
        "page": page,
        "all_types": ALL_EVENT_TYPES,
        "now": timezone.now(),
        "overlap_hours": _overlap_hours(),
    }
    return render(request, "console/webhook.html", context)


@require_GET
@console_required(*WEBHOOK_ROLES)
def webhook(request, public_id: UUID):
    return _detail(request, _endpoint(request, public_id))


def _call(request, service, **kwargs):
    """The service's answer; its NotFound (another organisation's id, or gone) becomes a 404."""
    try:
        return service(organisation=request.user.organisation, **kwargs)
    except NotFound as exc:
        raise Http404 from exc


@require_POST
@console_required(*WEBHOOK_ROLES)
def webhook_edit(request, public_id: UUID):
    endpoint = _endpoint(request, public_id)
    form = WebhookEndpointForm(request.POST)
    if form.is_valid():
        try:
            _call(
                request, services.webhook_endpoint_update, endpoint_public_id=public_id, **form.cleaned_data
            )
        except ServiceError as exc:
            add_console_error(form, exc)
        else:
            messages.success(request, _("Endpoint saved."))
            return redirect("console-webhook", public_id=public_id)
    return _detail(request, endpoint, form=form)


@require_http_methods(["GET", "POST"])
@console_required(*WEBHOOK_ROLES)
def webhook_delete(request, public_id: UUID):
    endpoint = _endpoint(request, public_id)
    if request.method == "GET":
        return render(request, "console/webhook_delete.html", {"endpoint": endpoint})
    _call(request, services.webhook_endpoint_delete, endpoint_public_id=public_id)
    messages.success(request, _("Endpoint %(url)s deleted.") % {"url": endpoint.url})
    return redirect("console-webhooks")


@require_POST
@console_required(*WEBHOOK_ROLES)
def webhook_roll(request, public_id: UUID):
    endpoint, secret = _call(request, services.webhook_endpoint_roll_secret, endpoint_public_id=public_id)
    return _secret_page(request, endpoint=endpoint, secret=secret, rolled=True)


@require_POST
@console_required(*WEBHOOK_ROLES)
def webhook_enable(request, public_id: UUID):
    _call(request, services.webhook_endpoint_enable, endpoint_public_id=public_id)
    messages.success(request, _("Endpoint enabled: new events are sent to it again."))
    return redirect("console-webhook", public_id=public_id)


@require_POST
@console_required(*WEBHOOK_ROLES)
def webhook_disable(request, public_id: UUID):
    _call(request, services.webhook_endpoint_disable, endpoint_public_id=public_id)
    messages.success(request, _("Endpoint disabled: nothing is sent to it until you enable it."))
    return redirect("console-webhook", public_id=public_id)


@require_POST
@console_required(*WEBHOOK_ROLES)
def webhook_redeliver(request, public_id: UUID):
    delivery = selectors.webhook_delivery_of(request.user.organisation, public_id)
    if delivery is None:
        raise Http404
    try:
        _call(request, services.webhook_delivery_redeliver, delivery_public_id=public_id)
    except ServiceError as exc:
        messages.error(request, console_error_message(exc))
    else:
        messages.success(request, _("Delivery queued: it is sent again in a moment."))
    return redirect("console-webhook", public_id=delivery.endpoint.public_id)

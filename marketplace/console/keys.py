"""API keys: create (named, scoped), list, rotate (both live for a grace period), revoke. The
secret is shown once, in the answer to the POST that made it, and never stored."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import selectors, services
from accounts.models import ApiScope
from core.errors import ServiceError
from marketplace.console.access import KEY_ROLES, console_required
from marketplace.console.forms import ApiKeyCreateForm, add_console_error, console_error_message


def _keys(request, *, form=None):
    now = timezone.now()
    keys = [
        {"key": key, "usable": key.is_usable(now)}
        for key in selectors.api_keys_of(organisation=request.user.organisation)
    ]
    return render(
        request, "console/keys.html", {"keys": keys, "form": form or ApiKeyCreateForm(), "now": now}
    )


@require_GET
@console_required(*KEY_ROLES)
def keys(request):
    return _keys(request)


def _secret_page(request, *, key, plaintext: str, rotated=None):
    labels = dict(ApiScope.choices)
    response = render(
        request,
        "console/key_secret.html",
        {"key": key, "plaintext": plaintext, "rotated": rotated, "scopes": [labels[s] for s in key.scopes]},
    )
    return response


@require_http_methods(["POST"])
@console_required(*KEY_ROLES)
def key_create(request):
    form = ApiKeyCreateForm(request.POST)
    if form.is_valid():
        try:
            key, plaintext = services.api_key_create(
                organisation=request.user.organisation,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                created_by=request.user,
            )
        except ServiceError as exc:
            add_console_error(form, exc)
        else:
            return _secret_page(request, key=key, plaintext=plaintext)
    return _keys(request, form=form)


@require_POST
@console_required(*KEY_ROLES)
def key_rotate(request, key_id: int):
    try:
        old, new, plaintext = services.api_key_rotate(
            key_id=key_id, organisation=request.user.organisation, created_by=request.user
        )
    except ServiceError as exc:
        messages.error(request, console_error_message(exc))
        return redirect("console-keys")
    return _secret_page(request, key=new, plaintext=plaintext, rotated=old)


@require_POST
@console_required(*KEY_ROLES)
def key_revoke(request, key_id: int):
    try:
        key = services.api_key_revoke(key_id=key_id, organisation=request.user.organisation)
    except ServiceError as exc:
        messages.error(request, console_error_message(exc))
    else:
        messages.success(request, _("Key “%(name)s” revoked: it no longer works.") % {"name": key.name})
    return redirect("console-keys")

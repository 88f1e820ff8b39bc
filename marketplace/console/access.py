"""Who may open a console page: a logged-in, active buyer member whose organisation role is
among those the page names. Owners may do everything; developers keys (and webhooks); finance
the card, invoices and usage."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Concatenate, ParamSpec, cast

from django.contrib.auth import views as auth_views
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import redirect
from django.urls import reverse

from accounts.models import User

_ViewParams = ParamSpec("_ViewParams")

OWNER = User.OrganisationRole.OWNER
DEVELOPER = User.OrganisationRole.DEVELOPER
FINANCE = User.OrganisationRole.FINANCE
ALL_ROLES = (OWNER, DEVELOPER, FINANCE)
KEY_ROLES = (OWNER, DEVELOPER)
WEBHOOK_ROLES = KEY_ROLES
BILLING_ROLES = (OWNER, FINANCE)


class ConsoleRequest(HttpRequest):
    """For the type checker only: the user of a request that passed `console_required`."""

    user: User


def console_required(
    *roles: str,
) -> Callable[
    [Callable[Concatenate[ConsoleRequest, _ViewParams], HttpResponseBase]],
    Callable[Concatenate[HttpRequest, _ViewParams], HttpResponseBase],
]:
    """Log in first (the console's login page); moderators go to the admin, sellers and members
    without one of `roles` get 403."""
    allowed = frozenset(roles or ALL_ROLES)

    def decorate(
        view: Callable[Concatenate[ConsoleRequest, _ViewParams], HttpResponseBase],
    ) -> Callable[Concatenate[HttpRequest, _ViewParams], HttpResponseBase]:
        @functools.wraps(view)
        def wrapper(
            request: HttpRequest, *args: _ViewParams.args, **kwargs: _ViewParams.kwargs
        ) -> HttpResponseBase:
            user = request.user
            if not user.is_authenticated:
                return auth_views.redirect_to_login(request.get_full_path(), reverse("console-login"))
            if user.role == User.Role.MODERATOR or user.is_staff:
                return redirect("admin:index")
            if user.role != User.Role.BUYER or user.organisation_role not in allowed:
                raise PermissionDenied
            return view(cast(ConsoleRequest, request), *args, **kwargs)

        return wrapper

    return decorate


def can(user: User, roles: tuple[str, ...]) -> bool:
    return user.organisation_role in roles

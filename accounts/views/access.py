"""Who may open the seller pages: `seller_required` guards every one of them."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Concatenate, ParamSpec, cast
from urllib.parse import urlsplit

from django.contrib.auth import views as auth_views
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect
from django.urls import reverse

from accounts.models import User

_ViewParams = ParamSpec("_ViewParams")


class SellerRequest(HttpRequest):
    """For the type checker only: a request that passed `seller_required` has a logged-in
    seller as its user."""

    user: User


def seller_required(
    view: Callable[Concatenate[SellerRequest, _ViewParams], HttpResponseBase],
) -> Callable[Concatenate[HttpRequest, _ViewParams], HttpResponseBase]:
    """Log in first; then only sellers pass. Moderators go to the admin; buyers get 403."""

    @functools.wraps(view)
    def wrapper(
        request: HttpRequest, *args: _ViewParams.args, **kwargs: _ViewParams.kwargs
    ) -> HttpResponseBase:
        user = request.user
        if not user.is_authenticated:
            if request.headers.get("HX-Request") == "true":
                # An htmx call (the session ended meanwhile): the browser goes to the login page,
                # back to the page it was on, instead of a login form swapped into the page.
                current = urlsplit(request.headers.get("HX-Current-URL", ""))
                back = current.path + (f"?{current.query}" if current.query else "")
                login = auth_views.redirect_to_login(back or request.get_full_path(), reverse("login"))
                response = HttpResponse(status=204)
                response["HX-Redirect"] = login["Location"]
                return response
            return auth_views.redirect_to_login(request.get_full_path(), reverse("login"))
        if user.role == User.Role.MODERATOR or user.is_staff:
            return redirect("admin:index")
        if user.role != User.Role.SELLER:
            raise PermissionDenied
        return view(cast(SellerRequest, request), *args, **kwargs)

    return wrapper

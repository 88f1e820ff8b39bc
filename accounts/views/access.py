"""Who may open the seller pages: `seller_required` guards every one of them."""

from __future__ import annotations

import functools

from django.contrib.auth import views as auth_views
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import reverse

from accounts.models import User


def seller_required(view):
    """Log in first; then only sellers pass. Moderators go to the admin; buyers get 403."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        user = request.user
        if not user.is_authenticated:
            return auth_views.redirect_to_login(request.get_full_path(), reverse("login"))
        if user.role == User.Role.MODERATOR or user.is_staff:
            return redirect("admin:index")
        if user.role != User.Role.SELLER:
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper

"""Where the seller is logged in: their sessions, each closable (which logs that device out)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import logout
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts import selectors, services
from accounts.forms import service_error_message
from accounts.views.access import seller_required
from core.errors import ServiceError


def describe_user_agent(user_agent: str) -> str:
    """A short, readable device name from a User-Agent ("Firefox on Android"); the raw string
    is in the page's title attribute for whoever wants it."""
    ua = user_agent.lower()
    browser = next(
        (
            name
            for key, name in (
                ("edg/", "Edge"),
                ("opr/", "Opera"),
                ("firefox/", "Firefox"),
                ("chrome/", "Chrome"),
                ("chromium/", "Chromium"),
                ("safari/", "Safari"),
            )
            if key in ua
        ),
        "",
    )
    system = next(
        (
            name
            for key, name in (
                ("android", "Android"),
                ("iphone", "iPhone"),
                ("ipad", "iPad"),
                ("windows", "Windows"),
                ("mac os", "macOS"),
                ("linux", "Linux"),
            )
            if key in ua
        ),
        "",
    )
    if browser and system:
        return _("%(browser)s on %(system)s") % {"browser": browser, "system": system}
    return browser or system or (user_agent[:60] if user_agent else _("Unknown device"))


@require_GET
@seller_required
def sessions(request):
    current = request.session.session_key
    rows = [
        {
            "id": row.pk,
            "device": describe_user_agent(row.user_agent),
            "user_agent": row.user_agent,
            "ip_address": row.ip_address,
            "created_at": row.created_at,
            "last_seen_at": row.last_seen_at,
            "current": row.session_key == current,
        }
        for row in selectors.login_sessions_for(user=request.user)
    ]
    return render(request, "accounts/sessions.html", {"sessions": rows})


@require_POST
@seller_required
def session_close(request, login_session_id: int):
    current = request.session.session_key
    try:
        closed = services.login_session_close(user=request.user, login_session_id=login_session_id)
    except ServiceError as exc:
        messages.error(request, service_error_message(exc))
        return redirect("seller-sessions")
    if closed.session_key == current:
        logout(request)
        return redirect("login")
    messages.success(request, _("That session is closed: the device was logged out."))
    return redirect("seller-sessions")

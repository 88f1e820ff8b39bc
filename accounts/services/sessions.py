"""The logins a user sees and closes: recorded at login, touched while used, deleted at logout."""

from __future__ import annotations

from datetime import datetime

from django.contrib.sessions.models import Session
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import LoginSession, User
from core.errors import NotFound

USER_AGENT_MAX = 300


def _client_ip(request: HttpRequest) -> str | None:
    # REMOTE_ADDR, as django-axes reads it (config.settings: AXES_CLIENT_IP_CALLABLE behind a proxy)
    return request.META.get("REMOTE_ADDR") or None


def login_session_record(*, request: HttpRequest, user: User) -> LoginSession | None:
    """After login: the new session's device, address and time (login() has cycled its key)."""
    session = getattr(request, "session", None)
    session_key = getattr(session, "session_key", None)
    if not session_key or not getattr(user, "pk", None):
        return None
    now = timezone.now()
    row, _ = LoginSession.objects.update_or_create(
        session_key=session_key,
        defaults={
            "user": user,
            "user_agent": request.META.get("HTTP_USER_AGENT", "")[:USER_AGENT_MAX],
            "ip_address": _client_ip(request),
            "last_seen_at": now,
        },
    )
    return row


def login_session_forget(*, session_key: str | None) -> None:
    """At logout: the session is gone, so is its row."""
    if session_key:
        LoginSession.objects.filter(session_key=session_key).delete()


def login_session_touch(*, session_key: str, at: datetime | None = None) -> None:
    LoginSession.objects.filter(session_key=session_key).update(last_seen_at=at or timezone.now())


def login_session_close(*, user: User, login_session_id: int) -> LoginSession:
    """Log one of the user's sessions out: its session row and its LoginSession row are deleted,
    so the device holding that cookie is anonymous on its next request."""
    with transaction.atomic():
        row = LoginSession.objects.select_for_update().filter(pk=login_session_id, user=user).first()
        if row is None:
            raise NotFound("not_found", "No such session.")
        Session.objects.filter(session_key=row.session_key).delete()
        row.delete()
    return row


def login_sessions_prune(*, user: User) -> int:
    """Rows whose session has expired or was deleted elsewhere (a password change, clearsessions)."""
    live = Session.objects.filter(expire_date__gt=timezone.now()).values("session_key")
    deleted, _ = LoginSession.objects.filter(user=user).exclude(session_key__in=live).delete()
    return deleted


__all__ = [
    "login_session_close",
    "login_session_forget",
    "login_session_record",
    "login_session_touch",
    "login_sessions_prune",
]

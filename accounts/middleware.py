"""Keeps a logged-in session's "last activity" (accounts.models.LoginSession) roughly current."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from accounts import services

TOUCHED_KEY = "_courtier_seen"  # in the session: when its LoginSession was last touched (epoch s)


class LoginSessionMiddleware:
    """At most once every LOGIN_SESSION_TOUCH_SECONDS per session: one UPDATE of its row and a
    session save. Other requests cost nothing (the time is read from the already loaded session)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        session = getattr(request, "session", None)
        # after the view: a login or logout in this request has already recorded or forgotten it
        if session is None or not session.session_key or user is None or not user.is_authenticated:
            return response
        now = time.time()
        seen = session.get(TOUCHED_KEY)
        if seen is None or now - float(seen) >= settings.LOGIN_SESSION_TOUCH_SECONDS:
            services.login_session_touch(session_key=session.session_key)
            session[TOUCHED_KEY] = now
        return response

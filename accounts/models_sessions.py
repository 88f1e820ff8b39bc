"""The logins a user can see and close (accounts.views.sessions): one row per logged-in session.

Written when a session logs in (accounts.services.sessions.login_session_record, on Django's
user_logged_in signal), touched at most every LOGIN_SESSION_TOUCH_SECONDS while it is used
(accounts.middleware), deleted when it logs out or is closed. Sessions themselves stay in Django's
database session table: closing one deletes its row there, which logs that device out.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class LoginSession(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="login_sessions"
    )
    # django_session.session_key: never shown, never sent to the page (rows are named by pk)
    session_key = models.CharField(max_length=40, unique=True)
    user_agent = models.CharField(_("device"), max_length=300, blank=True)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    created_at = models.DateTimeField(_("logged in"), auto_now_add=True)
    last_seen_at = models.DateTimeField(_("last activity"))

    class Meta:
        ordering = ["-last_seen_at", "-id"]
        indexes = [models.Index(fields=["user", "last_seen_at"], name="login_session_user")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.user_agent[:40]}"

"""Django's login and logout signals, the one place every login passes (the seller and console
forms, the admin, force_login): they keep accounts.models.LoginSession in step."""

from __future__ import annotations

import time

from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.db.models.signals import post_migrate
from django.dispatch import receiver

from accounts import services
from accounts.middleware import TOUCHED_KEY


@receiver(user_logged_in, dispatch_uid="accounts.login_session_record")
def _record_login(sender, request, user, **kwargs) -> None:
    session = getattr(request, "session", None)
    if request is None or session is None:
        return
    if not session.session_key:  # login() flushed another user's session: give the new one its key
        session.save()
    if services.login_session_record(request=request, user=user) is not None:
        request.session[TOUCHED_KEY] = time.time()


@receiver(user_logged_out, dispatch_uid="accounts.login_session_forget")
def _forget_logout(sender, request, user, **kwargs) -> None:
    session = getattr(request, "session", None)
    services.login_session_forget(session_key=getattr(session, "session_key", None))


@receiver(post_migrate, dispatch_uid="accounts.roles_sync")
def _sync_roles(sender, app_config, using="default", **kwargs) -> None:
    """Staff groups and their permissions (accounts.roles), once the accounts app has migrated."""
    if app_config.label == "accounts":
        from accounts import roles

        roles.roles_sync(using=using)

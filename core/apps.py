from django.apps import AppConfig


class CoreConfig(AppConfig):
    """What every app may import and that imports no app: the buyer API's Idempotency-Key."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "core"

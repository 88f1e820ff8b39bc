from django.apps import AppConfig


class CoreConfig(AppConfig):
    """What every app may import and that imports no app: service errors, the API's error shape,
    admin bases, the buyer API's Idempotency-Key, money display and database helpers."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "core"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from core import append_only, db

        db.register()
        post_migrate.connect(append_only.ensure_sqlite_triggers, dispatch_uid="append_only_sqlite")

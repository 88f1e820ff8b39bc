from django.apps import AppConfig


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"

    def ready(self) -> None:
        # the system checks; login sessions that follow login and logout
        from accounts import checks, receivers  # noqa: F401

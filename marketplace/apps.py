from django.apps import AppConfig


class MarketplaceConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "marketplace"

    def ready(self) -> None:
        from accounts import hooks
        from marketplace import services

        hooks.register_consent_change_handler(services.on_consent_change)

from django.apps import AppConfig


class MarketplaceConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "marketplace"

    def ready(self) -> None:
        from accounts import hooks
        from marketplace import services, settlement
        from payments.handlers import register_payment_outcome_handler

        hooks.register_consent_change_handler(services.on_consent_change)
        register_payment_outcome_handler(settlement.on_payment_outcome)

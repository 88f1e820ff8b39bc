from django.apps import AppConfig


class ListingsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "listings"

    def ready(self) -> None:
        from accounts import hooks
        from listings import receivers, selectors

        hooks.register_consent_change_handler(
            receivers.on_consent_change, stage=hooks.ConsentHandlerStage.LISTINGS
        )
        hooks.register_suspension_handler(receivers.on_suspension, stage=hooks.ConsentHandlerStage.LISTINGS)
        hooks.register_export_section("listings", selectors.seller_export_listings)

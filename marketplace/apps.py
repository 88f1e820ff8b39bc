from django.apps import AppConfig


class MarketplaceConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "marketplace"

    def ready(self) -> None:
        from accounts import hooks
        from listings.valuation import register_clearing_price_provider, register_market_prices_provider
        from marketplace import selectors, services, settlement
        from payments.handlers import register_payment_outcome_handler

        hooks.register_consent_change_handler(
            services.on_consent_change, stage=hooks.ConsentHandlerStage.MARKETPLACE
        )
        hooks.register_suspension_handler(services.on_suspension, stage=hooks.ConsentHandlerStage.MARKETPLACE)
        register_payment_outcome_handler(settlement.on_payment_outcome)
        register_clearing_price_provider(selectors.clearing_prices, many=selectors.clearing_prices_many)
        register_market_prices_provider(selectors.paid_per_record)
        hooks.register_export_section("sales", selectors.seller_export_sales)
        hooks.register_export_section("recipients", selectors.seller_export_recipients)
        hooks.register_export_section("access_log", selectors.seller_export_access_log)
        hooks.register_export_section("deletion_notices", selectors.seller_export_deletion_notices)
        hooks.register_export_section("reports", selectors.seller_export_reports)

from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "payments"

    def ready(self) -> None:
        from accounts import hooks
        from payments import (
            checks,  # noqa: F401 - registers the system checks
            selectors,
        )

        hooks.register_export_section("earnings", selectors.seller_export_earnings)
        hooks.register_export_section("sale_shares", selectors.seller_export_sale_shares)
        hooks.register_export_section("payouts", selectors.seller_export_payouts)
        hooks.register_export_section("payout_account", selectors.seller_export_payout_account)

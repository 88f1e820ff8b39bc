from django.urls import include, path

from marketplace import views, views_seller

urlpatterns = [
    path("console/", include("marketplace.console.urls")),
    path("", views_seller.home, name="seller-dashboard"),
    path("payouts/", views_seller.earnings, name="seller-payouts"),
    path("sales/", views.sales, name="seller-sales"),
    path("sales.json", views.sales_json, name="seller-sales-json"),
    path("sales/<int:organisation_id>/report/", views.report_organisation, name="seller-report-organisation"),
]

from django.urls import include, path

from marketplace import views

urlpatterns = [
    path("console/", include("marketplace.console.urls")),
    path("sales/", views.sales, name="seller-sales"),
    path("sales.json", views.sales_json, name="seller-sales-json"),
]

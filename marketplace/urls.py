from django.urls import path

from marketplace import views

urlpatterns = [
    path("sales/", views.sales, name="seller-sales"),
    path("sales.json", views.sales_json, name="seller-sales-json"),
]

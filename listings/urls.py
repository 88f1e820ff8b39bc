from django.urls import path

from listings import views

urlpatterns = [
    path("valuation.json", views.valuation_json, name="seller-valuation-json"),
]

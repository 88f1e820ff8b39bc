from django.urls import path

from payments import views

urlpatterns = [
    path("payouts/onboarding/", views.onboarding_start, name="seller-payouts-onboarding"),
    path("payouts/onboarding/refresh/", views.onboarding_refresh, name="seller-payouts-refresh"),
    path("payouts/onboarding/return/", views.onboarding_return, name="seller-payouts-return"),
]

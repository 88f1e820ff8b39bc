from django.urls import path

from accounts.api import views

urlpatterns = [
    path("organisation/", views.OrganisationView.as_view(), name="api-organisation"),
    path(
        "organisation/verification-request/",
        views.OrganisationVerificationRequestView.as_view(),
        name="api-organisation-verification-request",
    ),
]

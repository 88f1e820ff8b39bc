from csp.decorators import csp_update
from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from accounts.views import second_factor
from core import views as core_views
from payments.webhooks import stripe_webhook

handler404 = core_views.not_found
handler500 = core_views.server_error


def health(request):
    return JsonResponse({"status": "ok"})


api_v1 = [
    path("", include("accounts.api.urls")),
    path("", include("listings.api.urls")),
    path("", include("marketplace.api.urls")),
    path("", include("payments.api.urls")),
]

urlpatterns = [
    # before the admin's own URLs: its permission check refuses a session without a second factor
    path("admin/second-factor/", second_factor.enrol, name="staff-second-factor"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # the split view serves its init script as a file (?script): no inline script for the CSP
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/problems/", core_views.problem_index, name="api-problems"),
    path("api/problems/<slug:code>/", core_views.problem_detail, name="api-problem"),
    # Redoc (sidecar static file) styles itself with injected <style> elements and searches in a
    # blob: worker: this page alone allows both.
    path(
        "api/redoc/",
        csp_update({"style-src": ["'unsafe-inline'"], "worker-src": ["'self'", "blob:"]})(
            SpectacularRedocView.as_view(url_name="api-schema")
        ),
        name="api-redoc",
    ),
    re_path(r"^api/", core_views.api_unrouted),  # after every API route: a 404 problem
    path("i18n/", include("django.conf.urls.i18n")),
    path("healthz", health, name="health"),
    path("webhooks/stripe/", stripe_webhook, name="stripe-webhook"),
    path("", include("payments.urls")),
    path("", include("listings.urls")),
    path("", include("marketplace.urls")),
    path("", include("accounts.urls")),
]

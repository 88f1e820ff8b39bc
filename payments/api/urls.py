from django.urls import path

from payments.api import views

urlpatterns = [
    path("payment-methods/", views.PaymentMethodView.as_view(), name="api-payment-methods"),
    path("payment-methods/setup-intent/", views.SetupIntentCreateView.as_view(), name="api-setup-intent"),
    path("payments/", views.PaymentListView.as_view(), name="api-payments"),
    path("payments/<uuid:public_id>/", views.PaymentDetailView.as_view(), name="api-payment"),
]

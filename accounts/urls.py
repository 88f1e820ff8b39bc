from django.urls import path

from accounts import views

urlpatterns = [
    path("", views.dashboard, name="seller-dashboard"),
    path("signup/", views.signup, name="signup"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("verify/", views.verification, name="seller-verification"),
    path("verify/email/send/", views.email_verification_send, name="email-verification-send"),
    path("verify/email/<str:token>/", views.email_verify, name="email-verify"),
    path("verify/phone/send/", views.phone_code_send, name="phone-code-send"),
    path("verify/phone/", views.phone_verify, name="phone-verify"),
    path("profile/", views.profile, name="seller-profile"),
    path("life-events/", views.life_events, name="seller-life-events"),
    path("life-events/<str:kind>/remove/", views.life_event_remove, name="seller-life-event-remove"),
    path("consents/", views.consents, name="seller-consents"),
    path("consents/grant/", views.consent_grant, name="seller-consent-grant"),
    path("consents/<int:grant_id>/renew/", views.consent_renew, name="seller-consent-renew"),
    path("consents/<int:grant_id>/revoke/", views.consent_revoke, name="seller-consent-revoke"),
    path("consents/receipts/<uuid:receipt_id>.json", views.consent_receipt, name="seller-consent-receipt"),
    path("my-data/", views.my_data, name="seller-my-data"),
    path("my-data/export.json", views.my_data_export, name="seller-my-data-export"),
    path("my-data/erase/", views.my_data_erase, name="seller-my-data-erase"),
    path("privacy/", views.privacy_notice, name="privacy-notice"),
]

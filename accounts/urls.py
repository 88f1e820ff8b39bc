from django.urls import path

from accounts.views import auth, consents, dashboard, my_data, privacy, profile, sessions

urlpatterns = [
    path("signup/", auth.signup, name="signup"),
    path("login/", auth.LoginView.as_view(), name="login"),
    path("logout/", auth.LogoutView.as_view(), name="logout"),
    path("password-reset/", auth.PasswordResetView.as_view(), name="password_reset"),
    path("password-reset/sent/", auth.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "password-reset/<uidb64>/<token>/",
        auth.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("password-reset/done/", auth.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("sessions/", sessions.sessions, name="seller-sessions"),
    path("sessions/<int:login_session_id>/close/", sessions.session_close, name="seller-session-close"),
    path("verify/", dashboard.verification, name="seller-verification"),
    path("verify/email/send/", dashboard.email_verification_send, name="email-verification-send"),
    path("verify/email/<str:token>/", dashboard.email_verify, name="email-verify"),
    path("verify/phone/send/", dashboard.phone_code_send, name="phone-code-send"),
    path("verify/phone/", dashboard.phone_verify, name="phone-verify"),
    path("profile/", profile.profile, name="seller-profile"),
    path("life-events/", profile.life_events, name="seller-life-events"),
    path("life-events/<str:kind>/remove/", profile.life_event_remove, name="seller-life-event-remove"),
    path("consents/", consents.consents, name="seller-consents"),
    path("consents/cell/<str:category>/<str:purpose>/", consents.consent_cell, name="seller-consent-cell"),
    path("consents/grant/", consents.consent_grant, name="seller-consent-grant"),
    path("consents/<int:grant_id>/renew/", consents.consent_renew, name="seller-consent-renew"),
    path("consents/<int:grant_id>/revoke/", consents.consent_revoke, name="seller-consent-revoke"),
    path("consents/receipts/<uuid:receipt_id>.json", consents.consent_receipt, name="seller-consent-receipt"),
    path("my-data/", my_data.my_data, name="seller-my-data"),
    path("my-data/export.json", my_data.my_data_export, name="seller-my-data-export"),
    path("my-data/erase/", my_data.my_data_erase, name="seller-my-data-erase"),
    path("privacy/", privacy.privacy_notice, name="privacy-notice"),
]

from django.urls import path

from marketplace.console import auth, billing, keys, members, organisation

urlpatterns = [
    path("", organisation.dashboard, name="console-dashboard"),
    path("signup/", auth.signup, name="console-signup"),
    path("login/", auth.LoginView.as_view(), name="console-login"),
    path("invitation/<str:token>/", auth.invitation, name="console-invitation"),
    path("verify/email/send/", organisation.contact_email_send, name="console-contact-email-send"),
    path("verify/email/<str:token>/", organisation.contact_email_verify, name="console-contact-email-verify"),
    path("verify/phone/send/", organisation.contact_phone_send, name="console-contact-phone-send"),
    path("verify/phone/", organisation.contact_phone_verify, name="console-contact-phone-verify"),
    path("verification-request/", organisation.verification_request, name="console-verification-request"),
    path("members/", members.members, name="console-members"),
    path("members/invite/", members.member_invite, name="console-member-invite"),
    path("members/<int:member_id>/role/", members.member_role, name="console-member-role"),
    path("members/<int:member_id>/remove/", members.member_remove, name="console-member-remove"),
    path("keys/", keys.keys, name="console-keys"),
    path("keys/new/", keys.key_create, name="console-key-create"),
    path("keys/<int:key_id>/rotate/", keys.key_rotate, name="console-key-rotate"),
    path("keys/<int:key_id>/revoke/", keys.key_revoke, name="console-key-revoke"),
    path("billing/card/", billing.card, name="console-card"),
    path("billing/invoices/", billing.invoices, name="console-invoices"),
    path("billing/invoices/<uuid:public_id>/", billing.receipt, name="console-receipt"),
    path("usage/", billing.usage, name="console-usage"),
]

"""The console's sign-up: the organisation and its owner, the contact email and phone checks,
the request for verification (refused while something is missing) and what moderators see."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.urls import reverse

from accounts import services
from accounts.models import BuyerOrganisation, OrganisationVerificationEvent, User
from tests.conftest import staff_client
from tests.factories import ModeratorFactory
from tests.marketplace.console_helpers import PASSWORD

pytestmark = pytest.mark.django_db

SIGNUP = {
    "email": "claire@annonceur.example",
    "password1": PASSWORD,
    "password2": PASSWORD,
    "full_name": "Claire Martin",
    "language": "en",
    "legal_name": "Annonceur SAS",
    "registration_number": "123456789",
    "country": "fr",
    "website": "https://annonceur.example",
    "contact_name": "Claire Martin",
    "contact_email": "contact@annonceur.example",
    "contact_phone": "06 12 34 56 78",
}


def test_signup_creates_the_organisation_and_its_owner_and_emails_the_contact(client):
    response = client.post(reverse("console-signup"), SIGNUP)

    assert response.status_code == 302 and response.url == reverse("console-dashboard")
    user = User.objects.get(email="claire@annonceur.example")
    assert (user.role, user.organisation_role) == (User.Role.BUYER, User.OrganisationRole.OWNER)
    organisation = user.organisation
    assert (organisation.legal_name, organisation.country, organisation.contact_phone) == (
        "Annonceur SAS",
        "FR",
        "+33612345678",
    )
    assert organisation.verification_status == BuyerOrganisation.Verification.UNVERIFIED
    assert organisation.contact_email_verified_at is None and organisation.contact_phone_verified_at is None
    (message,) = mail.outbox
    assert message.to == ["contact@annonceur.example"]
    assert "/console/verify/email/" in message.body


def test_signup_with_a_taken_registration_stores_nothing(client):
    client.post(reverse("console-signup"), SIGNUP)
    client.logout()

    response = client.post(reverse("console-signup"), {**SIGNUP, "email": "other@annonceur.example"})

    assert response.status_code == 200
    assert "already exists in this country" in response.content.decode()
    assert not User.objects.filter(email="other@annonceur.example").exists()
    assert BuyerOrganisation.objects.count() == 1


def test_a_bad_phone_is_a_form_error(client):
    response = client.post(reverse("console-signup"), {**SIGNUP, "contact_phone": "12"})

    assert response.status_code == 200
    assert "international number" in response.content.decode()
    assert not User.objects.exists()


def test_verification_is_refused_until_email_and_phone_are_verified_then_pending(
    client, django_assert_max_num_queries
):
    client.post(reverse("console-signup"), SIGNUP)
    organisation = BuyerOrganisation.objects.get()

    refused = client.post(reverse("console-verification-request"))
    assert refused.status_code == 200
    body = refused.content.decode()
    assert "Complete the missing details and checks first." in body
    assert "Contact email not verified" in body and "Contact phone not verified" in body
    organisation.refresh_from_db()
    assert organisation.verification_status == "unverified"

    # email: the emailed link, confirmed by POST
    link = re.search(r"http://\S+/console/verify/email/(\S+)/", mail.outbox[0].body)
    assert client.get(reverse("console-contact-email-verify", args=[link[1]])).status_code == 200
    client.post(reverse("console-contact-email-verify", args=[link[1]]))
    # phone: a wrong code, then the one sent by SMS
    wrong = client.post(reverse("console-contact-phone-verify"), {"code": "000000"})
    assert "This code is wrong or expired." in wrong.content.decode()
    code = services.organisation_contact_phone_code(organisation=organisation)
    client.post(reverse("console-contact-phone-verify"), {"code": code})
    organisation.refresh_from_db()
    assert organisation.contact_email_verified_at and organisation.contact_phone_verified_at

    response = client.post(reverse("console-verification-request"))

    assert response.status_code == 302
    organisation.refresh_from_db()
    assert organisation.verification_status == "pending"
    assert OrganisationVerificationEvent.objects.get().to_status == "pending"
    with django_assert_max_num_queries(6):
        page = client.get(reverse("console-dashboard"))
    assert 'data-status="pending"' in page.content.decode()


def test_a_rejected_organisation_sees_the_reason(client):
    client.post(reverse("console-signup"), SIGNUP)
    organisation = BuyerOrganisation.objects.get()
    BuyerOrganisation.objects.filter(pk=organisation.pk).update(verification_status="pending")
    services.organisation_set_verification(
        organisation_id=organisation.pk,
        to_status="rejected",
        actor=ModeratorFactory(),
        reason="No such company.",
    )

    body = client.get(reverse("console-dashboard")).content.decode()

    assert 'data-status="rejected"' in body and "No such company." in body


def test_the_contact_email_link_is_void_once_the_address_changes(client):
    client.post(reverse("console-signup"), SIGNUP)
    organisation = BuyerOrganisation.objects.get()
    token = services.organisation_contact_email_token(organisation)
    BuyerOrganisation.objects.filter(pk=organisation.pk).update(contact_email="new@annonceur.example")

    response = client.post(reverse("console-contact-email-verify", args=[token]))

    assert response.status_code == 400
    organisation.refresh_from_db()
    assert organisation.contact_email_verified_at is None


def test_moderators_see_what_is_missing_in_the_admin(client):
    client.post(reverse("console-signup"), SIGNUP)
    organisation = BuyerOrganisation.objects.get()
    staff_client(ModeratorFactory(), client)  # signed in, second factor passed

    listing = client.get(reverse("admin:accounts_buyerorganisation_changelist")).content.decode()
    change = client.get(
        reverse("admin:accounts_buyerorganisation_change", args=[organisation.pk])
    ).content.decode()

    assert "contact email not verified, contact phone not verified" in listing
    assert "contact email not verified, contact phone not verified" in change


def test_sellers_and_anonymous_visitors_do_not_enter_the_console(client, seller):
    assert client.get(reverse("console-dashboard")).url.startswith(reverse("console-login"))
    client.force_login(seller)
    assert client.get(reverse("console-dashboard")).status_code == 403


def test_console_login_lands_on_the_dashboard(client):
    client.post(reverse("console-signup"), SIGNUP)
    client.logout()

    response = client.post(
        reverse("console-login"), {"username": "claire@annonceur.example", "password": PASSWORD}
    )

    assert response.status_code == 302 and response.url == reverse("console-dashboard")


def test_the_console_speaks_french(client):
    client.cookies["django_language"] = "fr"

    body = client.get(reverse("console-signup")).content.decode()

    assert "Créer un compte annonceur" in body and "Téléphone de contact" in body


def test_a_buyer_logging_in_on_the_seller_login_lands_in_the_console(client):
    client.post(reverse("console-signup"), SIGNUP)
    client.logout()

    response = client.post(reverse("login"), {"username": "claire@annonceur.example", "password": PASSWORD})

    assert response.status_code == 302 and response.url == reverse("console-dashboard")

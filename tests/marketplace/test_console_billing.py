"""Money pages of the console: invoices and receipts of trades, spend per month, the card saved
through a SetupIntent at the Stripe sandbox (localstripe), and the card page's CSP."""

from __future__ import annotations

import pytest
from django.urls import reverse

from payments.models import StripeCustomer
from tests.factories import OrganisationFactory, PayingOrganisationFactory
from tests.marketplace.console_helpers import member, paid_batch
from tests.payments.conftest import (  # noqa: F401  (fixtures)
    stripe_api,
    stripe_sandbox,
    stripe_settings,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def finance():
    return member(PayingOrganisationFactory(), "finance")


def test_invoices_list_payments_with_what_they_paid_for(client, finance, django_assert_max_num_queries):
    payment = paid_batch(finance.organisation, price=500, trades=2)
    theirs = paid_batch(PayingOrganisationFactory(), trades=1)
    client.force_login(finance)

    with django_assert_max_num_queries(6):
        body = client.get(reverse("console-invoices")).content.decode()

    assert "2 trades, 2 records" in body
    assert "€10.00" in body
    assert str(payment.public_id) in body
    assert str(theirs.public_id) not in body


def test_a_receipt_itemises_the_trades(client, finance, django_assert_max_num_queries):
    payment = paid_batch(finance.organisation, price=500, trades=2)
    client.force_login(finance)

    with django_assert_max_num_queries(6):
        response = client.get(reverse("console-receipt", args=[payment.public_id]))

    body = response.content.decode()
    assert response.status_code == 200
    assert finance.organisation.legal_name in body
    assert body.count("Targeted advertising") == 2
    assert "€10.00" in body and "€5.00" in body


def test_another_organisations_receipt_is_not_found(client, finance):
    theirs = paid_batch(PayingOrganisationFactory(), trades=1)
    client.force_login(finance)

    assert client.get(reverse("console-receipt", args=[theirs.public_id])).status_code == 404


def test_usage_shows_spend_per_month_and_keys(client, finance, django_assert_max_num_queries):
    from accounts import services

    paid_batch(finance.organisation, price=500, trades=2)
    paid_batch(finance.organisation, price=250, trades=1)
    services.api_key_create(organisation=finance.organisation, name="prod")
    client.force_login(finance)

    with django_assert_max_num_queries(6):  # session, user, organisation, spend, keys, API usage
        body = client.get(reverse("console-usage")).content.decode()

    assert "€12.50" in body
    assert "prod" in body


def test_a_card_is_saved_from_a_confirmed_setup_intent(client, stripe_api, settings, stripe_sandbox):  # noqa: F811
    settings.STRIPE_JS_URL = f"{stripe_sandbox.api_base}/js.stripe.com/v3/"
    owner = member(OrganisationFactory(), "owner")
    client.force_login(owner)

    page = client.get(reverse("console-card"))
    body = page.content.decode()
    assert page.status_code == 200
    assert f'src="{settings.STRIPE_JS_URL}"' in body
    csp = page["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";") if part.strip())
    assert directives["script-src"] == directives["connect-src"] == f"'self' {stripe_sandbox.api_base}"
    assert directives["frame-src"] == stripe_sandbox.api_base
    customer = StripeCustomer.objects.get(organisation=owner.organisation)
    (intent,) = stripe_api.v1.setup_intents.list({"customer": customer.stripe_customer_id}).data
    assert f'data-client-secret="{intent.client_secret}"' in body
    # what Stripe.js does in the browser: confirm the SetupIntent with the card
    stripe_api.v1.setup_intents.confirm(intent.id, {"payment_method": "pm_card_visa"})

    response = client.post(reverse("console-card"), {"setup_intent": intent.id}, follow=True)

    customer.refresh_from_db()
    assert customer.default_payment_method_id and customer.card_last4 == "4242"
    assert "Your card is saved." in response.content.decode()
    assert "4242" in response.content.decode()


def test_a_foreign_setup_intent_saves_nothing(client, stripe_api):  # noqa: F811
    from payments import services as payment_services

    theirs = payment_services.payment_method_setup_intent_create(organisation_id=OrganisationFactory().pk)
    owner = member(OrganisationFactory(), "owner")
    client.force_login(owner)

    response = client.post(reverse("console-card"), {"setup_intent": theirs["setup_intent_id"]}, follow=True)

    assert "The card could not be saved" in response.content.decode()
    assert (
        not StripeCustomer.objects.filter(organisation=owner.organisation)
        .exclude(default_payment_method_id="")
        .exists()
    )


def test_pages_other_than_the_card_page_keep_the_strict_csp(client, finance):
    client.force_login(finance)

    csp = client.get(reverse("console-invoices"))["Content-Security-Policy"]

    directives = dict(part.strip().split(" ", 1) for part in csp.split(";") if part.strip())
    assert (directives["script-src"], directives["connect-src"]) == ("'self'", "'self'")

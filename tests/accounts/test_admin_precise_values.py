"""Moderators never see a seller's precise values (issue 14): on every page of every model the
admin registers, the seller is their pseudonym. A data protection officer opens the values from
the seller's page, with a reason that the audit trail keeps; a moderator is refused there."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from accounts import services
from accounts.models import ApiKey, ConsentEvent, LifeEvent, OrganisationVerificationEvent, User
from accounts.taxonomy import DataCategory, Gender, LifeEventKind, Purpose, Region
from core import audit
from core.models import AuditEntry
from listings import services as listing_services
from marketplace.models import AccessGrant, AccessLog, Bid, DeletionNotice, Trade, TradeLine
from marketplace.models_webhooks import WebhookDelivery, WebhookEndpoint, WebhookEvent
from marketplace.services.reports import report_organisation
from payments.models import (
    ConnectAccount,
    Dispute,
    LedgerAccount,
    LedgerTransaction,
    Payment,
    Payout,
    ReconciliationIssue,
    ReconciliationRun,
    StripeCustomer,
    StripeEvent,
)

pytestmark = pytest.mark.django_db

EMAIL = "zoe.distinctive-precise@example.test"
FULL_NAME = "Zoé Distinctivenom"
PHONE = "+33698761234"
BIRTH_DATE = date(1987, 3, 14)
POSTCODE = "69123"
LIFE_EVENT_DETAILS = "Wedding at the Distinctive Chapel"
# how each may be written on a page (HTML-escaped, or the local part of the email alone)
PRECISE = (
    EMAIL,
    EMAIL.split("@")[0],
    FULL_NAME,
    "Distinctivenom",
    PHONE,
    PHONE[1:],
    "98761234",
    BIRTH_DATE.isoformat(),
    "14/03/1987",
    "March 14, 1987",
    POSTCODE,
    LIFE_EVENT_DETAILS,
)


@pytest.fixture
def precise_seller(db):
    seller = services.seller_create(email=EMAIL, password="a long password, 1!", full_name=FULL_NAME)
    services.seller_profile_update(
        seller=seller,
        gender=Gender.choices[0][0],
        region=Region.ARA,
        birth_date=BIRTH_DATE,
        postcode=POSTCODE,
        phone=PHONE,
        interests=[],
    )
    services.life_event_set(seller=seller, kind=LifeEventKind.choices[0][0], details=LIFE_EVENT_DETAILS)
    return seller


def _one_row_of_every_model(seller: User, organisation, moderator) -> None:
    """Rows that name the seller wherever a model can (and one of the others), as the product
    writes them or, where that takes a whole settlement, as the tables hold them."""
    now = timezone.now()
    grant = services.consent_grant(
        seller=seller,
        category=DataCategory.DEMOGRAPHICS,
        purpose=Purpose.TARGETED_ADVERTISING,
        window_days=90,
    )
    services.consent_grant(
        seller=seller, category=DataCategory.LOCATION, purpose=Purpose.TARGETED_ADVERTISING, window_days=90
    )
    services.api_key_create(organisation=organisation, name="precise")
    services.organisation_set_verification(organisation_id=organisation.pk, to_status="pending", actor=None)
    listing = listing_services.listing_create(
        seller=seller,
        categories=["demographics", "location"],
        purposes=["targeted_advertising"],
        licence_days=30,
        pricing_mode="fixed",
        floor_price_cents=1000,
    )
    listing_services.listing_moderate(listing_id=listing.pk, moderator=moderator, approve=True)
    bid = Bid.objects.create(
        organisation=organisation,
        listing=listing,
        kind=Bid.Kind.choices[0][0],
        amount_cents=1000,
        purpose="targeted_advertising",
        licence_days=30,
    )
    trade = Trade.objects.create(
        organisation=organisation,
        bid=bid,
        purpose="targeted_advertising",
        licence_days=30,
        price_per_record_cents=1000,
        fee_bps=2000,
        status=Trade.Status.PAYMENT_FAILED,  # its buyer in the failing-payments queue
    )
    line = TradeLine.objects.create(
        trade=trade, seller=seller, categories_mask=grant.pair_bit, price_cents=1000
    )
    access = AccessGrant.objects.create(
        organisation=organisation,
        seller=seller,
        trade_line=line,
        categories_mask=1,
        purpose="targeted_advertising",
        starts_at=now,
        ends_at=now + timedelta(days=30),
    )
    AccessLog.objects.create(grant=access)
    # the seller reports the buyer: the report's context names the seller's trades with it
    report_organisation(
        seller=seller, organisation_id=organisation.pk, reason="misuse_of_data", details="Spam"
    )
    DeletionNotice.objects.create(
        organisation=organisation,
        seller=seller,
        categories_mask=1,
        reason="revoked",
        deadline=now,
        status=DeletionNotice.Status.OVERDUE,
    )
    endpoint = WebhookEndpoint.objects.create(
        organisation=organisation, url="https://hooks.example.test/courtier", secret_encrypted="x"
    )
    event = WebhookEvent.objects.create(
        organisation=organisation, type=WebhookEvent._meta.get_field("type").choices[0][0], payload={}
    )
    WebhookDelivery.objects.create(event=event, endpoint=endpoint, give_up_at=now + timedelta(days=1))
    customer = StripeCustomer.objects.create(organisation=organisation, stripe_customer_id="cus_precise")
    payment = Payment.objects.create(
        reference=f"trade:{trade.public_id}",
        organisation=organisation,
        customer=customer,
        amount=1000,
        payment_method_id="pm_card_visa",
    )
    Dispute.objects.create(payment=payment, stripe_dispute_id="du_precise", amount=1000, currency="EUR")
    account = ConnectAccount.objects.create(seller=seller, stripe_account_id="acct_precise")
    Payout.objects.create(seller=seller, connect_account=account, amount=800)
    StripeEvent.objects.create(  # the seller's Connect account, as Stripe sends it
        event_id="evt_precise",
        type="account.updated",
        payload={
            "id": "evt_precise",
            "data": {
                "object": {
                    "id": "acct_precise",
                    "email": EMAIL,
                    "individual": {"first_name": "Zoé", "last_name": "Distinctivenom", "phone": PHONE},
                }
            },
        },
    )
    run = ReconciliationRun.objects.create(window_start=now - timedelta(days=1))
    ReconciliationIssue.objects.create(
        run=run,
        fingerprint="precise",
        kind=ReconciliationIssue._meta.get_field("kind").choices[0][0],
        detail="a gap",
    )
    LedgerTransaction.objects.create(
        kind=LedgerTransaction._meta.get_field("kind").choices[0][0],
        reference="precise",
        idempotency_key="precise",
    )
    LedgerAccount.objects.create(
        code=f"seller:{seller.pk}:payable",
        purpose=LedgerAccount._meta.get_field("purpose").choices[0][0],
        kind=LedgerAccount._meta.get_field("kind").choices[0][0],
        currency="EUR",
        seller=seller,
    )
    audit.record("seller.suspended", seller, reason="test", actor=moderator)  # an entry naming the seller


def _assert_no_precise_value(response, url: str) -> None:
    assert response.status_code == 200, url
    html = response.content.decode()
    found = [value for value in PRECISE if value in html]
    assert not found, f"{url} shows {found}"


def test_no_admin_page_shows_a_seller_s_precise_values_to_a_moderator(
    moderator_client, moderator, precise_seller, organisation, settings
):
    settings.PAYMENT_FAILURES_FLAG = 1
    _one_row_of_every_model(precise_seller, organisation, moderator)
    assert ApiKey.objects.exists() and ConsentEvent.objects.exists() and LifeEvent.objects.exists()
    assert OrganisationVerificationEvent.objects.exists()

    for model, model_admin in admin.site._registry.items():
        meta = model._meta
        changelist = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        _assert_no_precise_value(moderator_client.get(changelist), changelist)
        # the seller's own row where the model has one, else the first
        queryset = model_admin.get_queryset(moderator_client.get(changelist).wsgi_request)
        if model is User:
            queryset = queryset.filter(pk=precise_seller.pk)
        elif any(f.name == "seller" for f in meta.fields):
            queryset = queryset.filter(seller=precise_seller)
        row = queryset.order_by("pk").first()
        assert row is not None, f"no {meta.label} row"
        change = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[row.pk])
        _assert_no_precise_value(moderator_client.get(change), change)

    # the seller is found by pseudonym, not by email or name
    users = reverse("admin:accounts_user_changelist")
    assert (
        str(precise_seller.pseudonym)
        in moderator_client.get(users, {"q": str(precise_seller.pseudonym)}).content.decode()
    )
    for term in (EMAIL, FULL_NAME):
        assert str(precise_seller.pseudonym) not in moderator_client.get(users, {"q": term}).content.decode()


def test_the_moderator_is_refused_the_precise_values_page(moderator_client, precise_seller):
    url = reverse("admin:accounts_user_precise_values", args=[precise_seller.pk])

    page = moderator_client.get(url)
    posted = moderator_client.post(url, {"reason": "curious"})

    assert page.status_code == 403 and "Only a data protection officer" in page.content.decode()
    assert posted.status_code == 403 and EMAIL not in posted.content.decode()
    assert not AuditEntry.objects.filter(action="seller.precise_values_viewed").exists()
    change = moderator_client.get(reverse("admin:accounts_user_change", args=[precise_seller.pk]))
    assert url not in change.content.decode()


def test_a_dpo_reads_the_precise_values_with_a_reason_kept_in_the_audit_trail(
    dpo_client, dpo, precise_seller
):
    url = reverse("admin:accounts_user_precise_values", args=[precise_seller.pk])
    change = dpo_client.get(reverse("admin:accounts_user_change", args=[precise_seller.pk]))
    assert url in change.content.decode() and EMAIL not in change.content.decode()

    asked = dpo_client.get(url)
    no_reason = dpo_client.post(url, {"reason": ""})
    assert asked.status_code == 200 and EMAIL not in asked.content.decode()
    assert no_reason.status_code == 200 and EMAIL not in no_reason.content.decode()
    assert not AuditEntry.objects.filter(action="seller.precise_values_viewed").exists()

    shown = dpo_client.post(url, {"reason": "Access request of 3 December, ticket 4521"})

    html = shown.content.decode()
    assert shown.status_code == 200 and "no-store" in shown["Cache-Control"]
    for value in (EMAIL, FULL_NAME, PHONE, BIRTH_DATE.isoformat(), POSTCODE, LIFE_EVENT_DETAILS):
        assert value in html
    entry = AuditEntry.objects.get(action="seller.precise_values_viewed")
    assert (entry.actor_id, entry.target_id, entry.reason) == (
        dpo.pk,
        str(precise_seller.pk),
        "Access request of 3 December, ticket 4521",
    )
    assert EMAIL not in entry.target_repr and str(precise_seller.pseudonym) in entry.target_repr


def test_a_moderator_edits_a_seller_without_their_precise_values_and_cannot_raise_privileges(
    moderator_client, moderator, precise_seller
):
    url = reverse("admin:accounts_user_change", args=[precise_seller.pk])
    page = moderator_client.get(url)
    shown = {name for _title, options in page.context["adminform"].fieldsets for name in options["fields"]}
    assert not {"email", "full_name", "password"} & shown

    data = {"role": "moderator", "is_staff": "on", "is_superuser": "on", "groups": ["1"]}  # not is_active
    data.update(
        {f"{field}_{part}": "" for field in ("email_verified_at", "phone_verified_at") for part in (0, 1)}
    )
    saved = moderator_client.post(url, data)

    assert saved.status_code == 302, saved.context["adminform"].form.errors if saved.context else saved
    precise_seller.refresh_from_db()
    assert (precise_seller.is_active, precise_seller.is_staff, precise_seller.is_superuser) == (
        False,
        False,
        False,
    )
    assert (precise_seller.email, precise_seller.full_name) == (EMAIL, FULL_NAME)
    assert not precise_seller.groups.exists() and precise_seller.role == User.Role.SELLER
    # nor change a password
    password = reverse("admin:auth_user_password_change", args=[precise_seller.pk])
    assert moderator_client.get(password).status_code == 403


def test_a_dpo_finds_a_seller_by_exact_email(dpo_client, precise_seller):
    users = reverse("admin:accounts_user_changelist")
    found = dpo_client.get(users, {"q": EMAIL}).content.decode()
    assert str(precise_seller.pseudonym) in found and found.count(EMAIL) == 1  # the search box

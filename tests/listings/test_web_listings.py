"""Seller web UI, listings: my listings, new listing, actions, price, audience bundles, worth.

Bad input is a form error and stores nothing; another seller's listing is a 404; query counts do
not grow with the number of listings.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts import services as account_services
from accounts import taxonomy
from accounts.models import SellerProfile
from listings import services
from listings.models import Listing, ListingEvent
from listings.valuation import seller_valuation
from tests.factories import ModeratorFactory, SellerFactory
from tests.listings.conftest import make_seller

pytestmark = pytest.mark.django_db

ADS = "targeted_advertising"
TERMS = {
    "categories": ["demographics", "location"],
    "purposes": [ADS],
    "licence_days": 90,
    "pricing_mode": "fixed",
    "floor_price_cents": 250,
}
FORM = {
    "categories": ["demographics", "location"],
    "purposes": [ADS],
    "licence_days": "90",
    "pricing_mode": "fixed",
    "floor_price": "12.50",
}


@pytest.fixture
def seller(db):
    return make_seller()  # consents to demographics and location for targeted advertising


@pytest.fixture
def verified_seller(db, settings):
    settings.LISTING_AUTO_APPROVE_VERIFIED = True
    return make_seller(verified=True)  # their listings go live at once


@pytest.fixture
def seller_client(client, seller):
    client.force_login(seller)
    return client


def snapshot() -> tuple:
    listings = list(
        Listing.objects.order_by("pk").values_list("pk", "status", "floor_price_cents", "licence_days")
    )
    return listings, ListingEvent.objects.count()


# --- Pages and access ----------------------------------------------------------------------

PAGES = ["seller-listings", "seller-listing-new", "seller-worth"]


@pytest.mark.parametrize("name", PAGES)
def test_every_page_renders_for_a_seller(seller_client, seller, name):
    services.listing_create(seller=seller, **TERMS)

    response = seller_client.get(reverse(name))

    assert response.status_code == 200
    assert b"<h1>" in response.content


@pytest.mark.parametrize("name", PAGES)
def test_anonymous_visitors_are_sent_to_log_in(client, name):
    response = client.get(reverse(name))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")


def test_buyers_get_403(client, verified_organisation):
    buyer = account_services.buyer_member_create(
        organisation=verified_organisation, email="b@x.test", password="pw-12345678"
    )
    client.force_login(buyer)

    assert client.get(reverse("seller-listings")).status_code == 403
    assert client.post(reverse("seller-listing-new"), FORM).status_code == 403
    assert Listing.objects.count() == 0


def test_the_nav_links_to_listings_and_worth(seller_client):
    content = seller_client.get(reverse("seller-dashboard")).content.decode()

    assert f'href="{reverse("seller-listings")}"' in content
    assert f'href="{reverse("seller-worth")}"' in content


# --- My listings ---------------------------------------------------------------------------


def test_my_listings_shows_terms_in_euros_and_the_actions_of_each_status(seller_client, seller):
    pending = services.listing_create(seller=seller, **{**TERMS, "floor_price_cents": 123456})
    moderator = ModeratorFactory()
    draft = services.listing_create(seller=seller, **TERMS)
    services.listing_moderate(listing_id=draft.pk, moderator=moderator, approve=False, reason="Blurry terms")

    response = seller_client.get(reverse("seller-listings"))

    assert [listing.pk for listing in response.context["live"]] == [draft.pk, pending.pk]
    content = response.content.decode()
    assert "€1,234.56" in content
    assert "Demographics (age band, gender, birth date), Location (region, postcode)" in content
    assert "Targeted advertising" in content and "90 days" in content and "Fixed price (buy now)" in content
    assert "Pending review" in content
    assert "Blurry terms" in content  # the moderator's reason, shown to the seller
    assert reverse("seller-listing-action", args=[draft.pk, "resubmit"]) in content
    assert reverse("seller-listing-action", args=[pending.pk, "pause"]) not in content
    assert reverse("seller-listing-withdraw", args=[pending.pk]) in content
    assert reverse("seller-listing-price", args=[pending.pk]) in content


def test_closed_listings_are_listed_apart_without_actions(seller_client, seller):
    listing = services.listing_create(seller=seller, **TERMS)
    services.listing_seller_action(seller=seller, listing_id=listing.pk, to_status="withdrawn")

    response = seller_client.get(reverse("seller-listings"))

    assert response.context["live"] == []
    assert [listing.pk for listing in response.context["closed"]] == [listing.pk]
    assert reverse("seller-listing-price", args=[listing.pk]) not in response.content.decode()


def test_pause_resume_and_withdraw(client, verified_seller):
    client.force_login(verified_seller)
    listing = services.listing_create(seller=verified_seller, **TERMS)
    assert listing.status == Listing.Status.ACTIVE

    response = client.post(reverse("seller-listing-action", args=[listing.pk, "pause"]), follow=True)
    listing.refresh_from_db()
    assert listing.status == Listing.Status.PAUSED
    assert "Listing paused: buyers no longer see it." in response.content.decode()
    assert reverse("seller-listing-action", args=[listing.pk, "resume"]) in response.content.decode()

    assert client.post(reverse("seller-listing-action", args=[listing.pk, "resume"])).status_code == 302
    listing.refresh_from_db()
    assert listing.status == Listing.Status.ACTIVE

    confirm = client.get(reverse("seller-listing-withdraw", args=[listing.pk]))
    assert confirm.status_code == 200
    listing.refresh_from_db()
    assert listing.status == Listing.Status.ACTIVE  # a GET only asks
    assert client.post(reverse("seller-listing-withdraw", args=[listing.pk])).status_code == 302
    listing.refresh_from_db()
    assert listing.status == Listing.Status.WITHDRAWN
    assert list(listing.events.values_list("to_status", flat=True)) == [
        "draft",
        "active",
        "paused",
        "active",
        "withdrawn",
    ]


def test_a_draft_is_resubmitted_for_review(seller_client, seller):
    listing = services.listing_create(seller=seller, **TERMS)
    services.listing_moderate(listing_id=listing.pk, moderator=ModeratorFactory(), approve=False, reason="x")

    response = seller_client.post(reverse("seller-listing-action", args=[listing.pk, "resubmit"]))

    assert response.status_code == 302
    listing.refresh_from_db()
    assert listing.status == Listing.Status.PENDING_REVIEW


def test_an_action_the_status_does_not_allow_is_an_error_and_changes_nothing(seller_client, seller):
    listing = services.listing_create(seller=seller, **TERMS)  # pending review
    before = snapshot()

    response = seller_client.post(reverse("seller-listing-action", args=[listing.pk, "resume"]))

    assert response.status_code == 409
    assert response.context["row_error"]["listing_id"] == listing.pk
    assert "cannot make that change" in response.content.decode()
    assert snapshot() == before


def test_resuming_without_consent_says_which_and_links_to_consents(client, verified_seller):
    client.force_login(verified_seller)
    listing = services.listing_create(seller=verified_seller, **TERMS)
    grant = verified_seller.consent_grants.get(category="location", purpose=ADS)
    account_services.consent_revoke(seller=verified_seller, grant_id=grant.pk)  # the cascade pauses it
    listing.refresh_from_db()
    assert (listing.status, listing.status_reason) == ("paused", "consent revoked")
    before = snapshot()

    response = client.post(reverse("seller-listing-action", args=[listing.pk, "resume"]))

    assert response.status_code == 409
    content = response.content.decode()
    assert "Consent is missing for: Location (region, postcode) × Targeted advertising." in content
    assert (
        'href="/consents/?category=location&amp;purpose=targeted_advertising#cell-location-targeted_advertising"'
        in content
    )
    assert "you revoked a consent it needs" in content
    assert snapshot() == before


def test_unknown_actions_are_404(seller_client, seller):
    listing = services.listing_create(seller=seller, **TERMS)

    assert seller_client.post(reverse("seller-listing-action", args=[listing.pk, "sell"])).status_code == 404
    assert seller_client.get(reverse("seller-listing-action", args=[listing.pk, "pause"])).status_code == 405


@pytest.mark.parametrize(
    ("name", "args", "data"),
    [
        ("seller-listing-action", ["pause"], {}),
        ("seller-listing-action", ["resume"], {}),
        ("seller-listing-action", ["resubmit"], {}),
        ("seller-listing-withdraw", [], {}),
        ("seller-listing-price", [], {"floor_price": "9.99"}),
    ],
)
def test_another_sellers_listing_is_404_and_unchanged(seller_client, name, args, data):
    other = make_seller(verified=True)
    listing = services.listing_create(seller=other, **TERMS)
    before = snapshot()

    response = seller_client.post(reverse(name, args=[listing.pk, *args]), data)

    assert response.status_code == 404
    assert snapshot() == before
    assert seller_client.get(reverse("seller-listing-withdraw", args=[listing.pk])).status_code == 404


def test_changing_the_floor_price(seller_client, seller):
    listing = services.listing_create(seller=seller, **TERMS)

    response = seller_client.post(
        reverse("seller-listing-price", args=[listing.pk]), {"floor_price": "9,99"}, follow=True
    )

    listing.refresh_from_db()
    assert listing.floor_price_cents == 999
    assert "Floor price changed to €9.99." in response.content.decode()


@pytest.mark.parametrize("price", ["0", "-1", "1.234", "abc", "100000.01", ""])
def test_a_bad_new_price_is_an_error_and_changes_nothing(seller_client, seller, price):
    listing = services.listing_create(seller=seller, **TERMS)
    before = snapshot()

    response = seller_client.post(reverse("seller-listing-price", args=[listing.pk]), {"floor_price": price})

    assert response.status_code == 400
    assert response.context["row_error"]["listing_id"] == listing.pk
    assert response.context["row_error"]["message"]
    assert f'value="{price}"' in response.content.decode()  # what was typed, to correct it
    assert snapshot() == before


def test_a_closed_listing_cannot_be_repriced(seller_client, seller):
    listing = services.listing_create(seller=seller, **TERMS)
    services.listing_seller_action(seller=seller, listing_id=listing.pk, to_status="withdrawn")
    before = snapshot()

    response = seller_client.post(reverse("seller-listing-price", args=[listing.pk]), {"floor_price": "5"})

    assert response.status_code == 409
    assert "This listing is closed" in response.content.decode()
    assert snapshot() == before


def test_posts_need_the_csrf_token(seller):
    listing = services.listing_create(seller=seller, **TERMS)
    client = Client(enforce_csrf_checks=True)
    client.force_login(seller)
    before = snapshot()

    assert client.post(reverse("seller-listing-new"), FORM).status_code == 403
    assert client.post(reverse("seller-listing-action", args=[listing.pk, "pause"])).status_code == 403
    assert (
        client.post(reverse("seller-listing-price", args=[listing.pk]), {"floor_price": "1"}).status_code
        == 403
    )
    assert client.post(reverse("seller-audience-optin"), {"categories": ["device"]}).status_code == 403
    assert snapshot() == before


# --- New listing ---------------------------------------------------------------------------


def test_create_a_fixed_price_listing(seller_client, seller):
    response = seller_client.post(reverse("seller-listing-new"), FORM)

    assert response.status_code == 302
    assert response["Location"] == reverse("seller-listings")
    listing = Listing.objects.get(seller=seller)
    assert listing.categories == ["demographics", "location"]
    assert listing.purposes == [ADS]
    assert (listing.licence_days, listing.pricing_mode, listing.floor_price_cents) == (90, "fixed", 1250)
    assert listing.auction_ends_at is None
    assert listing.status == Listing.Status.PENDING_REVIEW


def test_a_verified_sellers_listing_is_active_at_once(client, verified_seller):
    client.force_login(verified_seller)

    response = client.post(reverse("seller-listing-new"), {**FORM, "floor_price": "1 200,5 €"}, follow=True)

    listing = Listing.objects.get(seller=verified_seller)
    assert (listing.status, listing.floor_price_cents) == ("active", 120050)
    assert "Listing created." in response.content.decode()
    assert "€1,200.50" in response.content.decode()


def test_create_an_auction(seller_client, seller):
    ends = timezone.localtime() + timedelta(days=3)

    response = seller_client.post(
        reverse("seller-listing-new"),
        {**FORM, "pricing_mode": "auction", "auction_ends_at": ends.strftime("%Y-%m-%dT%H:%M")},
    )

    assert response.status_code == 302
    listing = Listing.objects.get(seller=seller)
    assert listing.pricing_mode == "auction"
    assert listing.auction_ends_at == ends.replace(second=0, microsecond=0)


def test_a_fixed_price_drops_an_auction_end_left_in_the_form(seller_client, seller):
    ends = timezone.localtime() + timedelta(days=3)

    response = seller_client.post(
        reverse("seller-listing-new"), {**FORM, "auction_ends_at": ends.strftime("%Y-%m-%dT%H:%M")}
    )

    assert response.status_code == 302
    assert Listing.objects.get(seller=seller).auction_ends_at is None


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"floor_price": "1.234"}, "floor_price", "Use at most two decimals (cents)."),
        ({"floor_price": "1,000"}, "floor_price", "Use at most two decimals (cents)."),
        ({"floor_price": "0"}, "floor_price", "The price must be at least €0.01."),
        ({"floor_price": "0.001"}, "floor_price", "Use at most two decimals (cents)."),
        ({"floor_price": "-3"}, "floor_price", "The price must be more than zero."),
        ({"floor_price": "abc"}, "floor_price", "Enter an amount in euros, such as 12.50."),
        ({"floor_price": "1e3"}, "floor_price", "Enter an amount in euros, such as 12.50."),
        ({"floor_price": "NaN"}, "floor_price", "Enter an amount in euros, such as 12.50."),
        ({"floor_price": "12.5.0"}, "floor_price", "Enter an amount in euros, such as 12.50."),
        ({"floor_price": "100000.01"}, "floor_price", "The price cannot exceed €100,000."),
        ({"floor_price": "9" * 40}, "floor_price", "Enter an amount in euros, such as 12.50."),
        ({"floor_price": ""}, "floor_price", "This field is required."),
        ({"categories": []}, "categories", "Choose at least one data category."),
        ({"categories": ["shoe_size"]}, "categories", None),
        ({"purposes": []}, "purposes", "Allow at least one purpose."),
        ({"purposes": ["resale"]}, "purposes", None),
        ({"licence_days": "7"}, "licence_days", None),
        ({"pricing_mode": "lottery"}, "pricing_mode", None),
        ({"pricing_mode": "auction"}, "auction_ends_at", "An auction needs an end date and time."),
        ({"pricing_mode": "auction", "auction_ends_at": "tomorrow"}, "auction_ends_at", None),
    ],
)
def test_bad_input_is_a_form_error_and_stores_nothing(seller_client, change, field, message):
    response = seller_client.post(reverse("seller-listing-new"), {**FORM, **change})

    assert response.status_code == 200
    errors = response.context["form"].errors[field]
    assert errors
    if message:
        assert errors == [message]
    assert snapshot() == ([], 0)


@pytest.mark.parametrize("hours", [-1, 0.5, 24 * 31])
def test_an_auction_end_out_of_bounds_is_the_services_error(seller_client, hours):
    ends = timezone.localtime() + timedelta(hours=hours)

    response = seller_client.post(
        reverse("seller-listing-new"),
        {**FORM, "pricing_mode": "auction", "auction_ends_at": ends.strftime("%Y-%m-%dT%H:%M")},
    )

    assert response.status_code == 200
    assert response.context["form"].errors["auction_ends_at"] == [
        "An auction ends between one hour and 30 days from now."
    ]
    assert snapshot() == ([], 0)


def test_missing_consent_is_a_form_error_with_a_link_to_consents(seller_client):
    response = seller_client.post(
        reverse("seller-listing-new"), {**FORM, "purposes": [ADS, "market_research"]}
    )

    assert response.status_code == 200
    [error] = response.context["form"].errors["categories"]
    assert error.startswith(
        "Consent is missing for: Demographics (age band, gender, birth date) × Market research, "
        "Location (region, postcode) × Market research."
    )
    content = response.content.decode()
    assert (
        '<a href="/consents/?category=demographics&amp;purpose=market_research#cell-demographics-market_research">'
        in content
    )
    assert snapshot() == ([], 0)


def test_the_form_is_prefilled_with_what_the_seller_consents_to_and_a_suggested_price(seller_client, seller):
    account_services.consent_grant(
        seller=seller, category="life_events", purpose=ADS, window_days=30, explicit_sensitive=True
    )

    response = seller_client.get(reverse("seller-listing-new"))

    form = response.context["form"]
    # sensitive categories are never ticked for the seller
    assert form.initial["categories"] == ["demographics", "location"]
    assert form.initial["purposes"] == [ADS]
    expected = seller_valuation(
        seller=seller, categories=["demographics", "location"], purposes=[ADS], licence_days=30
    )
    cents = expected["total"]["estimate_cents"]
    suggestion = response.context["suggestion"]
    assert suggestion["estimate_cents"] == cents
    assert form.initial["floor_price"] == f"{cents // 100}.{cents % 100:02d}"
    content = response.content.decode()
    assert f"€{cents // 100}.{cents % 100:02d}" in content
    assert reverse("seller-valuation-json") in content  # for the script that updates it


def test_the_suggestion_follows_the_chosen_categories_and_licence_after_an_error(seller_client, seller):
    response = seller_client.post(
        reverse("seller-listing-new"),
        {**FORM, "categories": ["device"], "licence_days": "365", "floor_price": "x"},
    )

    expected = seller_valuation(seller=seller, categories=["device"], purposes=[ADS], licence_days=365)
    assert response.context["suggestion"]["estimate_cents"] == expected["total"]["estimate_cents"]


def test_a_seller_without_consent_is_told_to_give_it(client):
    seller = SellerFactory()
    client.force_login(seller)

    response = client.get(reverse("seller-listing-new"))

    assert response.context["has_consent"] is False
    assert response.context["suggestion"] is None
    assert "You have no active consent yet" in response.content.decode()


# --- Audience bundles ----------------------------------------------------------------------


def optin_of(seller) -> list[str]:
    mask = SellerProfile.objects.get(seller=seller).audience_optin_mask
    return taxonomy.codes_of(mask, taxonomy.CATEGORY_CODES)


def test_audience_optin_is_saved_and_shown(seller_client, seller):
    response = seller_client.post(
        reverse("seller-audience-optin"), {"categories": ["demographics", "device"]}
    )

    assert response.status_code == 302
    assert optin_of(seller) == ["demographics", "device"]
    page = seller_client.get(reverse("seller-listings"))
    assert page.context["audience_form"].initial == {
        "categories": ["demographics", "device"],
        "explicit_sensitive": False,
    }

    seller_client.post(reverse("seller-audience-optin"), {})
    assert optin_of(seller) == []


def test_life_events_join_audiences_only_with_their_own_box(seller_client, seller):
    refused = seller_client.post(
        reverse("seller-audience-optin"), {"categories": ["location", "life_events"]}
    )

    assert refused.status_code == 200
    assert refused.context["audience_form"].errors["explicit_sensitive"] == [
        "Life events are sensitive: tick the box that confirms you offer them to audience bundles."
    ]
    assert optin_of(seller) == []

    accepted = seller_client.post(
        reverse("seller-audience-optin"),
        {"categories": ["location", "life_events"], "explicit_sensitive": "on"},
    )
    assert accepted.status_code == 302
    assert optin_of(seller) == ["location", "life_events"]


def test_an_unknown_audience_category_is_a_form_error(seller_client, seller):
    response = seller_client.post(reverse("seller-audience-optin"), {"categories": ["shoe_size"]})

    assert response.status_code == 200
    assert response.context["audience_form"].errors["categories"]
    assert optin_of(seller) == []


# --- What my data is worth -----------------------------------------------------------------


@pytest.mark.parametrize("licence_days", [30, 90, 365])
def test_worth_shows_the_valuation_for_the_chosen_licence(seller_client, seller, licence_days, settings):
    settings.VALUATION_SELL_THROUGH = 0.5
    response = seller_client.get(reverse("seller-worth"), {"licence_days": licence_days})

    expected = seller_valuation(seller=seller, licence_days=licence_days)
    assert response.context["licence_days"] == licence_days
    rows = response.context["rows"]
    assert [row["category"] for row in rows] == list(taxonomy.CATEGORY_CODES)
    demographics = expected["categories"][0]
    cents = demographics["estimate_cents"]
    assert rows[0]["estimate"] == f"€{cents // 100}.{cents % 100:02d}"
    yearly = expected["yearly_income_cents"]
    assert response.context["yearly_income"] == f"€{yearly // 100:,}.{yearly % 100:02d}"
    content = response.content.decode()
    assert "No trades yet" in content
    assert f"The assumption: 0.5 licences sold per {licence_days}-day period" in content


def test_worth_explains_scarcity_from_the_profile(seller_client, seller):
    account_services.life_event_set(seller=seller, kind="new_job", details="")

    rows = {row["category"]: row for row in seller_client.get(reverse("seller-worth")).context["rows"]}

    assert "of sellers share your region (Île-de-France)" in rows["location"]["scarcity_explained"]
    assert rows["interests"]["scarcity_explained"] == "No scarcity is measured for this category."
    assert rows["life_events"]["scarcity_explained"].startswith("You recorded 1 life event:")


def test_worth_with_a_bad_licence_falls_back_to_30_days(seller_client):
    response = seller_client.get(reverse("seller-worth"), {"licence_days": "7"})

    assert response.status_code == 200
    assert response.context["licence_days"] == 30
    assert response.context["form"].errors["licence_days"]


# --- French --------------------------------------------------------------------------------


def test_pages_are_in_french_when_asked(seller_client, seller):
    services.listing_create(seller=seller, **{**TERMS, "floor_price_cents": 123456})
    headers = {"Accept-Language": "fr-FR,fr;q=0.9"}

    listings = seller_client.get(reverse("seller-listings"), headers=headers).content.decode()
    new = seller_client.get(reverse("seller-listing-new"), headers=headers).content.decode()
    worth = seller_client.get(reverse("seller-worth"), headers=headers).content.decode()
    bad = seller_client.post(
        reverse("seller-listing-new"), {**FORM, "floor_price": "1,234"}, headers=headers
    ).content.decode()

    assert '<html lang="fr">' in listings
    assert "Mes annonces" in listings and "Offres d’audience" in listings
    assert "1\xa0234,56\xa0€" in listings
    assert "En cours d’examen" in listings  # a model label
    assert "My listings" not in listings
    assert "Nouvelle annonce" in new and "Prix suggéré" in new
    assert "Ce que valent mes données" in worth and "Aucune vente pour l’instant" in worth
    assert "Deux décimales au plus (les centimes)." in bad


# --- Query counts do not grow with the number of listings ----------------------------------


def listings_queries(client, seller) -> int:
    client.force_login(seller)
    with CaptureQueriesContext(connection) as context:
        assert client.get(reverse("seller-listings")).status_code == 200
    return len(context)


def test_my_listings_query_count_does_not_grow_with_listings(client):
    few, many = make_seller(), make_seller()
    for seller, count in ((few, 2), (many, 10)):
        for n in range(count):
            services.listing_create(seller=seller, **{**TERMS, "floor_price_cents": 100 + n})
    listing = Listing.objects.filter(seller=many).first()
    services.listing_seller_action(seller=many, listing_id=listing.pk, to_status="withdrawn")

    assert listings_queries(client, few) == listings_queries(client, many)


def test_my_listings_query_guard(seller_client, seller, django_assert_max_num_queries):
    for n in range(10):
        services.listing_create(seller=seller, **{**TERMS, "floor_price_cents": 100 + n})

    # session, user, listings, profile (audience opt-in)
    with django_assert_max_num_queries(4):
        response = seller_client.get(reverse("seller-listings"))

    assert len(response.context["live"]) == 10

"""Seller web UI, consents: grant, renew, revoke, receipts; bad input changes nothing; query counts."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts import services
from accounts.models import ConsentEvent, ConsentGrant
from accounts.taxonomy import DataCategory, Purpose
from tests.factories import SellerFactory

pytestmark = pytest.mark.django_db

DEMO = DataCategory.DEMOGRAPHICS
ADS = Purpose.TARGETED_ADVERTISING


@pytest.fixture
def seller_client(client, seller):
    client.force_login(seller)
    return client


def snapshot(seller) -> tuple:
    grants = list(
        ConsentGrant.objects.filter(seller=seller).order_by("pk").values_list("pk", "status", "ended_at")
    )
    return grants, ConsentEvent.objects.filter(seller=seller).count()


def test_grant_then_listed_as_active(seller_client, seller):
    response = seller_client.post(
        reverse("seller-consent-grant"), {"category": DEMO, "purpose": ADS, "window_days": "90"}
    )

    assert response.status_code == 302
    grant = ConsentGrant.objects.get(seller=seller)
    assert (grant.category, grant.purpose, grant.window_days, grant.status) == (DEMO, ADS, 90, "active")

    page = seller_client.get(reverse("seller-consents"))
    assert [g.pk for g in page.context["active"]] == [grant.pk]
    assert page.context["active"][0].days_left == 90
    content = page.content.decode()
    assert f'data-cell="{DEMO}:{ADS}"' in content
    assert "90 days left" in content


def test_the_matrix_link_prefills_the_grant_form(seller_client):
    page = seller_client.get(
        reverse("seller-consents"), {"category": "location", "purpose": "market_research"}
    )

    assert page.context["grant_form"].initial == {"category": "location", "purpose": "market_research"}


def test_life_events_need_the_explicit_box(seller_client, seller):
    data = {"category": DataCategory.LIFE_EVENTS, "purpose": ADS, "window_days": "30"}

    refused = seller_client.post(reverse("seller-consent-grant"), data)

    assert refused.status_code == 200
    assert refused.context["grant_form"].errors["explicit_sensitive"] == [
        "Life events are sensitive: tick the box that confirms this consent."
    ]
    assert snapshot(seller) == ([], 0)

    accepted = seller_client.post(reverse("seller-consent-grant"), {**data, "explicit_sensitive": "on"})
    assert accepted.status_code == 302
    assert ConsentGrant.objects.get(seller=seller).category == DataCategory.LIFE_EVENTS


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"category": DEMO, "purpose": ADS, "window_days": "7"}, "window_days"),
        ({"category": DEMO, "purpose": ADS, "window_days": "ninety"}, "window_days"),
        ({"category": "health_records", "purpose": ADS, "window_days": "30"}, "category"),
        ({"category": DEMO, "purpose": "resale", "window_days": "30"}, "purpose"),
    ],
)
def test_bad_grant_input_is_a_form_error(seller_client, seller, data, field):
    response = seller_client.post(reverse("seller-consent-grant"), data)

    assert response.status_code == 200
    assert response.context["grant_form"].errors[field]
    assert snapshot(seller) == ([], 0)


def test_granting_twice_is_a_form_error(seller_client, seller):
    services.consent_grant(seller=seller, category=DEMO, purpose=ADS, window_days=30)
    before = snapshot(seller)

    response = seller_client.post(
        reverse("seller-consent-grant"), {"category": DEMO, "purpose": ADS, "window_days": "90"}
    )

    assert response.status_code == 200
    assert response.context["grant_form"].non_field_errors() == [
        "Consent for this category and purpose is already active: renew or revoke it."
    ]
    assert snapshot(seller) == before


def test_revoke_asks_for_confirmation_then_revokes(seller_client, seller):
    grant = services.consent_grant(seller=seller, category=DEMO, purpose=ADS, window_days=30)
    url = reverse("seller-consent-revoke", args=[grant.pk])

    confirm = seller_client.get(url)
    assert confirm.status_code == 200
    assert "Yes, revoke this consent" in confirm.content.decode()
    grant.refresh_from_db()
    assert grant.status == "active"

    assert seller_client.post(url).status_code == 302
    grant.refresh_from_db()
    assert grant.status == "revoked"
    page = seller_client.get(reverse("seller-consents"))
    assert page.context["active"] == []
    assert [e.kind for e in page.context["history"]] == ["revoked", "granted"]


def test_revoking_twice_is_an_error_and_changes_nothing(seller_client, seller):
    grant = services.consent_grant(seller=seller, category=DEMO, purpose=ADS, window_days=30)
    url = reverse("seller-consent-revoke", args=[grant.pk])
    seller_client.post(url)
    before = snapshot(seller)

    response = seller_client.post(url)

    assert response.status_code == 409
    assert "This consent was already revoked." in response.content.decode()
    assert snapshot(seller) == before


def test_renew_replaces_the_grant(seller_client, seller):
    grant = services.consent_grant(seller=seller, category=DEMO, purpose=ADS, window_days=30)

    response = seller_client.post(reverse("seller-consent-renew", args=[grant.pk]), {"window_days": "365"})

    assert response.status_code == 302
    grant.refresh_from_db()
    new = ConsentGrant.objects.get(seller=seller, status="active")
    assert (grant.status, new.renewed_from_id, new.window_days) == ("expired", grant.pk, 365)


def test_renewing_an_expired_grant_is_an_error_and_changes_nothing(seller_client, seller):
    grant = services.consent_grant(seller=seller, category=DEMO, purpose=ADS, window_days=30)
    ConsentGrant.objects.filter(pk=grant.pk).update(
        granted_at=grant.granted_at - timedelta(days=31), expires_at=grant.expires_at - timedelta(days=31)
    )
    before = snapshot(seller)

    response = seller_client.post(reverse("seller-consent-renew", args=[grant.pk]), {"window_days": "90"})

    assert response.status_code == 409
    assert response.context["error"] == "This consent has expired: grant it again."
    assert snapshot(seller) == before


def test_renewing_with_a_bad_window_changes_nothing(seller_client, seller):
    grant = services.consent_grant(seller=seller, category=DEMO, purpose=ADS, window_days=30)
    before = snapshot(seller)

    response = seller_client.post(reverse("seller-consent-renew", args=[grant.pk]), {"window_days": "7"})

    assert response.status_code == 400
    assert response.context["error"]
    assert snapshot(seller) == before


def test_another_sellers_grant_cannot_be_renewed(seller_client, seller):
    other = SellerFactory()
    grant = services.consent_grant(seller=other, category=DEMO, purpose=ADS, window_days=30)
    before = snapshot(other)

    response = seller_client.post(reverse("seller-consent-renew", args=[grant.pk]), {"window_days": "90"})

    assert response.status_code == 404
    assert snapshot(other) == before


def test_receipt_json_is_the_sellers_own_only(seller_client, seller):
    grant = services.consent_grant(seller=seller, category=DEMO, purpose=ADS, window_days=30)
    event = ConsentEvent.objects.get(grant=grant)
    other = SellerFactory()
    other_grant = services.consent_grant(seller=other, category=DEMO, purpose=ADS, window_days=30)
    other_event = ConsentEvent.objects.get(grant=other_grant)

    mine = seller_client.get(reverse("seller-consent-receipt", args=[event.receipt_id]))
    theirs = seller_client.get(reverse("seller-consent-receipt", args=[other_event.receipt_id]))

    assert mine.status_code == 200
    assert json.loads(mine.content) == event.full_receipt
    assert theirs.status_code == 404
    page = seller_client.get(reverse("seller-consents")).content.decode()
    assert reverse("seller-consent-receipt", args=[event.receipt_id]) in page


def test_posts_need_the_csrf_token(seller):
    client = Client(enforce_csrf_checks=True)
    client.force_login(seller)

    response = client.post(
        reverse("seller-consent-grant"), {"category": DEMO, "purpose": ADS, "window_days": "30"}
    )

    assert response.status_code == 403
    assert snapshot(seller) == ([], 0)


# --- Query counts do not grow with the seller's history --------------------------------------

PAIRS = list(itertools.product(DataCategory.values, Purpose.values))


def make_history(seller, grants: int) -> None:
    """`grants` grants over distinct category × purpose pairs, cycling; a pair is revoked before reuse."""
    active: dict[tuple[str, str], int] = {}
    for category, purpose in itertools.islice(itertools.cycle(PAIRS), grants):
        if (category, purpose) in active:
            services.consent_revoke(seller=seller, grant_id=active[(category, purpose)])
        grant = services.consent_grant(
            seller=seller, category=category, purpose=purpose, window_days=90, explicit_sensitive=True
        )
        active[(category, purpose)] = grant.pk
    for kind in ("new_job", "moving_house"):
        services.life_event_set(seller=seller, kind=kind, details="x")


def queries_for(client, url) -> int:
    with CaptureQueriesContext(connection) as context:
        assert client.get(url).status_code == 200
    return len(context)


@pytest.mark.parametrize("name", ["seller-dashboard", "seller-consents"])
def test_query_count_does_not_grow_with_grants_and_events(client, name):
    few, many = SellerFactory(), SellerFactory()
    make_history(few, 5)
    make_history(many, 50)
    assert ConsentGrant.objects.filter(seller=many).count() == 50

    counts = []
    for seller in (few, many):
        client.force_login(seller)
        counts.append(queries_for(client, reverse(name)))

    assert counts[0] == counts[1]


def test_dashboard_query_guard(seller_client, seller, django_assert_max_num_queries):
    make_history(seller, 50)

    # session, user, profile (badges), active consents count, life events count
    with django_assert_max_num_queries(5):
        seller_client.get(reverse("seller-dashboard"))


def test_consents_query_guard(seller_client, seller, django_assert_max_num_queries):
    make_history(seller, 50)

    # session, user, active grants (matrix and list), history with its grants
    with django_assert_max_num_queries(4):
        response = seller_client.get(reverse("seller-consents"))

    assert len(response.context["active"]) == 42
    assert len(response.context["history"]) == 58  # 50 granted + 8 revoked

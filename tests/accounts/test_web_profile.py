"""Seller web UI, profile and life events: saved through the services; bad input changes nothing."""

from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse

from accounts import services
from accounts.models import LifeEvent, SellerProfile

pytestmark = pytest.mark.django_db

VALID = {
    "gender": "female",
    "region": "FR-IDF",
    "mobile_os": "android",
    "mobile_operator": "free",
    "interests": ["travel", "cooking"],
    "affinities": ["podcasts"],
    "birth_date": "1990-05-17",
    "postcode": "75011",
    "phone": "06 12 34 56 78",
}


@pytest.fixture
def seller_client(client, seller):
    client.force_login(seller)
    return client


def stored(seller) -> tuple:
    profile = SellerProfile.objects.get(seller=seller)
    return (
        profile.age_band,
        profile.gender,
        profile.region,
        profile.mobile_os,
        profile.mobile_operator,
        profile.interests_mask,
        profile.affinities_mask,
        profile.birth_date_encrypted,
        profile.postcode_encrypted,
        profile.phone_encrypted,
    )


def test_profile_is_saved_and_shown_again(seller_client, seller):
    response = seller_client.post(reverse("seller-profile"), VALID)

    assert response.status_code == 302
    profile = SellerProfile.objects.get(seller=seller)
    assert (profile.gender, profile.region, profile.mobile_os, profile.mobile_operator) == (
        "female",
        "FR-IDF",
        "android",
        "free",
    )
    assert profile.interests == ["travel", "cooking"] and profile.affinities == ["podcasts"]
    assert services.seller_precise_values(seller=seller) == {
        "birth_date": "1990-05-17",
        "postcode": "75011",
        "phone": "+33612345678",
    }

    form = seller_client.get(reverse("seller-profile")).context["form"]
    assert form.initial["region"] == "FR-IDF"
    assert form.initial["interests"] == ["travel", "cooking"]
    assert form.initial["postcode"] == "75011"
    assert form.initial["phone"] == "+33612345678"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("region", "FR-XXX", "Select a valid choice."),
        ("interests", ["travel", "astrology"], "Select a valid choice."),
        ("birth_date", "2015-01-01", "Sellers must be 18 or older."),
        ("birth_date", "2999-01-01", "Enter a real birth date."),
        ("birth_date", "17/05/1990x", "Enter a valid date."),
        ("postcode", "7501", "A French postcode has five digits."),
        ("postcode", "ABCDE", "A French postcode has five digits."),
        ("phone", "12", "Use an international number such as +33612345678."),
    ],
)
def test_bad_profile_input_is_a_form_error_and_changes_nothing(seller_client, seller, field, value, message):
    services.seller_profile_update(seller=seller, gender="male", region="FR-BRE", postcode="29200")
    before = stored(seller)

    response = seller_client.post(reverse("seller-profile"), {**VALID, field: value})

    assert response.status_code == 200
    assert any(message in error for error in response.context["form"].errors[field])
    assert stored(seller) == before


def test_under_age_is_refused_in_french(seller_client, seller):
    before = stored(seller)

    response = seller_client.post(
        reverse("seller-profile"), {**VALID, "birth_date": "2015-01-01"}, headers={"Accept-Language": "fr"}
    )

    assert "Les vendeurs doivent avoir 18 ans ou plus." in response.content.decode()
    assert stored(seller) == before


def test_clearing_the_birth_date_clears_the_age_band(seller_client, seller):
    services.seller_profile_update(seller=seller, birth_date=date(1990, 5, 17))

    seller_client.post(reverse("seller-profile"), {**VALID, "birth_date": ""})

    profile = SellerProfile.objects.get(seller=seller)
    assert (profile.age_band, profile.birth_date_encrypted) == ("", None)


def test_life_events_are_added_updated_listed_and_removed(seller_client, seller):
    url = reverse("seller-life-events")

    assert seller_client.post(url, {"kind": "new_job", "details": "Nurse"}).status_code == 302
    assert seller_client.post(url, {"kind": "new_job", "details": "Nurse in Lyon"}).status_code == 302
    assert seller_client.post(url, {"kind": "moving_house", "details": ""}).status_code == 302

    page = seller_client.get(url)
    assert [(e.kind, e.details) for e in page.context["events"]] == [
        ("new_job", "Nurse in Lyon"),
        ("moving_house", ""),
    ]
    assert "Nurse in Lyon" in page.content.decode()

    response = seller_client.post(reverse("seller-life-event-remove", args=["new_job"]))
    assert response.status_code == 302
    assert list(LifeEvent.objects.filter(seller=seller).values_list("kind", flat=True)) == ["moving_house"]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"kind": "lottery_win", "details": ""}, "kind"),
        ({"kind": "new_job", "details": "x" * 1001}, "details"),
    ],
)
def test_bad_life_event_is_a_form_error(seller_client, seller, data, field):
    response = seller_client.post(reverse("seller-life-events"), data)

    assert response.status_code == 200
    assert response.context["form"].errors[field]
    assert not LifeEvent.objects.filter(seller=seller).exists()


def test_removing_a_missing_life_event_says_so(seller_client, seller):
    response = seller_client.post(reverse("seller-life-event-remove", args=["new_job"]), follow=True)

    assert response.status_code == 200
    assert "No such life event." in response.content.decode()


def test_get_cannot_write(seller_client, seller):
    services.life_event_set(seller=seller, kind="new_job")

    assert seller_client.get(reverse("seller-life-event-remove", args=["new_job"])).status_code == 405
    assert LifeEvent.objects.filter(seller=seller).exists()

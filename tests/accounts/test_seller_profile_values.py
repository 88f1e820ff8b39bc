"""The seller profile as one dict (accounts.selectors.seller_profile_values): what the profile
form starts from and what the export lists, so the two can never disagree."""

from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse

from accounts import selectors, services
from tests.factories import SellerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def seller():
    seller = SellerFactory()
    services.seller_profile_update(
        seller=seller,
        gender="female",
        region="FR-PDL",
        birth_date=date(1990, 5, 17),
        interests=["travel"],
        mobile_os="android",
        mobile_operator="orange",
        affinities=["podcasts"],
        postcode="44000",
        phone="+33612345678",
    )
    return seller


def test_the_values_hold_the_coarse_attributes_and_the_decrypted_precise_ones(seller):
    values = selectors.seller_profile_values(seller=seller)

    assert values["age_band"] and values["gender"] == "female" and values["region"] == "FR-PDL"
    assert (values["mobile_os"], values["mobile_operator"]) == ("android", "orange")
    assert (values["interests"], values["affinities"]) == (["travel"], ["podcasts"])
    assert (values["birth_date"], values["postcode"], values["phone"]) == (
        "1990-05-17",
        "44000",
        "+33612345678",
    )


def test_the_export_lists_exactly_these_values(seller):
    assert selectors.seller_export(seller=seller)["profile"] == selectors.seller_profile_values(seller=seller)


def test_the_profile_form_starts_from_these_values(client, seller):
    client.force_login(seller)
    initial = client.get(reverse("seller-profile")).context["form"].initial
    values = selectors.seller_profile_values(seller=seller)

    assert initial == {
        name: values[name]
        for name in (
            "gender",
            "region",
            "mobile_os",
            "mobile_operator",
            "interests",
            "affinities",
            "birth_date",
            "postcode",
            "phone",
        )
    }


def test_precise_values_never_given_start_the_form_blank(client):
    seller = SellerFactory()
    client.force_login(seller)
    initial = client.get(reverse("seller-profile")).context["form"].initial

    assert (initial["birth_date"], initial["postcode"], initial["phone"]) == (None, "", "")

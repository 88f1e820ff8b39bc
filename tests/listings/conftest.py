from __future__ import annotations

from datetime import date

import pytest

from accounts import services as account_services
from accounts.models import User
from tests.factories import SellerFactory


def make_seller(
    *,
    categories=("demographics", "location"),
    purposes=("targeted_advertising",),
    region="FR-IDF",
    gender="female",
    mobile_os="android",
    mobile_operator="orange",
    birth_date=date(1990, 1, 1),
    interests=("travel",),
    verified=False,
) -> User:
    seller = SellerFactory()
    account_services.seller_profile_update(
        seller=seller,
        region=region,
        gender=gender,
        mobile_os=mobile_os,
        mobile_operator=mobile_operator,
        birth_date=birth_date,
        interests=list(interests),
        affinities=["podcasts"],
        postcode="75011",
    )
    for category in categories:
        for purpose in purposes:
            account_services.consent_grant(
                seller=seller,
                category=category,
                purpose=purpose,
                window_days=90,
                explicit_sensitive=category == "life_events",
            )
    if verified:
        from django.utils import timezone

        User.objects.filter(pk=seller.pk).update(
            email_verified_at=timezone.now(), phone_verified_at=timezone.now()
        )
        seller.refresh_from_db()
    return seller


@pytest.fixture
def consenting_seller(db):
    return make_seller()

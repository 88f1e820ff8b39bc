"""The seller's valid (category, purpose) pairs as one SQL expression
(`consented_pairs_mask_expression`, read in the bid's listing lock) agree with
`consent_is_valid` pair by pair: expired before the sweep, revoked, renewed, other sellers' and
other purposes' grants. Runs on PostgreSQL and on SQLite (.ci/run's sqlite twins)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import services, taxonomy
from accounts.models import ConsentGrant, User
from accounts.selectors import consent_is_valid, consented_pairs_mask_expression
from tests.factories import SellerFactory

pytestmark = pytest.mark.django_db


def mask_in_sql(seller: User, at) -> int:
    row = User.objects.annotate(mask=consented_pairs_mask_expression(seller_ref="pk", at=at)).get(
        pk=seller.pk
    )
    return row.mask or 0


def mask_in_python(seller: User, at) -> int:
    return sum(
        taxonomy.pair_bit(category, purpose)
        for category in taxonomy.CATEGORY_CODES
        for purpose in taxonomy.PURPOSE_CODES
        if consent_is_valid(seller, category, purpose, at)
    )


def grant(seller: User, category: str, purpose: str = "targeted_advertising") -> ConsentGrant:
    return services.consent_grant(
        seller=seller, category=category, purpose=purpose, window_days=taxonomy.CONSENT_WINDOW_DAYS[0]
    )


def test_the_mask_is_the_pairs_valid_now():
    seller, other = SellerFactory(), SellerFactory()
    grant(seller, "demographics")
    grant(seller, "location")
    grant(seller, "location", "market_research")
    grant(seller, "content_affinity", "personalised_content")
    revoked = grant(seller, "device")
    services.consent_revoke(seller=seller, grant_id=revoked.pk)
    lapsed = grant(seller, "interests")  # past its window, the expiry sweep not run yet
    past = timezone.now() - timedelta(days=1)
    ConsentGrant.objects.filter(pk=lapsed.pk).update(granted_at=past - timedelta(days=30), expires_at=past)
    grant(other, "telecom")
    now = timezone.now()

    assert (
        mask_in_sql(seller, now)
        == mask_in_python(seller, now)
        == taxonomy.pairs_mask(["demographics", "location"], ["targeted_advertising"])
        | taxonomy.pair_bit("location", "market_research")
        | taxonomy.pair_bit("content_affinity", "personalised_content")
    )
    assert mask_in_sql(seller, past - timedelta(days=1)) == mask_in_python(seller, past - timedelta(days=1))


def test_a_renewed_grant_counts_once_and_no_consent_is_no_pair():
    seller = SellerFactory()
    assert mask_in_sql(seller, timezone.now()) == 0
    first = grant(seller, "demographics")
    services.consent_renew(seller=seller, grant_id=first.pk, window_days=taxonomy.CONSENT_WINDOW_DAYS[-1])
    now = timezone.now()
    assert (
        mask_in_sql(seller, now)
        == mask_in_python(seller, now)
        == taxonomy.pair_bit("demographics", "targeted_advertising")
    )

"""`field__any`: id membership as one array parameter (core/db.py)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from core.db import Ids

pytestmark = pytest.mark.django_db


def test_any_matches_like_in_with_one_parameter():
    users = [User.objects.create(email=f"any{i}@example.test", role=User.Role.SELLER) for i in range(3)]
    wanted = [users[0].pk, users[2].pk, 10**12]
    with CaptureQueriesContext(connection) as queries:
        found = set(User.objects.filter(pk__any=Ids(wanted)).values_list("pk", flat=True))
        also = set(User.objects.filter(pk__any=wanted).values_list("pk", flat=True))
    assert found == also == set(User.objects.filter(pk__in=wanted).values_list("pk", flat=True))
    assert found == {users[0].pk, users[2].pk}
    assert "= ANY(" in queries[0]["sql"]  # the suite runs on PostgreSQL
    assert not User.objects.filter(pk__any=[]).exists()


def test_any_through_a_relation():
    from accounts.models import SellerProfile

    seller = User.objects.create(email="rel@example.test", role=User.Role.SELLER)
    SellerProfile.objects.create(seller=seller)
    assert SellerProfile.objects.filter(seller_id__any=Ids([seller.pk])).count() == 1
    assert SellerProfile.objects.filter(seller__pk__any=[seller.pk + 1]).count() == 0

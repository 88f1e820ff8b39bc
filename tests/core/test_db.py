"""`field__any`: id membership for the consent sweep's cascades (core/db.py).

Not transactional, so that the SQLite job of `.ci/run` ("sqlite twins") runs it as well: on
PostgreSQL the ids travel as one array, elsewhere as `IN`; both must select the same rows.
"""

from __future__ import annotations

import pytest
from django.db import connection

from accounts.models import SellerProfile, User
from core.db import Ids

pytestmark = pytest.mark.django_db


def test_any_selects_what_in_selects():
    users = [User.objects.create(email=f"any{i}@example.test", role=User.Role.SELLER) for i in range(3)]
    wanted = [users[0].pk, users[2].pk, 10**12]

    found = set(User.objects.filter(pk__any=Ids(wanted)).values_list("pk", flat=True))
    also = set(User.objects.filter(pk__any=wanted).values_list("pk", flat=True))

    assert found == also == set(User.objects.filter(pk__in=wanted).values_list("pk", flat=True))
    assert found == {users[0].pk, users[2].pk}
    assert not User.objects.filter(pk__any=[]).exists()
    assert not User.objects.filter(pk__any=Ids([])).exists()


def test_any_through_a_relation():
    seller = User.objects.create(email="rel@example.test", role=User.Role.SELLER)
    SellerProfile.objects.create(seller=seller)

    assert SellerProfile.objects.filter(seller_id__any=Ids([seller.pk])).count() == 1
    assert SellerProfile.objects.filter(seller__pk__any=[seller.pk + 1]).count() == 0


def test_a_sweep_sized_batch_of_ids_selects_every_match():
    users = [User.objects.create(email=f"batch{i}@example.test", role=User.Role.SELLER) for i in range(5)]
    ids = [user.pk for user in users] + list(range(10**12, 10**12 + 4_995))  # a batch of 5,000

    assert set(User.objects.filter(pk__any=Ids(ids)).values_list("pk", flat=True)) == {u.pk for u in users}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="elsewhere `IN`, one parameter an id")
def test_on_postgresql_the_statement_does_not_grow_with_the_ids():
    few = User.objects.filter(pk__any=Ids([1, 2, 3])).query.sql_with_params()
    many = User.objects.filter(pk__any=Ids(range(1, 5_001))).query.sql_with_params()

    assert few[0] == many[0] and len(few[1]) == len(many[1])

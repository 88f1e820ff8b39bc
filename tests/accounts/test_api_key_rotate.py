"""api_key_rotate: the old key's expiry is brought forward to the grace period, never pushed
back; revoked, expired and foreign keys are not rotated."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import services
from accounts.models import ApiKey
from core.errors import Conflict, NotFound
from tests.factories import OrganisationFactory
from tests.marketplace.console_helpers import member

pytestmark = pytest.mark.django_db


@pytest.fixture
def developer():
    return member(OrganisationFactory(), "developer")


def test_rotation_never_extends_a_key_that_expires_sooner(developer):
    soon = timezone.now() + timedelta(hours=1)
    old, _ = services.api_key_create(organisation=developer.organisation, name="k", expires_at=soon)

    services.api_key_rotate(key_id=old.pk, organisation=developer.organisation)

    old.refresh_from_db()
    assert old.expires_at == soon


def test_a_revoked_or_foreign_key_is_not_rotated(developer):
    key, _ = services.api_key_create(organisation=developer.organisation, name="k")
    services.api_key_revoke(key_id=key.pk)
    with pytest.raises(Conflict):
        services.api_key_rotate(key_id=key.pk, organisation=developer.organisation)
    foreign, _ = services.api_key_create(organisation=OrganisationFactory(), name="theirs")
    with pytest.raises(NotFound):
        services.api_key_rotate(key_id=foreign.pk, organisation=developer.organisation)
    assert ApiKey.objects.count() == 2

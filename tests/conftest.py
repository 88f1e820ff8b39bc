from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts import services
from tests.factories import ModeratorFactory, OrganisationFactory, SellerFactory, VerifiedOrganisationFactory


@pytest.fixture
def seller(db):
    return SellerFactory()


@pytest.fixture
def moderator(db):
    return ModeratorFactory()


@pytest.fixture
def organisation(db):
    return OrganisationFactory()


@pytest.fixture
def verified_organisation(db):
    return VerifiedOrganisationFactory()


@pytest.fixture
def api_client_for():
    """api_client_for(organisation) -> an APIClient authenticated with a fresh key of theirs."""

    def make(organisation) -> APIClient:
        _key, plaintext = services.api_key_create(organisation=organisation, name="tests")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {plaintext}")
        return client

    return make

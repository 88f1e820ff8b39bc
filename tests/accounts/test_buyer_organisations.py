"""Buyer organisations: verification by moderators, API keys shown once and stored hashed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import services
from accounts.models import ApiKey, BuyerOrganisation, OrganisationVerificationEvent
from core.errors import Conflict, Forbidden, InvalidInput
from tests.factories import OrganisationFactory, SellerFactory

pytestmark = pytest.mark.django_db(transaction=True)
V = BuyerOrganisation.Verification


def test_verification_lifecycle_is_audited(organisation, moderator):
    services.organisation_set_verification(organisation_id=organisation.pk, to_status=V.PENDING, actor=None)
    verified = services.organisation_set_verification(
        organisation_id=organisation.pk, to_status=V.VERIFIED, actor=moderator, reason="Kbis checked"
    )

    assert verified.is_verified and verified.verification_decided_by == moderator
    assert verified.verification_decided_at is not None and verified.verification_reason == "Kbis checked"
    assert list(
        OrganisationVerificationEvent.objects.order_by("id").values_list("from_status", "to_status")
    ) == [(V.UNVERIFIED, V.PENDING), (V.PENDING, V.VERIFIED)]


def test_bad_verification_moves_change_nothing(organisation, moderator):
    with pytest.raises(Conflict):  # unverified cannot jump to verified
        services.organisation_set_verification(
            organisation_id=organisation.pk, to_status=V.VERIFIED, actor=moderator
        )
    services.organisation_set_verification(organisation_id=organisation.pk, to_status=V.PENDING, actor=None)
    with pytest.raises(Forbidden):  # only moderators decide
        services.organisation_set_verification(
            organisation_id=organisation.pk, to_status=V.VERIFIED, actor=SellerFactory()
        )
    with pytest.raises(InvalidInput):  # a rejection needs a reason
        services.organisation_set_verification(
            organisation_id=organisation.pk, to_status=V.REJECTED, actor=moderator
        )
    organisation.refresh_from_db()
    assert organisation.verification_status == V.PENDING
    assert OrganisationVerificationEvent.objects.count() == 1


def test_duplicate_registration_is_a_conflict(organisation):
    with pytest.raises(Conflict):
        services.organisation_create(
            legal_name="Copy",
            registration_number=organisation.registration_number,
            country="fr",
            website="https://copy.example",
            contact_name="X",
            contact_email="x@copy.example",
        )
    assert BuyerOrganisation.objects.count() == 1


def test_api_key_is_never_stored_in_plaintext(organisation):
    key, plaintext = services.api_key_create(organisation=organisation, name="campaign tool")

    with connection.cursor() as cursor:
        cursor.execute("SELECT t::text FROM accounts_apikey t")
        rows = "\n".join(row[0] for row in cursor.fetchall())
    secret = plaintext.split("_", 2)[2]  # crt_<hex prefix>_<secret>; the secret may hold "_"
    assert plaintext not in rows and secret not in rows
    assert services.api_key_authenticate(plaintext=plaintext) == key
    assert (
        services.api_key_authenticate(plaintext=plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B"))
        is None
    )


def test_revoked_and_expired_keys_stop_working(organisation, api_client_for):
    key, plaintext = services.api_key_create(
        organisation=organisation, name="short", expires_at=timezone.now() + timedelta(hours=1)
    )
    assert services.api_key_authenticate(plaintext=plaintext) is not None
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert services.api_key_authenticate(plaintext=plaintext) is None

    key2, plaintext2 = services.api_key_create(organisation=organisation, name="revoked")
    services.api_key_revoke(key_id=key2.pk, organisation=organisation)
    assert services.api_key_authenticate(plaintext=plaintext2) is None
    with pytest.raises(Conflict):
        services.api_key_revoke(key_id=key2.pk, organisation=organisation)


def test_api_authenticates_with_the_key_and_records_last_use(organisation, api_client_for, client):
    api = api_client_for(organisation)

    response = api.get("/api/v1/organisation/")

    assert response.status_code == 200
    assert response.json()["legal_name"] == organisation.legal_name
    assert response.json()["verification_status"] == "unverified"
    assert ApiKey.objects.get(organisation=organisation).last_used_at is not None
    assert client.get("/api/v1/organisation/").status_code in (401, 403)
    bad = client.get("/api/v1/organisation/", HTTP_AUTHORIZATION="Api-Key crt_nope_nope")
    assert bad.status_code == 401 and bad.json()["code"] == "authentication_failed"


def test_api_verification_request_and_its_errors(organisation, api_client_for):
    api = api_client_for(organisation)

    assert api.post("/api/v1/organisation/verification-request/").status_code == 202
    again = api.post("/api/v1/organisation/verification-request/")

    assert again.status_code == 409 and again.json()["code"] == "transition_not_allowed"
    organisation.refresh_from_db()
    assert organisation.verification_status == V.PENDING


def test_api_verification_request_lists_what_is_missing_and_changes_nothing(api_client_for):
    organisation = OrganisationFactory(
        website="", contact_phone_verified_at=None, contact_email_verified_at=None
    )
    api = api_client_for(organisation)

    refused = api.post("/api/v1/organisation/verification-request/")

    assert refused.status_code == 422 and refused["Content-Type"] == "application/problem+json"
    problem = refused.json()
    assert problem["code"] == "verification_incomplete"
    assert problem["missing"] == ["website", "contact_email_unverified", "contact_phone_unverified"]
    assert problem["detail"] == (
        "Complete these first: website, contact_email_unverified, contact_phone_unverified."
    )
    organisation.refresh_from_db()
    assert organisation.verification_status == V.UNVERIFIED
    assert not OrganisationVerificationEvent.objects.filter(organisation=organisation).exists()

    BuyerOrganisation.objects.filter(pk=organisation.pk).update(
        website="https://annonceur.example",
        contact_email_verified_at=timezone.now(),
        contact_phone_verified_at=timezone.now(),
    )
    assert api.post("/api/v1/organisation/verification-request/").status_code == 202


def test_openapi_schema_is_served(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["servers"][0]["url"] == "/api/v1" and "/organisation/" in schema["paths"]


def test_api_key_authentication_reads_key_and_organisation_in_one_query(organisation):
    key, plaintext = services.api_key_create(organisation=organisation, name="one query")
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now())  # no last-used write

    with CaptureQueriesContext(connection) as queries:
        found = services.api_key_authenticate(plaintext=plaintext)
        assert found.organisation == organisation
        assert found.organisation.verification_status == organisation.verification_status
    assert len(queries) == 1
    expected = ApiKey.objects.select_related("organisation").get(pk=key.pk)
    for field in ApiKey._meta.concrete_fields:
        assert getattr(found, field.attname) == getattr(expected, field.attname), field.name
    for field in BuyerOrganisation._meta.concrete_fields:
        assert getattr(found.organisation, field.attname) == getattr(expected.organisation, field.attname)
    assert services.api_key_authenticate(plaintext=f"crt_nosuchprefix_{'x' * 32}") is None

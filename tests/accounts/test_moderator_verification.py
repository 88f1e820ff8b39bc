"""A moderator verifies an organisation in any sensible state (issue 14): from unverified (added
in the admin), pending or rejected once its details are complete, and rejects it from
unverified, pending or verified. Each decision needs a reason and is audited."""

from __future__ import annotations

import pytest

from accounts import services
from accounts.models import BuyerOrganisation, OrganisationVerificationEvent
from core.errors import Conflict, InvalidInput
from core.models import AuditEntry
from tests.factories import OrganisationFactory, SellerFactory

pytestmark = pytest.mark.django_db
V = BuyerOrganisation.Verification
URL = "/admin/accounts/buyerorganisation/"


def act(client, action: str, organisation, reason: str = "Kbis checked"):
    return client.post(
        URL,
        {"action": action, "_selected_action": [organisation.pk], "apply": "1", "reason": reason},
        follow=True,
    )


@pytest.mark.parametrize("from_status", [V.UNVERIFIED, V.PENDING, V.REJECTED])
def test_a_complete_organisation_is_verified_from_any_sensible_state(
    moderator_client, moderator, from_status
):
    organisation = OrganisationFactory(verification_status=from_status)

    act(moderator_client, "verify", organisation)

    organisation.refresh_from_db()
    assert organisation.verification_status == V.VERIFIED
    assert (organisation.verification_decided_by, organisation.verification_reason) == (
        moderator,
        "Kbis checked",
    )
    event = OrganisationVerificationEvent.objects.get(organisation=organisation)
    assert (event.from_status, event.to_status, event.actor) == (from_status, V.VERIFIED, moderator)
    entry = AuditEntry.objects.get(action="organisation.verified")
    assert (entry.actor, entry.reason, entry.target_id) == (moderator, "Kbis checked", str(organisation.pk))
    assert entry.changes == {"verification_status": [from_status, V.VERIFIED]}


def test_an_incomplete_organisation_is_not_verified_and_the_error_names_what_is_missing(moderator_client):
    organisation = OrganisationFactory(contact_phone_verified_at=None, website="")

    page = act(moderator_client, "verify", organisation)

    organisation.refresh_from_db()
    assert organisation.verification_status == V.UNVERIFIED
    assert "website" in page.content.decode() and "contact_phone_unverified" in page.content.decode()
    assert not OrganisationVerificationEvent.objects.exists() and not AuditEntry.objects.exists()


@pytest.mark.parametrize("from_status", [V.UNVERIFIED, V.PENDING, V.VERIFIED])
def test_a_moderator_rejects_from_unverified_pending_or_verified(moderator_client, moderator, from_status):
    organisation = OrganisationFactory(verification_status=from_status)

    act(moderator_client, "reject", organisation, reason="Registration number does not exist")

    organisation.refresh_from_db()
    assert organisation.verification_status == V.REJECTED
    assert organisation.verification_reason == "Registration number does not exist"
    assert AuditEntry.objects.get(action="organisation.rejected").actor == moderator


def test_verify_without_a_reason_changes_nothing(moderator_client):
    organisation = OrganisationFactory()

    page = act(moderator_client, "verify", organisation, reason="")

    assert page.status_code == 200 and b"Give a reason" in page.content
    organisation.refresh_from_db()
    assert organisation.verification_status == V.UNVERIFIED and not AuditEntry.objects.exists()


def test_the_service_refuses_non_moderators_repeats_and_missing_reasons(moderator):
    organisation = OrganisationFactory(verification_status=V.VERIFIED)
    with pytest.raises(Conflict):  # already verified
        services.organisation_decide_verification(
            organisation_id=organisation.pk, to_status=V.VERIFIED, moderator=moderator, reason="again"
        )
    with pytest.raises(InvalidInput):
        services.organisation_decide_verification(
            organisation_id=organisation.pk, to_status=V.REJECTED, moderator=moderator, reason="  "
        )
    from core.errors import Forbidden

    with pytest.raises(Forbidden):
        services.organisation_decide_verification(
            organisation_id=organisation.pk, to_status=V.REJECTED, moderator=SellerFactory(), reason="no"
        )
    organisation.refresh_from_db()
    assert organisation.verification_status == V.VERIFIED


def test_the_organisations_own_request_still_goes_through_pending(moderator):
    organisation = OrganisationFactory()
    services.organisation_request_verification(organisation_id=organisation.pk, actor=None)
    organisation.refresh_from_db()
    assert organisation.verification_status == V.PENDING
    services.organisation_decide_verification(
        organisation_id=organisation.pk, to_status=V.VERIFIED, moderator=moderator, reason="ok"
    )
    organisation.refresh_from_db()
    assert organisation.is_verified

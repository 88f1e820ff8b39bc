"""The Django admin that moderators use: every model listed, verification with a reason."""

from __future__ import annotations

import pytest
from django.contrib import admin

from accounts import services
from accounts.models import BuyerOrganisation, ConsentEvent
from accounts.taxonomy import DataCategory, Purpose

pytestmark = pytest.mark.django_db


def test_every_model_changelist_renders(moderator_client, seller, organisation):
    services.consent_grant(
        seller=seller, category=DataCategory.DEVICE, purpose=Purpose.AD_MEASUREMENT, window_days=30
    )
    for model in admin.site._registry:
        meta = model._meta
        url = f"/admin/{meta.app_label}/{meta.model_name}/"
        assert moderator_client.get(url).status_code == 200, url
        assert moderator_client.get(url, {"q": "x"}).status_code == 200, url


def test_consent_events_are_read_only_in_the_admin(moderator_client, seller):
    grant = services.consent_grant(
        seller=seller, category=DataCategory.DEVICE, purpose=Purpose.AD_MEASUREMENT, window_days=30
    )
    event = ConsentEvent.objects.get(grant=grant)
    model_admin = admin.site._registry[ConsentEvent]
    assert not model_admin.has_change_permission(None) and not model_admin.has_delete_permission(None)
    assert moderator_client.get(f"/admin/accounts/consentevent/{event.pk}/change/").status_code == 200
    assert moderator_client.post(f"/admin/accounts/consentevent/{event.pk}/delete/").status_code == 403


def test_verify_and_reject_actions_take_a_reason(moderator_client, moderator, organisation):
    services.organisation_set_verification(organisation_id=organisation.pk, to_status="pending", actor=None)
    url = "/admin/accounts/buyerorganisation/"

    form = moderator_client.post(url, {"action": "verify", "_selected_action": [organisation.pk]})
    assert form.status_code == 200 and b"reason" in form.content

    done = moderator_client.post(
        url,
        {"action": "verify", "_selected_action": [organisation.pk], "apply": "1", "reason": "Kbis checked"},
    )
    assert done.status_code == 302
    organisation.refresh_from_db()
    assert organisation.verification_status == BuyerOrganisation.Verification.VERIFIED
    assert (
        organisation.verification_reason == "Kbis checked"
        and organisation.verification_decided_by == moderator
    )


def test_reject_without_reason_is_refused(moderator_client, organisation):
    services.organisation_set_verification(organisation_id=organisation.pk, to_status="pending", actor=None)
    moderator_client.post(
        "/admin/accounts/buyerorganisation/",
        {"action": "reject", "_selected_action": [organisation.pk], "apply": "1", "reason": ""},
    )
    organisation.refresh_from_db()
    assert organisation.verification_status == BuyerOrganisation.Verification.PENDING

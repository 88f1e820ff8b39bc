"""core/audit.py: the append-only audit trail, its admin, and the actions' required reason."""

from __future__ import annotations

import pytest

from accounts import services
from accounts.models import BuyerOrganisation
from core import audit
from core.models import AuditEntry

pytestmark = pytest.mark.django_db


def test_an_entry_names_who_did_what_to_which_row_and_why(moderator, organisation):
    with audit.acting_as(moderator):
        entry = audit.record(
            "organisation.flagged", organisation, reason="spam", changes={"flag": [False, True]}
        )

    entry.refresh_from_db()
    assert (entry.actor, entry.actor_role) == (moderator, "moderator")
    assert (entry.action, entry.target_type, entry.target_id) == (
        "organisation.flagged",
        "accounts.buyerorganisation",
        str(organisation.pk),
    )
    assert entry.target_repr == organisation.legal_name and entry.reason == "spam"


def test_without_an_actor_the_entry_is_the_platforms(organisation):
    entry = audit.record("organisation.flagged", organisation)
    assert entry.actor is None and entry.actor_role == AuditEntry.SYSTEM


def test_the_admin_shows_the_trail_and_never_edits_it(moderator_client, organisation):
    entry = audit.record("organisation.flagged", organisation, reason="spam")

    listing = moderator_client.get("/admin/core/auditentry/?action=organisation.flagged")
    assert listing.status_code == 200 and "organisation.flagged" in listing.content.decode()
    assert moderator_client.post(f"/admin/core/auditentry/{entry.pk}/delete/").status_code == 403
    assert (
        moderator_client.post(f"/admin/core/auditentry/{entry.pk}/change/", {"reason": "x"}).status_code
        == 403
    )


def test_an_action_without_a_reason_keeps_its_form_and_shows_the_error_in_place(
    moderator_client, organisation
):
    services.organisation_set_verification(organisation_id=organisation.pk, to_status="pending", actor=None)

    page = moderator_client.post(
        "/admin/accounts/buyerorganisation/",
        {"action": "verify", "_selected_action": [organisation.pk], "apply": "1", "reason": "  "},
    )

    assert page.status_code == 200
    body = page.content.decode()
    assert "Give a reason" in body and f'value="{organisation.pk}"' in body
    organisation.refresh_from_db()
    assert organisation.verification_status == BuyerOrganisation.Verification.PENDING


def test_the_admin_index_lists_the_queues(moderator_client):
    page = moderator_client.get("/admin/")
    assert page.status_code == 200
    assert "Courtier moderation" in page.content.decode()

"""Organisation members: two owners demoting each other at once leave exactly one owner (the
organisation row is locked); invitations carry their role and cannot be forged."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from accounts import services
from accounts.models import User
from core.errors import Conflict, Forbidden, InvalidInput
from tests.factories import OrganisationFactory
from tests.marketplace.console_helpers import PASSWORD, member


@pytest.mark.django_db(transaction=True)
def test_two_owners_demoting_each_other_at_once_leave_one_owner():
    organisation = OrganisationFactory()
    first, second = member(organisation, "owner"), member(organisation, "owner")
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def demote(actor: User, target: User) -> None:
        try:
            barrier.wait()
            services.organisation_member_set_role(
                organisation=organisation, member_id=target.pk, organisation_role="finance", actor=actor
            )
            outcomes.append("demoted")
        except (Conflict, Forbidden) as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=demote, args=pair) for pair in ((first, second), (second, first))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # the second to get the lock is no longer an owner
    assert sorted(outcomes) == ["demoted", "owner_required"]
    assert User.objects.filter(organisation=organisation, organisation_role="owner").count() == 1


@pytest.mark.django_db
def test_an_invitation_joins_with_its_role_once():
    owner = member(OrganisationFactory(), "owner")
    token = services.organisation_invitation_token(
        organisation=owner.organisation,
        email="Fin@Annonceur.example",
        organisation_role="finance",
        invited_by=owner,
    )

    joined = services.organisation_invitation_accept(token=token, password=PASSWORD, full_name="Fin")

    assert (joined.email, joined.organisation_role, joined.organisation_id) == (
        "fin@annonceur.example",
        "finance",
        owner.organisation_id,
    )
    with pytest.raises(Conflict):
        services.organisation_invitation_accept(token=token, password=PASSWORD, full_name="Fin")
    with pytest.raises(InvalidInput):
        services.organisation_invitation_read(token=token[:-2] + "xx")


@pytest.mark.django_db
def test_only_owners_invite():
    developer = member(OrganisationFactory(), "developer")

    with pytest.raises(Forbidden):
        services.organisation_invitation_token(
            organisation=developer.organisation,
            email="x@annonceur.example",
            organisation_role="owner",
            invited_by=developer,
        )

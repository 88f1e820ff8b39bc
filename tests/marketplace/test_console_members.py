"""Members and roles in the console: invitations, role changes, removal, and what each role opens."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.urls import reverse

from accounts.models import User
from tests.factories import OrganisationFactory
from tests.marketplace.console_helpers import PASSWORD, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner():
    return member(OrganisationFactory(), "owner", "owner@annonceur.example")


def test_an_owner_invites_and_the_invitee_joins_with_the_role(client, owner, django_assert_max_num_queries):
    client.force_login(owner)
    response = client.post(
        reverse("console-member-invite"), {"email": "dev@annonceur.example", "role": "developer"}
    )
    assert response.status_code == 302
    (message,) = mail.outbox
    assert message.to == ["dev@annonceur.example"]
    token = re.search(r"/console/invitation/(\S+)/", message.body)[1]
    client.logout()

    page = client.get(reverse("console-invitation", args=[token]))
    assert "dev@annonceur.example" in page.content.decode()
    joined = client.post(
        reverse("console-invitation", args=[token]),
        {"full_name": "Dev", "password1": PASSWORD, "password2": PASSWORD},
    )

    assert joined.status_code == 302
    dev = User.objects.get(email="dev@annonceur.example")
    assert (dev.organisation_id, dev.role, dev.organisation_role) == (
        owner.organisation_id,
        "buyer",
        "developer",
    )
    # the invitation cannot be used twice
    again = client.post(
        reverse("console-invitation", args=[token]),
        {"full_name": "Dev", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert "already exists" in again.content.decode()
    client.force_login(owner)
    with django_assert_max_num_queries(5):
        assert client.get(reverse("console-members")).status_code == 200


def test_a_forged_invitation_is_refused(client):
    response = client.get(reverse("console-invitation", args=["forged:token"]))

    assert response.status_code == 400
    assert "invalid or expired" in response.content.decode()


@pytest.mark.parametrize(
    ("role", "allowed", "forbidden"),
    [
        ("owner", ["console-members", "console-keys", "console-invoices", "console-usage"], []),
        (
            "developer",
            ["console-keys", "console-dashboard"],
            ["console-members", "console-invoices", "console-usage", "console-card"],
        ),
        (
            "finance",
            ["console-invoices", "console-usage", "console-dashboard"],
            ["console-members", "console-keys"],
        ),
    ],
)
def test_each_role_opens_its_pages_only(client, owner, role, allowed, forbidden):
    client.force_login(owner if role == "owner" else member(owner.organisation, role))

    for name in allowed:
        assert client.get(reverse(name)).status_code == 200, name
    for name in forbidden:
        assert client.get(reverse(name)).status_code == 403, name


def test_only_owners_act_on_verification_and_members(client, owner):
    dev = member(owner.organisation, "developer")
    client.force_login(dev)

    assert client.post(reverse("console-verification-request")).status_code == 403
    assert client.post(reverse("console-member-remove", args=[owner.pk])).status_code == 403
    assert User.objects.get(pk=owner.pk).is_active


def test_owner_changes_a_role_and_removes_a_member(client, owner):
    finance = member(owner.organisation, "finance")
    client.force_login(owner)

    client.post(reverse("console-member-role", args=[finance.pk]), {f"m{finance.pk}-role": "developer"})
    finance.refresh_from_db()
    assert finance.organisation_role == "developer"

    client.post(reverse("console-member-remove", args=[finance.pk]))
    finance.refresh_from_db()
    assert not finance.is_active


def test_the_last_owner_can_be_neither_demoted_nor_removed(client, owner):
    client.force_login(owner)

    client.post(reverse("console-member-role", args=[owner.pk]), {f"m{owner.pk}-role": "finance"})
    response = client.post(reverse("console-member-remove", args=[owner.pk]), follow=True)

    owner.refresh_from_db()
    assert (owner.organisation_role, owner.is_active) == ("owner", True)
    assert "An organisation keeps at least one owner." in response.content.decode()


def test_members_of_another_organisation_are_out_of_reach(client, owner):
    stranger = member(OrganisationFactory(), "finance")
    client.force_login(owner)

    client.post(reverse("console-member-remove", args=[stranger.pk]))

    stranger.refresh_from_db()
    assert stranger.is_active

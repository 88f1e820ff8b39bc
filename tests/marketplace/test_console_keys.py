"""API keys in the console: scoped creation with the secret shown once, rotation with a grace
period during which both keys work, revocation; and the api_key_create command."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from accounts import services
from accounts.models import ApiKey
from tests.factories import OrganisationFactory
from tests.marketplace.console_helpers import member

pytestmark = pytest.mark.django_db


@pytest.fixture
def developer():
    return member(OrganisationFactory(), "developer")


def created_secret(response) -> str:
    return re.search(r'value="(crt_[^"]+)"', response.content.decode())[1]


def test_a_key_is_created_with_its_scopes_and_the_secret_shown_once(
    client, developer, django_assert_max_num_queries
):
    client.force_login(developer)

    response = client.post(
        reverse("console-key-create"), {"name": "ci", "scopes": ["segments:read", "listings:read"]}
    )

    secret = created_secret(response)
    key = ApiKey.objects.get()
    assert (key.name, key.scopes, key.created_by) == ("ci", ["segments:read", "listings:read"], developer)
    assert services.api_key_authenticate(plaintext=secret) == key
    with django_assert_max_num_queries(5):
        listing = client.get(reverse("console-keys")).content.decode()
    assert key.prefix in listing and secret not in listing


def test_a_key_needs_a_scope(client, developer):
    client.force_login(developer)

    response = client.post(reverse("console-key-create"), {"name": "ci"})

    assert response.status_code == 200 and not ApiKey.objects.exists()


def test_rotation_keeps_both_keys_alive_for_the_grace_period(client, developer, settings):
    settings.API_KEY_ROTATION_GRACE = timedelta(hours=24)
    old, old_secret = services.api_key_create(
        organisation=developer.organisation, name="prod", scopes=["bids:write"]
    )
    client.force_login(developer)

    response = client.post(reverse("console-key-rotate", args=[old.pk]))

    new_secret = created_secret(response)
    new = ApiKey.objects.exclude(pk=old.pk).get()
    old.refresh_from_db()
    assert (new.name, new.scopes, new.expires_at) == ("prod", ["bids:write"], None)
    assert timedelta(hours=23, minutes=59) < old.expires_at - timezone.now() <= timedelta(hours=24)
    assert services.api_key_authenticate(plaintext=old_secret) == old
    assert services.api_key_authenticate(plaintext=new_secret) == new
    assert "keeps working until" in response.content.decode()
    # after the grace period only the new key works
    assert not old.is_usable(timezone.now() + timedelta(hours=24, seconds=1))
    assert new.is_usable(timezone.now() + timedelta(days=30))


def test_revoke_from_the_console(client, developer):
    key, secret = services.api_key_create(organisation=developer.organisation, name="k")
    foreign, _ = services.api_key_create(organisation=OrganisationFactory(), name="theirs")
    client.force_login(developer)

    client.post(reverse("console-key-revoke", args=[key.pk]))
    client.post(reverse("console-key-revoke", args=[foreign.pk]))

    assert services.api_key_authenticate(plaintext=secret) is None
    foreign.refresh_from_db()
    assert foreign.revoked_at is None


def test_the_command_prints_the_secret_once(developer):
    out, err = io.StringIO(), io.StringIO()

    call_command(
        "api_key_create",
        "--organisation",
        developer.organisation.legal_name,
        "--name",
        "batch",
        "--scopes",
        "segments:read,data:read",
        stdout=out,
        stderr=err,
    )

    key = ApiKey.objects.get()
    assert services.api_key_authenticate(plaintext=out.getvalue().strip()) == key
    assert key.scopes == ["segments:read", "data:read"]
    with pytest.raises(CommandError):
        call_command("api_key_create", "--organisation", "Nobody SAS", "--name", "x", stdout=out)
    with pytest.raises(CommandError):
        call_command(
            "api_key_create",
            "--organisation",
            str(developer.organisation.pk),
            "--name",
            "x",
            "--scopes",
            "nope",
        )

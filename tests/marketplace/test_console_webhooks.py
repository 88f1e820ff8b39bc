"""Webhook endpoints in the console: creation with the secret shown once, SSRF refusals as form
errors, edit, secret roll (both secrets sign for a day), disable and enable, delete after a
confirmation, each delivery's attempts and redelivery; finance gets 403, another organisation's
ids 404, and each page's queries do not grow with the endpoints or deliveries it shows."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from marketplace import tasks
from marketplace.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from marketplace.services import webhook_endpoint_create, webhook_events_emit
from marketplace.services.webhooks import endpoint_secrets
from tests.factories import OrganisationFactory
from tests.marketplace.console_helpers import member

pytestmark = pytest.mark.django_db

URL = "http://127.0.0.1:9/hooks"


@pytest.fixture(autouse=True)
def queued(monkeypatch):
    """Delivery messages recorded, never sent."""
    sent: list[int] = []
    monkeypatch.setattr(tasks.webhook_deliver, "delay", sent.append)
    return sent


@pytest.fixture
def developer():
    return member(OrganisationFactory(), "developer")


def endpoint_of(organisation, url: str = URL, event_types=("*",)) -> WebhookEndpoint:
    return webhook_endpoint_create(organisation=organisation, url=url, event_types=event_types)[0]


def shown_secret(response) -> str:
    return re.search(r'value="(whsec_[^"]+)"', response.content.decode())[1]


def failed_deliveries(endpoint: WebhookEndpoint, n: int, attempts: int = 2) -> list[WebhookDelivery]:
    """`n` events to the endpoint's organisation, each delivery failed after `attempts` attempts."""
    with transaction.atomic():
        webhook_events_emit(
            "trade.settled",
            [(endpoint.organisation_id, {"object": "trade", "id": f"t{i}"}) for i in range(n)],
        )
    deliveries = list(WebhookDelivery.objects.filter(endpoint=endpoint))
    WebhookAttempt.objects.bulk_create(
        WebhookAttempt(delivery=d, url=endpoint.url, status_code=500 + i, duration_ms=42, error="")
        for d in deliveries
        for i in range(attempts)
    )
    WebhookDelivery.objects.filter(endpoint=endpoint).update(
        status="failed", attempts=attempts, last_status_code=501
    )
    return deliveries


def test_an_endpoint_is_created_and_its_secret_shown_once(client, developer, django_assert_max_num_queries):
    client.force_login(developer)

    response = client.post(
        reverse("console-webhook-create"),
        {"url": URL, "description": "prod", "event_types": ["trade.settled", "access.revoked"]},
    )

    secret = shown_secret(response)
    assert "no-store" in response["Cache-Control"]
    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.organisation, endpoint.url, endpoint.description, endpoint.event_types) == (
        developer.organisation,
        URL,
        "prod",
        ["trade.settled", "access.revoked"],
    )
    assert endpoint_secrets(endpoint) == [secret]
    for page in (reverse("console-webhooks"), reverse("console-webhook", args=[endpoint.public_id])):
        html = client.get(page).content.decode()
        assert URL in html and secret not in html


def test_all_event_types(client, developer):
    client.force_login(developer)

    client.post(reverse("console-webhook-create"), {"url": URL, "event_types": ["*", "bid.won"]})

    assert WebhookEndpoint.objects.get().event_types == ["*"]


def test_a_private_address_is_refused_as_a_form_error(client, developer, settings):
    settings.WEBHOOKS_ALLOW_LOOPBACK = False
    client.force_login(developer)

    private = client.post(
        reverse("console-webhook-create"), {"url": "https://10.1.2.3/hook", "event_types": ["*"]}
    )
    loopback = client.post(reverse("console-webhook-create"), {"url": URL, "event_types": ["*"]})
    not_a_url = client.post(reverse("console-webhook-create"), {"url": "ftp://x", "event_types": ["*"]})
    no_types = client.post(reverse("console-webhook-create"), {"url": "https://10.1.2.3/hook"})

    assert not WebhookEndpoint.objects.exists()
    for response in (private, loopback, not_a_url, no_types):
        assert response.status_code == 200
        assert 'class="errorlist' in response.content.decode()
    assert "public addresses" in private.content.decode()
    assert "public addresses" in loopback.content.decode()


def test_edit(client, developer, settings):
    endpoint = endpoint_of(developer.organisation)
    client.force_login(developer)
    edit = reverse("console-webhook-edit", args=[endpoint.public_id])

    response = client.post(edit, {"url": URL + "/v2", "description": "new", "event_types": ["bid.won"]})

    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.description, endpoint.event_types) == (URL + "/v2", "new", ["bid.won"])
    settings.WEBHOOKS_ALLOW_LOOPBACK = False
    refused = client.post(edit, {"url": "https://192.168.1.1/", "event_types": ["bid.won"]})
    assert refused.status_code == 200 and "public addresses" in refused.content.decode()
    endpoint.refresh_from_db()
    assert endpoint.url == URL + "/v2"


def test_rolling_shows_the_new_secret_once_and_the_old_one_signs_for_a_day(client, developer):
    endpoint, old = webhook_endpoint_create(organisation=developer.organisation, url=URL, event_types=["*"])
    client.force_login(developer)

    response = client.post(reverse("console-webhook-roll", args=[endpoint.public_id]))

    new = shown_secret(response)
    endpoint.refresh_from_db()
    assert new != old and endpoint_secrets(endpoint) == [new, old]
    assert endpoint_secrets(endpoint, at=timezone.now() + timedelta(hours=24, seconds=1)) == [new]
    assert "keeps signing too for 24 hours" in response.content.decode()
    assert new not in client.get(reverse("console-webhook", args=[endpoint.public_id])).content.decode()


def test_disable_then_enable(client, developer):
    endpoint = endpoint_of(developer.organisation)
    client.force_login(developer)

    client.post(reverse("console-webhook-disable", args=[endpoint.public_id]))
    endpoint.refresh_from_db()
    assert endpoint.status == "disabled" and endpoint.disabled_reason
    assert endpoint.disabled_reason in client.get(reverse("console-webhooks")).content.decode()

    client.post(reverse("console-webhook-enable", args=[endpoint.public_id]))
    endpoint.refresh_from_db()
    assert (endpoint.status, endpoint.disabled_reason) == ("enabled", "")


def test_delete_after_a_confirmation(client, developer):
    endpoint = endpoint_of(developer.organisation)
    client.force_login(developer)
    delete = reverse("console-webhook-delete", args=[endpoint.public_id])

    confirmation = client.get(delete)

    assert confirmation.status_code == 200 and WebhookEndpoint.objects.exists()
    assert f'action="{delete}"' in confirmation.content.decode()
    assert client.post(delete).status_code == 302
    assert not WebhookEndpoint.objects.exists()


def test_deliveries_show_their_attempts_and_are_redelivered(client, developer, queued):
    endpoint = endpoint_of(developer.organisation)
    (delivery,) = failed_deliveries(endpoint, 1)
    client.force_login(developer)

    html = client.get(reverse("console-webhook", args=[endpoint.public_id])).content.decode()
    assert str(delivery.public_id) in html and "500" in html and "501" in html and "42 ms" in html

    response = client.post(reverse("console-webhook-redeliver", args=[delivery.public_id]))

    assert response.status_code == 302
    assert response["Location"] == reverse("console-webhook", args=[endpoint.public_id])
    delivery.refresh_from_db()
    assert delivery.status == "pending"


def test_a_disabled_endpoint_is_not_redelivered(client, developer):
    endpoint = endpoint_of(developer.organisation)
    (delivery,) = failed_deliveries(endpoint, 1)
    client.force_login(developer)
    client.post(reverse("console-webhook-disable", args=[endpoint.public_id]))

    response = client.post(reverse("console-webhook-redeliver", args=[delivery.public_id]), follow=True)

    delivery.refresh_from_db()
    assert delivery.status == "failed" and "enable it first" in response.content.decode()


def test_finance_gets_403_and_owners_get_in(client):
    organisation = OrganisationFactory()
    endpoint = endpoint_of(organisation)
    client.force_login(member(organisation, "finance"))

    for url in (reverse("console-webhooks"), reverse("console-webhook", args=[endpoint.public_id])):
        assert client.get(url).status_code == 403
    assert client.post(reverse("console-webhook-roll", args=[endpoint.public_id])).status_code == 403
    assert (
        client.post(reverse("console-webhook-create"), {"url": URL, "event_types": ["*"]}).status_code == 403
    )
    assert "Webhooks" not in client.get(reverse("console-dashboard")).content.decode()

    client.force_login(member(organisation, "owner"))
    assert client.get(reverse("console-webhooks")).status_code == 200


def test_another_organisations_endpoint_is_404(client, developer):
    theirs = endpoint_of(OrganisationFactory())
    (delivery,) = failed_deliveries(theirs, 1)
    client.force_login(developer)
    public_id = theirs.public_id

    assert client.get(reverse("console-webhook", args=[public_id])).status_code == 404
    assert client.get(reverse("console-webhook-delete", args=[public_id])).status_code == 404
    for name in ("edit", "delete", "roll", "enable", "disable"):
        data = {"url": URL, "event_types": ["*"]} if name == "edit" else {}
        assert client.post(reverse(f"console-webhook-{name}", args=[public_id]), data).status_code == 404
    assert client.post(reverse("console-webhook-redeliver", args=[delivery.public_id])).status_code == 404
    theirs.refresh_from_db()
    assert (theirs.status, theirs.url, theirs.previous_secret_expires_at) == ("enabled", URL, None)
    assert WebhookEndpoint.objects.filter(pk=theirs.pk).exists()
    assert str(public_id) not in client.get(reverse("console-webhooks")).content.decode()


@pytest.mark.parametrize("endpoints", [1, 6])
def test_the_list_queries_do_not_grow_with_the_endpoints(
    client, developer, endpoints, django_assert_max_num_queries
):
    for i in range(endpoints):
        endpoint_of(developer.organisation, url=f"{URL}/{i}")
    client.force_login(developer)

    with django_assert_max_num_queries(4):
        response = client.get(reverse("console-webhooks"))

    assert response.content.decode().count("data-endpoint=") == endpoints


@pytest.mark.parametrize("deliveries", [1, 8])
def test_the_endpoint_page_queries_do_not_grow_with_the_deliveries(
    client, developer, deliveries, django_assert_max_num_queries
):
    endpoint = endpoint_of(developer.organisation)
    failed_deliveries(endpoint, deliveries, attempts=3)
    client.force_login(developer)

    with django_assert_max_num_queries(7):
        response = client.get(reverse("console-webhook", args=[endpoint.public_id]))

    assert response.content.decode().count("data-delivery=") == deliveries


def test_the_pages_speak_french(client, developer, settings):
    settings.WEBHOOKS_ALLOW_LOOPBACK = False
    client.force_login(developer)
    client.cookies["django_language"] = "fr"

    listing = client.get(reverse("console-webhooks")).content.decode()
    refused = client.post(
        reverse("console-webhook-create"), {"url": "https://10.0.0.1/", "event_types": ["*"]}
    )

    assert "Points de terminaison de webhooks" in listing and "Tous les événements" in listing
    assert "adresses publiques" in refused.content.decode()

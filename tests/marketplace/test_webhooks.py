"""Outbound webhooks: a real receiver on loopback verifies every signature, sees retries after
failures and gets each event once after answering 2xx; private addresses are refused at
registration, at delivery and at redirects; a rolled secret signs alongside the old one for a
day; an endpoint failing for days is disabled and its organisation emailed; the API shows the
attempts, redelivers on request and never another organisation's objects."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from marketplace import tasks
from marketplace.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from marketplace.services import (
    webhook_deliveries_queue_due,
    webhook_delivery_attempt,
    webhook_endpoint_create,
    webhook_events_emit,
    webhook_events_emit_for,
)
from marketplace.webhook_signing import (
    SignatureVerificationError,
    compute_signature,
    signature_header,
    verify_signature,
)
from tests.factories import OrganisationFactory
from tests.marketplace.webhook_receiver import start_receiver

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def receiver():
    receiver, server = start_receiver()
    yield receiver
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def queued(monkeypatch):
    """Delivery messages recorded instead of sent: the tests run each attempt themselves."""
    sent: list[int] = []
    monkeypatch.setattr(tasks.webhook_deliver, "delay", lambda pk: sent.append(pk))
    return sent


def emit(organisation, n: int = 1, event_type: str = "trade.settled") -> list[WebhookEvent]:
    with transaction.atomic():
        return webhook_events_emit(
            event_type, [(organisation.pk, {"object": "trade", "id": f"t{i}"}) for i in range(n)]
        )


def make_due() -> None:
    """Time passes: every pending delivery is due again."""
    WebhookDelivery.objects.filter(status="pending").update(next_attempt_at=timezone.now())


def run_due() -> list[str | None]:
    """What the beat sweep and the workers do: queue the due deliveries, attempt each."""
    sent: list[int] = []
    original = tasks.webhook_deliver.delay
    tasks.webhook_deliver.delay = sent.append
    try:
        webhook_deliveries_queue_due()
    finally:
        tasks.webhook_deliver.delay = original
    return [webhook_delivery_attempt(delivery_id=pk) for pk in sent]


def register(api, url: str, event_types=("*",)):
    return api.post(
        "/api/v1/webhook-endpoints/", {"url": url, "event_types": list(event_types)}, format="json"
    )


# --- delivery, retries, exactly once -------------------------------------------------------------


def test_a_receiver_verifies_every_signature_sees_retries_and_gets_each_event_once(
    receiver, api_client_for, queued
):
    organisation = OrganisationFactory()
    api = api_client_for(organisation)
    created = register(api, receiver.url())
    assert created.status_code == 201, created.content
    secret = created.json()["secret"]
    assert secret.startswith("whsec_")
    receiver.secrets = [secret]
    receiver.answers = [500, 500, 503]  # the first three posts fail

    events = emit(organisation, n=2)

    assert len(queued) == 2  # queued at commit, one message per delivery
    before = timezone.now()
    assert [webhook_delivery_attempt(delivery_id=pk) for pk in queued] == ["pending", "pending"]
    delivery = WebhookDelivery.objects.get(pk=queued[0])
    assert delivery.attempts == 1 and delivery.last_status_code == 500
    assert timedelta(seconds=59) <= delivery.next_attempt_at - before <= timedelta(seconds=62)
    assert run_due() == []  # not due yet: nothing posted
    for _round in range(3):
        make_due()
        run_due()
    make_due()
    assert run_due() == []  # every delivery succeeded: nothing more is sent

    assert receiver.unverified == []
    assert len(receiver.received) == 5
    assert sorted(receiver.delivered_event_ids()) == sorted(str(e.public_id) for e in events)
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"succeeded"}
    first = receiver.received[0]
    assert first.headers["Content-Type"] == "application/json"
    assert first.event["type"] == "trade.settled" and first.event["object"] == "event"
    assert first.event["data"]["object"]["object"] == "trade"
    assert WebhookEndpoint.objects.get().failing_since is None  # a success ends the streak

    response = api.get(f"/api/v1/webhook-events/{events[0].public_id}/deliveries/")
    assert response.status_code == 200
    (listed,) = response.json()
    codes = [attempt["status_code"] for attempt in listed["attempts"]]
    assert codes[-1] == 200 and all(code >= 500 for code in codes[:-1]) and len(codes) >= 2
    assert listed["status"] == "succeeded" and listed["attempt_count"] == len(codes)
    assert listed["next_attempt_at"] is None


def test_a_claimed_delivery_is_posted_once_even_if_its_message_comes_twice(receiver, queued):
    organisation = OrganisationFactory()
    endpoint, secret = webhook_endpoint_create(
        organisation=organisation, url=receiver.url(), event_types=["*"]
    )
    receiver.secrets = [secret]
    emit(organisation)

    assert webhook_delivery_attempt(delivery_id=queued[0]) == "succeeded"
    assert webhook_delivery_attempt(delivery_id=queued[0]) is None  # the duplicate message

    assert len(receiver.received) == 1


def test_the_sweep_queues_a_due_delivery_once_while_its_message_waits(receiver, queued):
    organisation = OrganisationFactory()
    webhook_endpoint_create(organisation=organisation, url=receiver.url(), event_types=["*"])
    emit(organisation)
    assert len(queued) == 1

    assert webhook_deliveries_queue_due() == 0  # its message is on the queue
    WebhookDelivery.objects.update(queued_until=timezone.now() - timedelta(seconds=1))  # ... and was lost
    assert webhook_deliveries_queue_due() == 1
    assert webhook_deliveries_queue_due() == 0
    assert queued == [queued[0]] * 2


def test_retries_stop_when_the_window_ends(receiver, queued):
    organisation = OrganisationFactory()
    webhook_endpoint_create(organisation=organisation, url=receiver.url(), event_types=["*"])
    receiver.answers = [500] * 10
    emit(organisation)
    WebhookDelivery.objects.update(give_up_at=timezone.now() + timedelta(seconds=30))

    assert webhook_delivery_attempt(delivery_id=queued[0]) == "failed"  # the next try would be too late

    delivery = WebhookDelivery.objects.get()
    assert delivery.last_status_code == 500 and delivery.last_error == "HTTP 500"


def test_only_subscribed_enabled_endpoints_get_deliveries_and_no_endpoint_means_no_event(receiver):
    organisation, bystander = OrganisationFactory(), OrganisationFactory()
    webhook_endpoint_create(organisation=organisation, url=receiver.url("/a"), event_types=["bid.won"])
    both, _ = webhook_endpoint_create(
        organisation=organisation, url=receiver.url("/b"), event_types=["bid.won", "bid.lost"]
    )

    with transaction.atomic():
        webhook_events_emit("bid.lost", [(organisation.pk, {"id": "x"}), (bystander.pk, {"id": "y"})])

    (event,) = WebhookEvent.objects.all()
    assert event.organisation == organisation
    assert list(WebhookDelivery.objects.values_list("endpoint", flat=True)) == [both.pk]


def test_an_organisation_without_endpoints_costs_one_query_and_builds_no_payload(django_assert_num_queries):
    organisation = OrganisationFactory()

    def build():
        raise AssertionError("no payload is built for an organisation without endpoints")

    with transaction.atomic(), django_assert_num_queries(1):
        assert webhook_events_emit_for("bid.won", [organisation.pk], build) == []


def test_an_event_whose_cause_rolls_back_is_never_sent(receiver, queued):
    organisation = OrganisationFactory()
    webhook_endpoint_create(organisation=organisation, url=receiver.url(), event_types=["*"])

    with pytest.raises(RuntimeError), transaction.atomic():
        webhook_events_emit("bid.won", [(organisation.pk, {"id": "x"})])
        raise RuntimeError("the cause failed")

    assert not WebhookEvent.objects.exists() and queued == []


# --- SSRF ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/hook",
        "https://10.0.0.1/hook",
        "https://192.168.1.10/",
        "https://172.16.0.1/",
        "https://169.254.169.254/latest/meta-data/",
        "https://[fe80::1]/",
        "https://[fd00::1]/",
        "https://[::ffff:10.0.0.1]/",
        "https://0.0.0.0/",
        "https://224.0.0.1/",
        "https://100.64.0.1/",
        "https://240.0.0.1/",
    ],
)
def test_private_and_malformed_urls_are_refused_at_registration(api_client_for, url):
    response = register(api_client_for(OrganisationFactory()), url)

    assert response.status_code == 422, response.content
    assert response.json()["code"] == "webhook_url_forbidden"
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/", "not a url", "https://exa mple.com/", "https://\x00/"])
def test_urls_that_are_not_http_are_invalid_input(api_client_for, url):
    response = register(api_client_for(OrganisationFactory()), url)

    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["pointer"] == "/url"
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/hook", "https://127.0.0.1/", "https://localhost/", "https://[::1]/"]
)
def test_loopback_is_refused_unless_the_setting_allows_it(api_client_for, settings, url):
    settings.WEBHOOKS_ALLOW_LOOPBACK = False

    response = register(api_client_for(OrganisationFactory()), url)

    assert response.status_code == 422 and response.json()["code"] == "webhook_url_forbidden"


def test_a_url_that_became_private_is_refused_at_delivery(receiver, settings, queued):
    organisation = OrganisationFactory()
    webhook_endpoint_create(organisation=organisation, url=receiver.url(), event_types=["*"])
    emit(organisation)
    settings.WEBHOOKS_ALLOW_LOOPBACK = False  # as if its host now resolved to a refused address

    assert webhook_delivery_attempt(delivery_id=queued[0]) == "pending"

    (attempt,) = WebhookAttempt.objects.all()
    assert attempt.status_code is None and attempt.error.startswith("url_forbidden")
    assert receiver.received == []


def test_a_redirect_to_a_private_address_is_refused_and_a_public_hop_followed(receiver, queued):
    organisation = OrganisationFactory()
    webhook_endpoint_create(organisation=organisation, url=receiver.url("/moved"), event_types=["*"])
    receiver.redirects["/moved"] = (302, "http://169.254.169.254/latest/meta-data/")
    emit(organisation)

    started = time.monotonic()
    assert webhook_delivery_attempt(delivery_id=queued[0]) == "pending"
    assert time.monotonic() - started < 5  # refused before connecting, not timed out

    (attempt,) = WebhookAttempt.objects.all()
    assert attempt.status_code is None and "169.254.169.254" in attempt.error
    assert [r.path for r in receiver.received] == ["/moved"]

    receiver.redirects["/moved"] = (307, "/hook")  # a redirect within the allowed host is followed
    make_due()
    assert webhook_delivery_attempt(delivery_id=queued[0]) == "succeeded"
    assert [r.path for r in receiver.received] == ["/moved", "/moved", "/hook"]
    assert WebhookAttempt.objects.order_by("pk").last().url == receiver.url("/hook")


# --- secrets ------------------------------------------------------------------------------------


def test_a_rolled_secret_signs_alongside_the_previous_one_for_a_day(receiver, api_client_for, queued):
    organisation = OrganisationFactory()
    api = api_client_for(organisation)
    created = register(api, receiver.url()).json()
    rolled = api.post(f"/api/v1/webhook-endpoints/{created['id']}/roll-secret/")
    assert rolled.status_code == 200, rolled.content
    old, new = created["secret"], rolled.json()["secret"]
    assert old != new and rolled.json()["previous_secret_expires_at"] is not None
    assert "secret" not in api.get(f"/api/v1/webhook-endpoints/{created['id']}/").json()
    receiver.secrets = [old, new]

    emit(organisation)
    webhook_delivery_attempt(delivery_id=queued[-1])

    (request,) = receiver.received
    assert len(request.signatures) == 2 and request.verified_with == [old, new]

    WebhookEndpoint.objects.update(previous_secret_expires_at=timezone.now() - timedelta(seconds=1))
    emit(organisation)
    webhook_delivery_attempt(delivery_id=queued[-1])

    assert len(receiver.received[-1].signatures) == 1 and receiver.received[-1].verified_with == [new]


def test_the_secret_is_stored_encrypted(receiver):
    endpoint, secret = webhook_endpoint_create(
        organisation=OrganisationFactory(), url=receiver.url(), event_types=["*"]
    )
    assert (
        secret
        not in WebhookEndpoint.objects.filter(pk=endpoint.pk).values_list("secret_encrypted", flat=True)[0]
    )


def test_verify_signature():
    body = b'{"id":"evt"}'
    now = int(time.time())
    header = signature_header(body, ["whsec_a", "whsec_b"], now)

    assert verify_signature(body, header, "whsec_b") == now
    assert (
        header
        == f"t={now},v1={compute_signature(body, 'whsec_a', now)},v1={compute_signature(body, 'whsec_b', now)}"
    )
    for payload, value, secret in [
        (b'{"id":"evu"}', header, "whsec_a"),  # tampered body
        (body, header, "whsec_c"),  # another secret
        (body, signature_header(body, ["whsec_a"], now - 301), "whsec_a"),  # too old
        (body, "v1=abc", "whsec_a"),  # no timestamp
        (body, None, "whsec_a"),
    ]:
        with pytest.raises(SignatureVerificationError):
            verify_signature(payload, value, secret)


# --- disabling ----------------------------------------------------------------------------------


def test_an_endpoint_failing_for_days_is_disabled_and_its_organisation_emailed(
    receiver, api_client_for, queued
):
    organisation = OrganisationFactory(contact_email="tech@annonceur.example")
    api = api_client_for(organisation)
    endpoint_id = register(api, receiver.url()).json()["id"]
    receiver.answers = [500] * 20
    emit(organisation)
    webhook_delivery_attempt(delivery_id=queued[-1])
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.status == "enabled" and endpoint.failing_since is not None and mail.outbox == []

    WebhookEndpoint.objects.update(failing_since=timezone.now() - timedelta(days=3, minutes=1))
    emit(organisation)
    webhook_delivery_attempt(delivery_id=queued[-1])

    endpoint.refresh_from_db()
    assert endpoint.status == "disabled" and "failed for 3 days" in endpoint.disabled_reason
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"failed"}
    (message,) = mail.outbox
    assert message.to == ["tech@annonceur.example"] and endpoint_id in message.body
    emit(organisation)  # a disabled endpoint gets no delivery
    assert WebhookDelivery.objects.count() == 2

    enabled = api.post(f"/api/v1/webhook-endpoints/{endpoint_id}/enable/")
    assert enabled.status_code == 200 and enabled.json()["status"] == "enabled"
    assert enabled.json()["failing_since"] is None and enabled.json()["disabled_reason"] == ""


# --- API ----------------------------------------------------------------------------------------


def test_redelivery_on_request_posts_the_event_again(receiver, api_client_for, queued):
    organisation = OrganisationFactory()
    api = api_client_for(organisation)
    register(api, receiver.url())
    (event,) = emit(organisation)
    webhook_delivery_attempt(delivery_id=queued[-1])
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "succeeded"

    response = api.post(f"/api/v1/webhook-deliveries/{delivery.public_id}/redeliver/")

    assert response.status_code == 202, response.content
    assert response.json()["status"] == "pending"
    assert webhook_delivery_attempt(delivery_id=queued[-1]) == "succeeded"
    assert receiver.delivered_event_ids() == [str(event.public_id)] * 2
    assert api.get(f"/api/v1/webhook-deliveries/{delivery.public_id}/").json()["attempt_count"] == 2


def test_endpoints_events_and_deliveries_of_another_organisation_answer_404(receiver, api_client_for):
    owner, other = OrganisationFactory(), OrganisationFactory()
    owner_api, other_api = api_client_for(owner), api_client_for(other)
    endpoint_id = register(owner_api, receiver.url()).json()["id"]
    (event,) = emit(owner)
    delivery = WebhookDelivery.objects.get()

    for method, path in [
        ("get", f"/api/v1/webhook-endpoints/{endpoint_id}/"),
        ("patch", f"/api/v1/webhook-endpoints/{endpoint_id}/"),
        ("delete", f"/api/v1/webhook-endpoints/{endpoint_id}/"),
        ("post", f"/api/v1/webhook-endpoints/{endpoint_id}/roll-secret/"),
        ("post", f"/api/v1/webhook-endpoints/{endpoint_id}/enable/"),
        ("post", f"/api/v1/webhook-endpoints/{endpoint_id}/disable/"),
        ("get", f"/api/v1/webhook-endpoints/{endpoint_id}/deliveries/"),
        ("get", f"/api/v1/webhook-events/{event.public_id}/"),
        ("get", f"/api/v1/webhook-events/{event.public_id}/deliveries/"),
        ("get", f"/api/v1/webhook-deliveries/{delivery.public_id}/"),
        ("post", f"/api/v1/webhook-deliveries/{delivery.public_id}/redeliver/"),
    ]:
        response = getattr(other_api, method)(path, {"description": "x"}, format="json")
        assert response.status_code == 404, (method, path, response.status_code)
    assert other_api.get("/api/v1/webhook-endpoints/").json()["results"] == []
    assert other_api.get("/api/v1/webhook-events/").json()["results"] == []
    assert WebhookEndpoint.objects.get().description == ""


def test_endpoints_are_listed_changed_and_deleted(receiver, api_client_for):
    api = api_client_for(OrganisationFactory())
    endpoint_id = register(api, receiver.url(), ["bid.won"]).json()["id"]

    changed = api.patch(
        f"/api/v1/webhook-endpoints/{endpoint_id}/",
        {"event_types": ["bid.lost", "bid.won", "bid.lost"], "description": "CRM"},
        format="json",
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["event_types"] == ["bid.lost", "bid.won"] and changed.json()["description"] == "CRM"
    refused = api.patch(
        f"/api/v1/webhook-endpoints/{endpoint_id}/", {"url": "https://10.1.2.3/"}, format="json"
    )
    assert refused.status_code == 422 and refused.json()["code"] == "webhook_url_forbidden"
    unknown = api.patch(
        f"/api/v1/webhook-endpoints/{endpoint_id}/", {"event_types": ["bid.eaten"]}, format="json"
    )
    assert unknown.status_code == 400
    (listed,) = api.get("/api/v1/webhook-endpoints/").json()["results"]
    assert listed["id"] == endpoint_id and "secret" not in listed

    assert api.delete(f"/api/v1/webhook-endpoints/{endpoint_id}/").status_code == 204
    assert not WebhookEndpoint.objects.exists()


def test_events_are_listed_newest_first_with_a_type_filter(receiver, api_client_for):
    organisation = OrganisationFactory()
    api = api_client_for(organisation)
    register(api, receiver.url())
    first = emit(organisation, event_type="bid.won")[0]
    second = emit(organisation, event_type="bid.lost")[0]

    listed = api.get("/api/v1/webhook-events/").json()["results"]
    assert [e["id"] for e in listed] == [str(second.public_id), str(first.public_id)]
    assert listed[0]["payload"]["id"] == str(second.public_id)
    only = api.get("/api/v1/webhook-events/?type=bid.won").json()["results"]
    assert [e["id"] for e in only] == [str(first.public_id)]
    assert api.get("/api/v1/webhook-events/?type=nope").status_code == 400


def test_moderators_see_endpoints_and_deliveries_read_only_never_the_secret(
    receiver, moderator_client, queued
):
    organisation = OrganisationFactory()
    endpoint, secret = webhook_endpoint_create(
        organisation=organisation, url=receiver.url(), event_types=["*"]
    )
    emit(organisation)
    webhook_delivery_attempt(delivery_id=queued[-1])
    delivery = WebhookDelivery.objects.get()

    for url in [
        "/admin/marketplace/webhookendpoint/",
        f"/admin/marketplace/webhookendpoint/{endpoint.pk}/change/",
        "/admin/marketplace/webhookdelivery/",
        f"/admin/marketplace/webhookdelivery/{delivery.pk}/change/",
    ]:
        response = moderator_client.get(url)
        assert response.status_code == 200, url
        body = response.content.decode()
        assert secret not in body and endpoint.secret_encrypted not in body
    assert "HTTP" not in WebhookAttempt.objects.get().error  # a 200: no error logged

"""Reports (issue 14): a seller reports a buyer organisation from "who bought my data", a buyer
reports a listing through the API; each keeps a snapshot of what the reporter saw. Moderators
find open reports in a queue and resolve or dismiss them with a note, audited."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from core.models import AuditEntry
from marketplace.models import Report
from tests.factories import PayingOrganisationFactory, SellerFactory
from tests.marketplace.conftest import active_listing
from tests.marketplace.test_api_delivery import (  # noqa: F401  (queued, small_k: autouse fixtures)
    audience_sellers,
    bundle_trade,
    deliver,
    queued,
    small_k,
)

pytestmark = pytest.mark.django_db(transaction=True)
REPORTS = "/admin/marketplace/report/"


@pytest.fixture
def sold():
    """(seller, buyer): the buyer holds a licence on the seller's data."""
    buyer = PayingOrganisationFactory()
    seller, _other = audience_sellers(2)
    deliver(bundle_trade(buyer, records=2))
    return seller, buyer


# --- The seller's form -----------------------------------------------------------------------------


def test_who_bought_my_data_links_each_buyer_to_a_report_form(client, sold):
    seller, buyer = sold
    client.force_login(seller)
    url = reverse("seller-report-organisation", args=[buyer.pk])

    page = client.get(reverse("seller-sales")).content.decode()
    assert f'href="{url}"' in page

    form = client.get(url, headers={"Accept-Language": "fr"})
    assert form.status_code == 200
    text = form.content.decode()
    assert f"Signaler {buyer.legal_name}" in text and "Envoyer le signalement" in text
    assert 'type="radio"' in text and "inaccurate_listing" not in text  # buyers' reason, not here


def test_a_seller_reports_a_buyer_with_a_snapshot_of_what_it_holds(client, sold):
    seller, buyer = sold
    client.force_login(seller)

    sent = client.post(
        reverse("seller-report-organisation", args=[buyer.pk]),
        {"reason": "unwanted_contact", "details": "They phoned me at home."},
    )

    assert sent.status_code == 302 and sent.url == reverse("seller-sales")
    report = Report.objects.get()
    assert (report.reporter, report.organisation, report.listing) == (seller, buyer, None)
    assert (report.reason, report.details, report.status) == (
        "unwanted_contact",
        "They phoned me at home.",
        "open",
    )
    (grant,) = report.context["access_grants"]
    assert grant["status"] == "active" and grant["purpose"] == "targeted_advertising"
    assert len(report.context["trades"]) == 1 and report.context["deletion_notices"] == []


def test_a_bad_reason_or_an_unknown_organisation_stores_nothing(client, sold):
    seller, buyer = sold
    client.force_login(seller)

    bad = client.post(reverse("seller-report-organisation", args=[buyer.pk]), {"reason": "nonsense"})
    stranger = PayingOrganisationFactory()  # never bought this seller's data
    unknown = client.post(reverse("seller-report-organisation", args=[stranger.pk]), {"reason": "other"})
    other_seller = SellerFactory()
    client.force_login(other_seller)
    not_theirs = client.get(reverse("seller-report-organisation", args=[buyer.pk]))

    assert bad.status_code == 400 and unknown.status_code == 404 and not_theirs.status_code == 404
    assert not Report.objects.exists()


# --- The buyer's API -------------------------------------------------------------------------------


def test_a_buyer_reports_a_listing(api_client_for):
    buyer = PayingOrganisationFactory()
    listing = active_listing()
    api = api_client_for(buyer)

    created = api.post(
        f"/api/v1/listings/{listing.public_id}/reports/",
        {"reason": "inaccurate_listing", "details": "Location data for a seller abroad."},
        format="json",
        headers={"Idempotency-Key": "report-1"},
    )
    replayed = api.post(
        f"/api/v1/listings/{listing.public_id}/reports/",
        {"reason": "inaccurate_listing", "details": "Location data for a seller abroad."},
        format="json",
        headers={"Idempotency-Key": "report-1"},
    )

    assert created.status_code == 201, created.content
    report = Report.objects.get()
    assert created.json() == {
        "id": str(report.public_id),
        "listing": str(listing.public_id),
        "reason": "inaccurate_listing",
        "details": "Location data for a seller abroad.",
        "status": "open",
        "created_at": created.json()["created_at"],
    }
    assert replayed.status_code == 201 and replayed.headers["Idempotent-Replayed"] == "true"
    assert (report.reporter_organisation, report.organisation) == (buyer, None)
    assert report.context["listing"]["status"] == "active"
    assert report.context["listing"]["floor_price_cents"] == listing.floor_price_cents


def test_reporting_an_unknown_listing_is_404_and_a_bad_reason_422(api_client_for):
    api = api_client_for(PayingOrganisationFactory())
    listing = active_listing()

    unknown = api.post(f"/api/v1/listings/{uuid.uuid4()}/reports/", {"reason": "other"}, format="json")
    bad = api.post(f"/api/v1/listings/{listing.public_id}/reports/", {"reason": "boring"}, format="json")

    assert unknown.status_code == 404 and unknown.json()["code"] == "not_found"
    assert bad.status_code == 400 and bad.json()["errors"][0]["pointer"] == "/reason"
    assert bad.json()["errors"][0]["pointer"] == "/reason"
    assert not Report.objects.exists()


# --- Moderators ------------------------------------------------------------------------------------


def _report(listing=None) -> Report:
    return Report.objects.create(
        reporter_organisation=PayingOrganisationFactory(), listing=listing or active_listing(), reason="other"
    )


def test_open_reports_are_a_queue_and_are_resolved_or_dismissed_with_a_note(moderator_client, moderator):
    first, second = _report(), _report()

    index = moderator_client.get("/admin/").content.decode()
    assert "queue-reports" in index and f"{REPORTS}?status__exact=open" in index
    assert moderator_client.get(REPORTS, {"status__exact": "open", "q": "x"}).status_code == 200
    assert moderator_client.get(f"{REPORTS}{first.pk}/change/").status_code == 200

    moderator_client.post(
        REPORTS,
        {"action": "resolve", "_selected_action": [first.pk], "apply": "1", "reason": "Listing suspended"},
    )
    moderator_client.post(
        REPORTS,
        {"action": "dismiss", "_selected_action": [second.pk], "apply": "1", "reason": "Not a problem"},
    )

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.resolution_note, first.resolved_by) == (
        "resolved",
        "Listing suspended",
        moderator,
    )
    assert (second.status, second.resolution_note) == ("dismissed", "Not a problem")
    assert first.events.get().to_status == "resolved"
    entry = AuditEntry.objects.get(action="report.resolved")
    assert (entry.actor, entry.reason) == (moderator, "Listing suspended")
    assert AuditEntry.objects.filter(action="report.dismissed").count() == 1


def test_closing_needs_a_note_and_an_open_report(moderator_client):
    report = _report()

    form = moderator_client.post(
        REPORTS, {"action": "resolve", "_selected_action": [report.pk], "apply": "1", "reason": ""}
    )
    report.refresh_from_db()
    assert form.status_code == 200 and report.status == "open"

    moderator_client.post(
        REPORTS, {"action": "dismiss", "_selected_action": [report.pk], "apply": "1", "reason": "a"}
    )
    again = moderator_client.post(
        REPORTS,
        {"action": "resolve", "_selected_action": [report.pk], "apply": "1", "reason": "b"},
        follow=True,
    )
    report.refresh_from_db()
    assert report.status == "dismissed" and "already dismissed" in again.content.decode()
    assert AuditEntry.objects.filter(target_type="marketplace.report").count() == 1

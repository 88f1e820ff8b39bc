"""`manage.py seed_demo` builds a living market against the real Stripe sandboxes, and a second
run adds nothing.

The sandboxes are started as the payments tests start them (tests/payments/conftest.py); tasks
queued on commit are not run (the seed settles synchronously, as `make run` has no worker yet).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db.models import Count
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import BuyerOrganisation, User
from listings.models import Listing
from marketplace.models import AccessLog, DeletionNotice, Trade
from payments.models import Payout
from tests.payments.conftest import stripe_sandbox, stripe_settings  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)


def snapshot() -> dict[str, object]:
    """Every table's row count, and the statuses that a run could move."""
    counts: dict[str, object] = {
        model._meta.label: model.objects.count() for model in apps.get_models() if model._meta.managed
    }
    for model in (Listing, Trade, Payout, BuyerOrganisation):
        field = "verification_status" if model is BuyerOrganisation else "status"
        counts[f"{model._meta.label}:{field}"] = sorted(
            model.objects.values_list(field).annotate(n=Count("pk")).values_list(field, "n")
        )
    return counts


def test_seed_demo_builds_a_market_and_a_second_run_changes_nothing(settings, tmp_path, capsys):
    # given: an empty database, the sandboxes up, the run dir in tmp_path
    settings.RUN_DIR = tmp_path

    # when
    call_command("seed_demo")
    first = snapshot()
    output = capsys.readouterr().out

    # then: people
    assert User.objects.filter(role=User.Role.SELLER).count() == 301
    assert "seller@courtier.localhost" in output and "moderator-demo" in output
    # staff: not superusers, in their groups, with the second factor the output prints
    assert "demo-moderator-1" in output and "COURTIERDEMOMODERATORSECRETKEY22" in output
    staff = {user.email: user for user in User.objects.filter(is_staff=True)}
    assert sorted(staff) == ["dpo@courtier.localhost", "moderator@courtier.localhost"]
    assert not any(user.is_superuser for user in staff.values())
    assert [g.name for g in staff["moderator@courtier.localhost"].groups.all()] == ["Moderators"]
    assert [g.name for g in staff["dpo@courtier.localhost"].groups.all()] == ["Data protection officers"]
    statuses = dict(BuyerOrganisation.objects.values_list("legal_name", "verification_status"))
    assert statuses == {"Annonceur Démo SAS": "verified", "Régie Nouvelle SARL": "pending"}
    # the market
    now = timezone.now()
    active = Listing.objects.filter(status=Listing.Status.ACTIVE)
    assert active.count() >= 50
    assert active.filter(pricing_mode=Listing.PricingMode.FIXED).exists()
    closing_soon = active.filter(
        pricing_mode=Listing.PricingMode.AUCTION, auction_ends_at__lte=now + timedelta(minutes=30)
    )
    assert closing_soon.count() == 5
    assert closing_soon.filter(bids__status="open").distinct().count() == 3
    assert Listing.objects.filter(status=Listing.Status.PENDING_REVIEW).count() == 4
    assert Trade.objects.filter(status=Trade.Status.SETTLED).count() >= 10
    assert not Trade.objects.exclude(status=Trade.Status.SETTLED).exists()
    assert Trade.objects.filter(listing=None, status=Trade.Status.SETTLED).count() == 1  # audience
    assert AccessLog.objects.count() >= 10
    assert DeletionNotice.objects.filter(status=DeletionNotice.Status.SENT).count() == 1
    payouts = dict(Payout.objects.values_list("status").annotate(n=Count("pk")).values_list("status", "n"))
    assert payouts == {"paid": 1, "in_transit": 1, "pending": 1}
    # the demo seller: verified badge, sales, paid out
    demo = User.objects.get(email="seller@courtier.localhost")
    assert demo.email_verified_at and demo.phone_verified_at
    assert Trade.objects.filter(listing__seller=demo, status=Trade.Status.SETTLED).count() == 2
    assert Payout.objects.get(seller=demo).status == Payout.Status.PAID

    # the demo API key works, and a common segment exceeds K through the buyer API
    key = (tmp_path / "demo-api-key.txt").read_text().strip()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    organisation = api.get("/api/v1/organisation/")
    assert organisation.status_code == 200
    assert organisation.json()["verification_status"] == "verified"
    browse = api.get("/api/v1/listings/")
    assert browse.status_code == 200 and browse.json()["results"]
    size = api.post(
        "/api/v1/segments/size/",
        {"categories": ["demographics", "location"], "purpose": "targeted_advertising"},
        format="json",
    )
    assert size.status_code == 200, size.json()
    assert size.json()["count"] > settings.SEGMENT_MIN_SIZE
    pending_key = (tmp_path / "demo-api-key-pending.txt").read_text().strip()
    pending = APIClient()
    pending.credentials(HTTP_AUTHORIZATION=f"Api-Key {pending_key}")
    assert pending.get("/api/v1/organisation/").json()["verification_status"] == "pending"

    # when: a second run
    call_command("seed_demo")

    # then: nothing changed, and the logins are printed again
    assert snapshot() == first
    assert "seller@courtier.localhost" in capsys.readouterr().out
    assert (tmp_path / "demo-api-key.txt").read_text().strip() == key


def test_seed_demo_saves_the_card_again_when_stripe_lost_the_customer(settings, tmp_path, stripe_sandbox):  # noqa: F811
    # given: a seeded market, then the sandbox forgets everything (a fresh run dir)
    settings.RUN_DIR = tmp_path
    call_command("seed_demo", sellers=40)
    from payments.models import StripeCustomer

    lost = StripeCustomer.objects.get().stripe_customer_id
    stripe_sandbox.reset()

    # when
    call_command("seed_demo", sellers=40)

    # then: a new customer at Stripe with the card as its default
    from payments.stripe_client import client

    customer = StripeCustomer.objects.get()
    assert customer.stripe_customer_id != lost
    assert customer.default_payment_method_id
    remote = client().v1.customers.retrieve(customer.stripe_customer_id)
    assert remote["invoice_settings"]["default_payment_method"] == customer.default_payment_method_id

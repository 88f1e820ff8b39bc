"""marketplace/invariants.py: the market's invariants hold after a revocation reaches buyers, and
each rule reports the corruption it exists for (written here behind the services' backs)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.utils import timezone

from accounts import services as account_services
from marketplace import invariants
from marketplace.models import AccessGrant, AccessLog, DeletionNotice, Trade, TradeEvent
from tests.invariants import assert_invariants
from tests.marketplace.test_api_delivery import consent_of, queued, small_k  # noqa: F401  (autouse fixtures)
from tests.marketplace.test_revocation import Market

pytestmark = pytest.mark.django_db(transaction=True)


def rules(**options) -> list[str]:
    return sorted({v.rule for v in invariants.violations(**options)})


@pytest.fixture
def market() -> Market:
    market = Market()
    account_services.consent_revoke(seller=market.seller, grant_id=consent_of(market.seller, "location").pk)
    return market


def test_a_market_after_a_revocation_keeps_every_invariant(market, capsys):
    assert_invariants()
    call_command("check_invariants")
    assert capsys.readouterr().out.strip().endswith("invariant_violations=0")


def test_a_grant_that_started_before_its_consent_is_reported(market):
    grant = market.grants_of(market.bystander)[0]
    AccessGrant.objects.filter(pk=grant.pk).update(starts_at=grant.starts_at - timedelta(days=400))
    assert rules() == ["grant_without_consent"]


def test_a_read_without_consent_is_reported(market):
    revoked = market.grants_of(market.seller)[0]
    AccessLog.objects.create(grant=revoked, read_at=timezone.now() + timedelta(seconds=1))
    assert rules() == ["read_without_consent"]


def test_a_revocation_without_its_notice_and_an_active_grant_past_consent_are_reported(market):
    DeletionNotice.objects.filter(organisation=market.other_holder).delete()
    assert rules() == ["notice_missing"]

    still = market.grants_of(market.seller)[0]
    AccessGrant.objects.filter(pk=still.pk).update(status="active", revoked_at=None)
    assert "grant_outlived_consent" in rules()


def test_a_trade_settled_twice_and_work_left_unfinished_are_reported(market):
    trade = Trade.objects.filter(status=Trade.Status.DELIVERED).first()
    TradeEvent.objects.bulk_create(
        TradeEvent(trade=trade, from_status="delivered", to_status="settled") for _ in range(2)
    )
    assert rules() == ["settled_twice"]
    # the market's pending purchases are young: only a deadline of zero calls them late
    assert rules(deadline=timedelta(0)) == ["not_final", "settled_twice"]


def test_a_trade_settled_again_when_its_dispute_is_won_is_settled_once(market):
    """Found by the market model (tests/integration/test_market_model.py): a won dispute moves a
    trade disputed → settled, which is not a second settlement."""
    trade = Trade.objects.filter(status=Trade.Status.DELIVERED).first()
    TradeEvent.objects.bulk_create(
        TradeEvent(trade=trade, from_status=before, to_status=after)
        for before, after in (("delivered", "settled"), ("settled", "disputed"), ("disputed", "settled"))
    )
    assert "settled_twice" not in rules()

    TradeEvent.objects.create(trade=trade, from_status="delivered", to_status="settled")
    assert "settled_twice" in rules()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="DDL in a transaction: PostgreSQL")
def test_history_without_its_append_only_trigger_is_reported(market):
    with pytest.raises(RuntimeError), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER consentevent_append_only ON accounts_consentevent")
        assert rules() == ["history_mutable"]
        raise RuntimeError("roll the DROP back")
    assert rules() == []


def test_the_command_lists_each_violation_and_fails(market, capsys):
    AccessLog.objects.create(
        grant=market.grants_of(market.seller)[0], read_at=timezone.now() + timedelta(seconds=1)
    )
    with pytest.raises(CommandError):
        call_command("check_invariants")
    out = capsys.readouterr().out
    assert "read_without_consent: access grant" in out and out.strip().endswith("invariant_violations=1")

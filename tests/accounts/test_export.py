"""GDPR export (Art. 15 and 20): every app's section, the coverage of every model that refers to
a seller, the My data page in French and English, the JSON, erased accounts, query counts.

Trades are written as rows (the settlement path and its Stripe sandbox have their own tests):
what matters here is that whatever settlement leaves behind reaches the seller's export.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.apps import apps
from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import formats, timezone, translation

from accounts import hooks, selectors, services, taxonomy
from accounts.models import User
from marketplace.models import AccessGrant, AccessLog, Bid, DeletionNotice, Trade, TradeLine
from payments import ledger
from payments.ledger import Line
from payments.models import ConnectAccount, LedgerAccount, Payment, Payout, PayoutEvent, SettlementShare
from tests.factories import PayingOrganisationFactory
from tests.listings.conftest import make_seller
from tests.marketplace.conftest import active_listing

PROJECT_APPS = ("core", "accounts", "listings", "marketplace", "payments")

# Foreign keys to User that name a moderator, a buyer's member or a staff actor, never a seller:
# the walk does not follow them.
NOT_SELLER_EDGES = {
    ("accounts", "BuyerOrganisation", "verification_decided_by"),  # the moderator who decided
    ("accounts", "OrganisationVerificationEvent", "actor"),  # the moderator who decided
    ("accounts", "DeletionDutyClearance", "actor"),  # the moderator who lifted a bidding block
    ("accounts", "ApiKey", "created_by"),  # the buyer's member who made the key
    ("listings", "ListingEvent", "actor"),  # who moved the listing (covered through Listing)
    ("payments", "ReconciliationIssue", "resolved_by"),  # the staff member who resolved it
    ("accounts", "User", "suspended_by"),  # the moderator who suspended the account
    ("accounts", "BuyerOrganisation", "suspended_by"),  # the moderator who suspended it
    ("marketplace", "Report", "resolved_by"),  # the moderator who decided
}

# Models that refer to a seller but are not exported, each with its reason.
EXCLUDED = {
    "accounts.SellerDataKey": "the seller's encryption key: a credential; the values it opens are exported decrypted",
    "marketplace.Bid": "buyers' sealed offers on the seller's listing; what was sold is in sales and recipients",
    "marketplace.BidEvent": "status history of those buyers' offers",
    "marketplace.TradeEvent": "trade-level status history shared by every seller of an audience trade; "
    "the seller's line and the trade status are in sales",
    "payments.PayoutReversal": "a Stripe call record (idempotency keys, ids); its amount is the payout's "
    "amount_reversed",
    "payments.PayoutReversalEvent": "status history of those Stripe call records",
    "marketplace.TradeLineEvent": "status history of the seller's trade lines; each line's status is in sales",
    "marketplace.AccessGrantEvent": "status history of access grants; each grant's status and revocation "
    "are in recipients",
    "marketplace.DeletionNoticeEvent": "status history of deletion notices; each notice's status and "
    "acknowledgement are in deletion_notices",
    "marketplace.ReportEvent": "status history of the seller's reports; each report's status and "
    "resolution are in reports",
    "core.AuditEntry": "the platform's append-only accountability record of who changed what; the "
    "seller's consents (with receipts), listings, sales and payouts it follows are in the export",
}


def _seller_referring_models() -> set[str]:
    """Every concrete model of a project app with a foreign key chain to the User model."""
    user = apps.get_model(settings.AUTH_USER_MODEL)
    candidates = [
        m for app in PROJECT_APPS for m in apps.get_app_config(app).get_models() if not m._meta.proxy
    ]
    found: set[type[models.Model]] = {user}
    grew = True
    while grew:
        grew = False
        for model in candidates:
            if model in found:
                continue
            for field in model._meta.get_fields():
                if not (field.is_relation and field.concrete and (field.many_to_one or field.one_to_one)):
                    continue
                if (model._meta.app_label, model.__name__, field.name) in NOT_SELLER_EDGES:
                    continue
                if field.related_model in found:
                    found.add(model)
                    grew = True
                    break
    return {m._meta.label for m in found}


def _covered_models() -> set[str]:
    covered = set(selectors.SELLER_EXPORT_COVERS)
    for name, section in hooks.export_sections().items():
        covers = getattr(section, "covers", None)
        assert covers, f"export section {name!r} declares no `covers`"
        covered.update(covers)
    return covered


def test_every_model_that_refers_to_a_seller_is_exported_or_excluded_with_a_reason():
    referring = _seller_referring_models()
    # the walk sees what it must (guards the walk itself)
    assert {
        "accounts.SellerProfile",
        "marketplace.AccessLog",
        "payments.LedgerEntry",
        "payments.PayoutEvent",
    } <= (referring)
    missing = referring - _covered_models() - set(EXCLUDED)
    assert not missing, f"not in the GDPR export nor excluded with a reason: {sorted(missing)}"
    assert not set(EXCLUDED) & _covered_models()
    assert all(reason for reason in EXCLUDED.values())
    stale = set(EXCLUDED) - referring
    assert not stale, f"excluded models that no longer refer to a seller: {sorted(stale)}"


# ---------------------------------------------------------------------------------------------
# A seller who sold, was read, revoked, earned and was paid
# ---------------------------------------------------------------------------------------------


def sell(seller: User, organisation, *, price: int = 294, reads: int = 1) -> TradeLine:
    """A settled fixed-price sale of the seller's listing, delivered, read, credited."""
    listing = active_listing(pricing_mode="fixed", floor=price, seller=seller)
    now = timezone.now()
    bid = Bid.objects.create(
        organisation=organisation,
        kind=Bid.Kind.BUY_NOW,
        listing=listing,
        amount_cents=price,
        purpose="targeted_advertising",
        licence_days=30,
        status=Bid.Status.WON,
    )
    trade = Trade.objects.create(
        organisation=organisation,
        bid=bid,
        listing=listing,
        purpose="targeted_advertising",
        licence_days=30,
        price_per_record_cents=price,
        status=Trade.Status.SETTLED,
        charged_cents=price,
        fee_bps=2000,
    )
    mask = taxonomy.mask_of(["demographics", "location"], taxonomy.CATEGORY_CODES)
    line = TradeLine.objects.create(
        trade=trade, seller=seller, categories_mask=mask, price_cents=price, status=TradeLine.Status.DELIVERED
    )
    grant = AccessGrant.objects.create(
        organisation=organisation,
        seller=seller,
        trade_line=line,
        categories_mask=mask,
        purpose="targeted_advertising",
        starts_at=now,
        ends_at=now + timedelta(days=30),
    )
    AccessLog.objects.bulk_create(AccessLog(grant=grant, read_at=now) for _ in range(reads))
    payment = Payment.objects.create(
        reference=f"trade:{trade.pk}",
        organisation=organisation,
        customer=organisation.stripe_customer,
        amount=price,
        payment_method_id="pm_card_visa",
    )
    fee = price // 5
    SettlementShare.objects.create(
        payment=payment, seller=seller, gross=price, fee=fee, net=price - fee, currency="EUR"
    )
    ledger.ledger_post(
        kind="settlement",
        reference=f"trade:{trade.pk}",
        idempotency_key=f"test-settle:{trade.pk}",
        lines=[
            Line(ledger.ledger_account(LedgerAccount.Purpose.BUYER_CHARGES), price - fee),
            Line(
                ledger.ledger_account(LedgerAccount.Purpose.SELLER_PAYABLE, seller_id=seller.pk),
                -(price - fee),
            ),
        ],
    )
    return line


def notify_deletion(seller: User, organisation) -> DeletionNotice:
    now = timezone.now()
    return DeletionNotice.objects.create(
        organisation=organisation,
        seller=seller,
        categories_mask=taxonomy.mask_of(["location"], taxonomy.CATEGORY_CODES),
        reason="revoked",
        deadline=now + timedelta(days=30),
        status=DeletionNotice.Status.ACKNOWLEDGED,
        acknowledged_at=now,
    )


def pay_out(seller: User, amount: int) -> Payout:
    account = ConnectAccount.objects.create(
        seller=seller,
        stripe_account_id=f"acct_test_{seller.pk}",
        payouts_enabled=True,
        details_submitted=True,
    )
    payout = Payout.objects.create(
        seller=seller,
        connect_account=account,
        amount=amount,
        status=Payout.Status.PAID,
        transfer_id=f"tr_test_{seller.pk}",
        transferred_at=timezone.now(),
    )
    PayoutEvent.objects.create(payout=payout, from_status="in_transit", to_status="paid")
    return payout


@pytest.fixture
def trader(db):
    seller = make_seller()
    buyer = PayingOrganisationFactory(legal_name="Régie Exemple SAS")
    line = sell(seller, buyer, price=294, reads=2)
    notice = notify_deletion(seller, buyer)
    payout = pay_out(seller, 235)
    return seller, buyer, line, notice, payout


def test_export_holds_every_section_with_codes_and_iso_timestamps(trader):
    seller, buyer, line, notice, payout = trader

    data = selectors.seller_export(seller=seller)

    (listing,) = data["listings"]
    assert listing["categories"] == ["demographics", "location"]
    assert listing["purposes"] == ["targeted_advertising"]
    assert listing["pricing_mode"] == "fixed"
    assert listing["floor_price_cents"] == 294
    assert [step["to_status"] for step in listing["history"]][-1] == "active"
    (sale,) = data["sales"]
    assert sale == {
        "trade": str(line.trade.public_id),
        "buyer": "Régie Exemple SAS",
        "purpose": "targeted_advertising",
        "categories": ["demographics", "location"],
        "licence_days": 30,
        "price_cents": 294,
        "currency": "EUR",
        "status": "delivered",
        "status_reason": "",
        "trade_status": "settled",
        "created_at": line.trade.created_at.isoformat(),
    }
    (recipient,) = data["recipients"]
    grant = line.access_grant
    assert recipient["organisation"] == "Régie Exemple SAS"
    assert recipient["categories"] == ["demographics", "location"]
    assert recipient["purpose"] == "targeted_advertising"
    assert recipient["ends_at"] == grant.ends_at.isoformat()
    assert recipient["status"] == "active"
    assert [r["organisation"] for r in data["access_log"]] == ["Régie Exemple SAS"] * 2
    assert {r["access_grant"] for r in data["access_log"]} == {str(grant.public_id)}
    (deletion,) = data["deletion_notices"]
    assert deletion["deletion_notice"] == str(notice.public_id)
    assert deletion["categories"] == ["location"]
    assert deletion["reason"] == "revoked"
    assert deletion["status"] == "acknowledged"
    assert deletion["acknowledged_at"] == notice.acknowledged_at.isoformat()
    (credit,) = data["earnings"]
    assert credit["kind"] == "settlement"
    assert credit["account"] == "seller_payable"
    assert credit["amount_cents"] == 294 - 58  # in the seller's favour
    assert data["sale_shares"] == [
        {
            "reference": f"trade:{line.trade.pk}",
            "gross_cents": 294,
            "fee_cents": 58,
            "net_cents": 236,
            "currency": "EUR",
        }
    ]
    (paid,) = data["payouts"]
    assert paid["amount_cents"] == 235
    assert paid["status"] == "paid"
    assert paid["history"][0]["to_status"] == "paid"
    assert data["payout_account"]["payouts_enabled"] is True
    assert "acct_test" not in json.dumps(data)  # Stripe's ids are technical, not exported
    json.dumps(data)  # machine-readable as it is


def test_export_of_a_seller_who_never_traded_has_empty_sections(db):
    seller = make_seller()
    data = selectors.seller_export(seller=seller)
    for name in ("listings", "sales", "recipients", "access_log", "deletion_notices", "earnings", "payouts"):
        assert data[name] == [], name
    assert data["payout_account"] is None


def test_query_count_does_not_grow_with_trades(db, django_assert_max_num_queries):
    buyer = PayingOrganisationFactory()
    one, many = make_seller(), make_seller()
    # the same kinds of rows for both (a prefetch costs a query only when there is something to
    # prefetch); only how many differs
    for seller, sales in ((one, 1), (many, 6)):
        for _ in range(sales):
            sell(seller, buyer, reads=3)
        notify_deletion(seller, buyer)
        pay_out(seller, 100)

    with django_assert_max_num_queries(40) as one_queries:
        selectors.seller_export(seller=one)
    with django_assert_max_num_queries(len(one_queries)):
        data = selectors.seller_export(seller=many)
    assert len(data["sales"]) == 6 and len(data["access_log"]) == 18


def test_export_of_an_erased_account_is_refused_with_410(db, client):
    seller = make_seller()
    services.seller_erase(seller=seller)
    seller.refresh_from_db()

    with pytest.raises(selectors.SellerErased) as refused:
        selectors.seller_export(seller=seller)
    assert refused.value.status_code == 410 and refused.value.code == "account_erased"

    # a session opened before the erasure no longer authenticates (the account is inactive)
    client.force_login(seller)
    assert client.get(reverse("seller-my-data")).status_code == 302
    assert client.get(reverse("seller-my-data-export")).status_code == 302


@pytest.mark.parametrize("language", ["fr", "en"])
def test_my_data_pages_answer_410_when_the_account_is_erased(db, client, language):
    """Whatever lets an erased account through the login (here its flag alone is set), the pages
    answer a clear 410, never a 500."""
    seller = make_seller()
    client.force_login(seller)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    User.objects.filter(pk=seller.pk).update(erased_at=timezone.now())

    page = client.get(reverse("seller-my-data"))
    download = client.get(reverse("seller-my-data-export"))

    assert page.status_code == 410
    assert 'data-error="export-unavailable"' in page.content.decode()
    assert download.status_code == 410
    assert download.json()["code"] == "account_erased"
    if language == "fr":
        assert "Ce compte a été effacé" in page.content.decode()


# ---------------------------------------------------------------------------------------------
# The page for people and the download for machines
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "expected", "absent"),
    [
        (
            "fr",
            [
                "Qui a reçu vos données",
                "Lectures de vos données",
                "Publicité ciblée",
                "Démographie",
                "Régie Exemple SAS",
                "2,94\N{NO-BREAK SPACE}€",
                "2,35\N{NO-BREAK SPACE}€",
                "Prix fixe",
                "Mode de vente",
                "Versements",
                "Versé",
                "Confirmé",  # an avis de suppression
            ],
            ["targeted_advertising", "seller_payable", "price_cents", "demographics"],
        ),
        (
            "en",
            [
                "Who received your data",
                "Reads of your data",
                "Targeted advertising",
                "Demographics (age band, gender, birth date)",
                "Régie Exemple SAS",
                "€2.94",
                "€2.35",
                "Fixed price (buy now)",
                "Payouts",
                "Paid",
            ],
            ["targeted_advertising", "seller_payable", "price_cents", "demographics"],
        ),
    ],
)
def test_my_data_page_shows_labels_money_and_dates_in_the_language(
    client, trader, language, expected, absent
):
    seller, *_ = trader
    client.force_login(seller)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language

    response = client.get(reverse("seller-my-data"))

    assert response.status_code == 200
    body = response.content.decode()
    for text in expected:
        assert text in body, text
    for text in absent:
        assert text not in body, text
    # dates through the locale, never an ISO timestamp
    _seller, _buyer, line, *_rest = trader
    with translation.override(language):
        read_on = formats.date_format(timezone.localtime(line.trade.created_at), "DATETIME_FORMAT")
    assert read_on in body
    assert not re.search(r"\d{4}-\d{2}-\d{2}T\d{2}:", body)


def test_my_data_download_stays_codes_and_iso(client, trader):
    seller, _buyer, line, *_ = trader
    client.force_login(seller)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"

    response = client.get(reverse("seller-my-data-export"))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    data = json.loads(response.content)
    assert data["sales"][0]["purpose"] == "targeted_advertising"
    assert data["sales"][0]["price_cents"] == 294
    assert data["sales"][0]["created_at"] == line.trade.created_at.isoformat()

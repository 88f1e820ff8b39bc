"""Seller web UI, consents: grant, renew, revoke, receipts; bad input changes nothing; query counts."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts import services
from accounts.models import ConsentEvent, ConsentGrant
from accounts.taxonomy import DataCategory, Purpose
from tests.factories import SellerFactory

pytestmark = pytest.mark.django_db

DEMO = DataCategory.DEMOGRAPHICS
ADS = Purpose.TARGETED_ADVERTISING


@pytest.fixture
def seller_client(client, seller):
    client.force_login(seller)
    return client


def snapshot(seller) -> tuple:
    grants = list(
        ConsentGrant.objects.filter(seller=seller).order_by("pk").values_list("pk", "status", "ended_at")
    )
    return grants, ConsentEvent.objects.filter(seller=seller).count()


def test_grant_then_listed_as_active(seller_client, seller):
    response = seller_client.post(
        reverse("seller-consent-grant"), {"category": DEMO, "purpose": ADS, "window_days": "90"}
    )

    assert response.status_code == 302
    grant = ConsentGrant.objects.get(seller=seller)
    assert (grant.category, grant.purpose, grant.window_days, grant.status) == (DEMO, ADS, 90, "active")

    page = seller_client.get(reverse("seller-consents"))
    assert [g.pk for g in page.context["active"]] == [grant.pk]
    assert page.context["active"][0].days_left == 90
    content = page.content.decode()
    assert f'data-cell="{DEMO}:{ADS}"' in content
    assert "90 days left" in content


def test_the_matrix_link_prefills_the_grant_form(seller_client):
    page = seller_client.get(
        reverse("seller-consents"), {"category": "location", "purpose": "market_research"}
    )

    assert page.context["grant_form"].initial == {"category": "location", "purpose": "market_research"}


def test_life_events_need_the_explicit_box(seller_client, seller):
    data = {"category": DataCategory.LIFE_EVENTS, "purpose": ADS, "window_days": "30"}

    refused = seller_client.post(reverse("seller-consent-grant"), data)

    assert refused.status_code == 200
    assert refused.context["grant_form"].errors["explicit_sensitive"] == [
        "Life events are sensitive: tick the box that confirms this consent."
    ]
    assert snapshot(seller) == ([], 0)

    accepted = seller_client.post(reverse("seller-consent-grant"), {**data, "explicit_sensitive": "on"})
    assert accepted.status_code == 302
    assert ConsentGrant.objects.get(seller=seller).category == DataCategory.LIFE_EVENTS


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"category": DEMO, "purpose": ADS, "window_days": "7"}, "window_days"),
        ({"category": DEMO, "purpose": ADS, "window_days": "ninety"}, "window_days"),
        ({"category": "health_records", "purpose": ADS, "window_days": "30"}, "category"),
        ({"category": DEMO, "purpose": "resale", "window_days": "30"}, "purpose"),
    ],
)
def test_bad_grant_input_is_a_form_error(seller_client, seller, data, field):
    response = seller_client.post(reverse("seller-consent-grant"), data)

    assert response.status_code == 200
    assert response.context["grant_form"].errors[field]
    assert snapshot(seller) == ([], 0)


def test_granting_twice_is_a_form_error(seller_client, seller):
    services.consent_grant(seller=seller, category=DEMO, purpose=ADS, window_days=30)
    before = snapshot(seller)

    response = seller_client.post(
        reverse("seller-consent-grant"), {"category": DEMO, "purpose": ADS, "window_days": "90"}
    )

    assert response.status_code == 200
    assert response.context["grant_form"].non_field_errors() == [
        "Consent for this category and purpose is already active: renew or revoke it."
    ]
    assert snapshot(seller) == before


def test_revoke_asks_for_confirmation_then_revokes(seller_client, seller):
    grant = services.consent_grant(seller=seller, category=DEMO, purpose=ADS, window_days=30)
    url = reverse("seller-consent-revoke", args=[grant.pk])

    confirm = seller_client.get(url)
    assert confirm.status_code == 200
    assert "Yes, revoke this consent" in confirm.content.decode()
    grant.refresh_from_db()
    assert grant.status == "active"

    assert seller_client.post(url).status_code == 302
    grant.refresh_from_db()
    assert grant.status == "revoked"
    page = seller_client.get(reverse("seller-consents"))
    assert page.context["active"] == []
    assert [e.kind for e in page.context["history"]] == ["revoked", "granted"]


def test_revoking_twice_is_an_error_and_changes_nothing(seller_client, seller):
    grant = services.consent_grant(seller=seller, category=DEMO, purpose=ADS, window_days=30)
    url = reverse("seller-consent-revoke", args=[grant.pk])
    seller_client.post(url)
    before = snapshot(seller)

    response = seller_client.post(url)

    assert response.status_code == 409
    assert "This consent was already revoked." in response.content.decode()
    assert snapshot(seller) == before


def test_renew_replaces_the_grant(seller_client, seller):
    grant = services.consent_grant(seller=seller, category=DEMO, purpose=ADS, window_days=30)

    response = seller_client.post(reverse("seller-consent-renew", args=[grant.pk]), {"window_days": "365"})

    assert response.status_code == 302
    grant.refresh_from_db()
    new = ConsentGrant.objects.get(seller=seller, status="active")
    assert (grant.status, new.renewed_from_id, new.window_days) == ("expired", grant.pk, 365)


def test_renewing_an_expired_grant_is_an_error_and_changes_nothing(seller_client, seller):
    grant = services.consent_grant(seller=seller, category=DEMO, purpose=ADS, window_days=30)
    ConsentGrant.objects.filter(pk=grant.pk).update(
        granted_at=grant.granted_at - timedelta(days=31), expires_at=grant.expires_at - timedelta(days=31)
    )
    before = snapshot(seller)

    response = seller_client.post(reverse("seller-consent-renew", args=[grant.pk]), {"window_days": "90"})

    assert response.status_code == 409
    assert response.context["error"] == "This consent has expired: grant it again."
    assert snapshot(seller) == before


def test_renewing_with_a_bad_window_changes_nothing(seller_client, seller):
    grant = services.consent_grant(seller=seller, category=DEMO, purpose=ADS, window_days=30)
    before = snapshot(seller)

    response = seller_client.post(reverse("seller-consent-renew", args=[grant.pk]), {"window_days": "7"})

    assert response.status_code == 400
    assert response.context["error"]
    assert snapshot(seller) == before


def test_another_sellers_grant_cannot_be_renewed(seller_client, seller):
    other = SellerFactory()
    grant = services.consent_grant(seller=other, category=DEMO, purpose=ADS, window_days=30)
    before = snapshot(other)

    response = seller_client.post(reverse("seller-consent-renew", args=[grant.pk]), {"window_days": "90"})

    assert response.status_code == 404
    assert snapshot(other) == before


def test_receipt_json_is_the_sellers_own_only(seller_client, seller):
    grant = services.consent_grant(seller=seller, category=DEMO, purpose=ADS, window_days=30)
    event = ConsentEvent.objects.get(grant=grant)
    other = SellerFactory()
    other_grant = services.consent_grant(seller=other, category=DEMO, purpose=ADS, window_days=30)
    other_event = ConsentEvent.objects.get(grant=other_grant)

    mine = seller_client.get(reverse("seller-consent-receipt", args=[event.receipt_id]))
    theirs = seller_client.get(reverse("seller-consent-receipt", args=[other_event.receipt_id]))

    assert mine.status_code == 200
    assert json.loads(mine.content) == event.full_receipt
    assert theirs.status_code == 404
    page = seller_client.get(reverse("seller-consents")).content.decode()
    assert reverse("seller-consent-receipt", args=[event.receipt_id]) in page


def test_posts_need_the_csrf_token(seller):
    client = Client(enforce_csrf_checks=True)
    client.force_login(seller)

    response = client.post(
        reverse("seller-consent-grant"), {"category": DEMO, "purpose": ADS, "window_days": "30"}
    )

    assert response.status_code == 403
    assert snapshot(seller) == ([], 0)


# --- Query counts do not grow with the seller's history --------------------------------------

PAIRS = list(itertools.product(DataCategory.values, Purpose.values))


def make_history(seller, grants: int) -> None:
    """`grants` grants over distinct category × purpose pairs, cycling; a pair is revoked before reuse."""
    active: dict[tuple[str, str], int] = {}
    for category, purpose in itertools.islice(itertools.cycle(PAIRS), grants):
        if (category, purpose) in active:
            services.consent_revoke(seller=seller, grant_id=active[(category, purpose)])
        grant = services.consent_grant(
            seller=seller, category=category, purpose=purpose, window_days=90, explicit_sensitive=True
        )
        active[(category, purpose)] = grant.pk
    for kind in ("new_job", "moving_house"):
        services.life_event_set(seller=seller, kind=kind, details="x")


def queries_for(client, url) -> int:
    with CaptureQueriesContext(connection) as context:
        assert client.get(url).status_code == 200
    return len(context)


@pytest.mark.parametrize("name", ["seller-dashboard", "seller-consents"])
def test_query_count_does_not_grow_with_grants_and_events(client, name):
    few, many = SellerFactory(), SellerFactory()
    make_history(few, 5)
    make_history(many, 50)
    assert ConsentGrant.objects.filter(seller=many).count() == 50

    counts = []
    for seller in (few, many):
        client.force_login(seller)
        counts.append(queries_for(client, reverse(name)))

    assert counts[0] == counts[1]


def test_dashboard_query_guard(seller_client, seller, django_assert_max_num_queries):
    make_history(seller, 50)

    # session, user, profile (badges), active consents (count, next end), listings by state, this
    # month's earnings, last sale, pending deletion notices, payout account, life events count
    with django_assert_max_num_queries(10):
        seller_client.get(reverse("seller-dashboard"))


def test_consents_query_guard(seller_client, seller, django_assert_max_num_queries):
    make_history(seller, 50)

    # session, user, active grants (matrix and list), history with its grants
    with django_assert_max_num_queries(4):
        response = seller_client.get(reverse("seller-consents"))

    assert len(response.context["active"]) == 42
    assert len(response.context["history"]) == 58  # 50 granted + 8 revoked


# --- The matrix cells: grant, renew, withdraw from the cell (htmx and plain POST) -----------

HX = {"HTTP_HX_REQUEST": "true"}
CELL = f'data-cell="{DEMO}:{ADS}"'


def cell_html(content: str, key: str = f"{DEMO}:{ADS}") -> str:
    """The <td> of one matrix cell in a page or a fragment."""
    start = content.rindex("<td", 0, content.index(f'data-cell="{key}"'))
    return content[start : content.index("</td>", start)]


def test_grant_from_the_cell_with_htmx_answers_the_live_part(seller_client, seller):
    response = seller_client.post(
        reverse("seller-consent-grant"), {"category": DEMO, "purpose": ADS, "window_days": "180"}, **HX
    )

    assert response.status_code == 200
    content = response.content.decode()
    assert content.startswith('<div id="consents-live">')
    cell = cell_html(content)
    assert 'data-state="granted"' in cell
    assert "180 days left" in cell
    assert 'role="status">Consent granted.' in cell
    assert "data-withdraw autofocus" in cell  # the focus moves to the cell's next control
    assert ConsentGrant.objects.get(seller=seller).window_days == 180
    # The page below is in the answer too, and no flash message waits for the next page.
    assert [g.category for g in response.context["active"]] == [DEMO]
    assert "Consent granted." not in seller_client.get(reverse("seller-consents")).content.decode()


def test_the_cell_form_posts_without_javascript_too(seller_client, seller):
    page = seller_client.get(reverse("seller-consents")).content.decode()
    cell = cell_html(page)
    assert f'action="{reverse("seller-consent-grant")}"' in cell
    assert 'name="csrfmiddlewaretoken"' in cell

    response = seller_client.post(
        reverse("seller-consent-grant"), {"category": DEMO, "purpose": ADS, "window_days": "30"}
    )

    assert response.status_code == 302
    cell = cell_html(seller_client.get(reverse("seller-consents")).content.decode())
    assert 'data-state="granted"' in cell
    assert "30 days left" in cell
    assert reverse("seller-consent-revoke", args=[ConsentGrant.objects.get(seller=seller).pk]) in cell


def test_a_bad_cell_grant_is_an_error_in_the_cell_and_changes_nothing(seller_client, seller):
    bad_window = seller_client.post(
        reverse("seller-consent-grant"), {"category": DEMO, "purpose": ADS, "window_days": "7"}, **HX
    )
    sensitive = seller_client.post(
        reverse("seller-consent-grant"),
        {"category": DataCategory.LIFE_EVENTS, "purpose": ADS, "window_days": "30"},
        **HX,
    )

    assert bad_window.status_code == 400
    assert 'role="alert">' in cell_html(bad_window.content.decode())
    assert sensitive.status_code == 400
    assert "tick the box" in cell_html(sensitive.content.decode(), f"{DataCategory.LIFE_EVENTS}:{ADS}")
    assert snapshot(seller) == ([], 0)


def test_renew_from_the_cell_with_htmx(seller_client, seller):
    grant = services.consent_grant(seller=seller, category=DEMO, purpose=ADS, window_days=30)
    ConsentGrant.objects.filter(pk=grant.pk).update(expires_at=grant.expires_at - timedelta(days=20))

    before = cell_html(seller_client.get(reverse("seller-consents")).content.decode())
    assert "10 days left" in before
    assert "Renew for 30 days" in before

    response = seller_client.post(
        reverse("seller-consent-renew", args=[grant.pk]), {"window_days": "30"}, **HX
    )

    assert response.status_code == 200
    cell = cell_html(response.content.decode())
    assert "30 days left" in cell
    assert 'role="status">Consent renewed.' in cell
    grant.refresh_from_db()
    assert grant.status == "expired"
    assert ConsentGrant.objects.get(seller=seller, status="active").renewed_from_id == grant.pk


def test_withdraw_from_the_cell_confirms_in_the_cell_then_withdraws(seller_client, seller):
    grant = services.consent_grant(seller=seller, category=DEMO, purpose=ADS, window_days=90)
    url = reverse("seller-consent-revoke", args=[grant.pk])
    assert f'href="{url}" hx-get="{url}"' in cell_html(
        seller_client.get(reverse("seller-consents")).content.decode()
    )

    confirm = seller_client.get(url, **HX)

    assert confirm.status_code == 200
    fragment = confirm.content.decode()
    assert fragment.startswith(f'<td id="cell-{DEMO}-{ADS}"')
    assert "Yes, withdraw" in fragment
    assert f'hx-post="{url}"' in fragment
    grant.refresh_from_db()
    assert grant.status == "active"

    response = seller_client.post(url, **HX)

    assert response.status_code == 200
    cell = cell_html(response.content.decode())
    assert 'data-state="none"' in cell
    assert "Not granted" in cell
    assert "Consent revoked." in cell
    assert "data-grant autofocus" in cell
    grant.refresh_from_db()
    assert grant.status == "revoked"
    assert [e.kind for e in response.context["history"]] == ["revoked", "granted"]


def test_cancelling_the_confirmation_gives_the_cell_back(seller_client, seller):
    services.consent_grant(seller=seller, category=DEMO, purpose=ADS, window_days=90)
    url = reverse("seller-consent-cell", args=[DEMO, ADS])

    fragment = seller_client.get(url, **HX)
    plain = seller_client.get(url)

    assert fragment.status_code == 200
    assert 'data-state="granted"' in fragment.content.decode()
    assert "Yes, withdraw" not in fragment.content.decode()
    assert plain.status_code == 302
    assert plain["Location"] == reverse("seller-consents") + f"#cell-{DEMO}-{ADS}"
    assert seller_client.get(reverse("seller-consent-cell", args=["health", ADS]), **HX).status_code == 404


def test_withdrawing_twice_from_the_cell_is_an_error_and_changes_nothing(seller_client, seller):
    grant = services.consent_grant(seller=seller, category=DEMO, purpose=ADS, window_days=30)
    url = reverse("seller-consent-revoke", args=[grant.pk])
    seller_client.post(url, **HX)
    before = snapshot(seller)

    response = seller_client.post(url, **HX)

    assert response.status_code == 409
    assert "This consent was already revoked." in cell_html(response.content.decode())
    assert snapshot(seller) == before


def test_another_sellers_grant_cannot_be_withdrawn_from_a_cell(seller_client):
    other = SellerFactory()
    grant = services.consent_grant(seller=other, category=DEMO, purpose=ADS, window_days=30)
    before = snapshot(other)
    url = reverse("seller-consent-revoke", args=[grant.pk])

    assert seller_client.get(url, **HX).status_code == 404
    assert seller_client.post(url, **HX).status_code == 404
    assert (
        seller_client.post(
            reverse("seller-consent-renew", args=[grant.pk]), {"window_days": "30"}, **HX
        ).status_code
        == 404
    )
    assert snapshot(other) == before


def test_withdrawing_takes_no_more_steps_than_granting(seller_client, seller):
    """Granting from a cell: one POST. Withdrawing: one GET (the confirmation) and one POST."""
    granted = seller_client.post(
        reverse("seller-consent-grant"), {"category": DEMO, "purpose": ADS, "window_days": "90"}, **HX
    )
    grant = ConsentGrant.objects.get(seller=seller)
    confirm = seller_client.get(reverse("seller-consent-revoke", args=[grant.pk]), **HX)
    withdrawn = seller_client.post(reverse("seller-consent-revoke", args=[grant.pk]), **HX)

    assert (granted.status_code, confirm.status_code, withdrawn.status_code) == (200, 200, 200)
    grant.refresh_from_db()
    assert grant.status == "revoked"


# --- Days left and states --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("window", "shift", "language", "text"),
    [
        (90, timedelta(0), "en", "90 days left"),
        (90, timedelta(0), "fr", "90 jours restants"),
        (90, timedelta(hours=12), "en", "90 days left"),  # 89.5 days: rounded up
        (30, timedelta(days=29), "en", "1 day left"),
        (30, timedelta(days=29, hours=23), "fr", "1 jour restant"),
    ],
)
def test_days_left_are_rounded_up_and_pluralised(client, seller, settings, window, shift, language, text):
    grant = services.consent_grant(seller=seller, category=DEMO, purpose=ADS, window_days=window)
    ConsentGrant.objects.filter(pk=grant.pk).update(
        granted_at=grant.granted_at - shift, expires_at=grant.expires_at - shift
    )
    client.force_login(seller)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language

    page = client.get(reverse("seller-consents"))

    assert text in cell_html(page.content.decode())


def test_an_expired_cell_says_so_and_grants_again(seller_client, seller):
    grant = services.consent_grant(seller=seller, category=DEMO, purpose=ADS, window_days=30)
    ConsentGrant.objects.filter(pk=grant.pk).update(
        granted_at=grant.granted_at - timedelta(days=31), expires_at=grant.expires_at - timedelta(days=31)
    )
    # Past its window, the expiry sweep not yet run: still "active" in the table.
    cell = cell_html(seller_client.get(reverse("seller-consents")).content.decode())
    assert 'data-state="expired"' in cell
    assert "Expired" in cell
    assert "Grant again" in cell

    response = seller_client.post(
        reverse("seller-consent-grant"), {"category": DEMO, "purpose": ADS, "window_days": "90"}, **HX
    )
    assert 'data-state="granted"' in cell_html(response.content.decode())
    # The old grant expired on the spot, at the end of its window, as the sweep would have done.
    grant.refresh_from_db()
    assert (grant.status, grant.ended_at) == ("expired", grant.expires_at)
    kinds = list(ConsentEvent.objects.filter(seller=seller).order_by("pk").values_list("kind", flat=True))
    assert kinds == ["granted", "expired", "granted"]
    assert services.consent_expire_due() == 0


def test_an_expired_cell_after_the_sweep(seller_client, seller):
    grant = services.consent_grant(seller=seller, category=DEMO, purpose=ADS, window_days=30)
    ConsentGrant.objects.filter(pk=grant.pk).update(
        granted_at=grant.granted_at - timedelta(days=31), expires_at=grant.expires_at - timedelta(days=31)
    )
    assert services.consent_expire_due() == 1

    cell = cell_html(seller_client.get(reverse("seller-consents")).content.decode())

    assert 'data-state="expired"' in cell
    response = seller_client.post(
        reverse("seller-consent-grant"), {"category": DEMO, "purpose": ADS, "window_days": "30"}, **HX
    )
    assert 'data-state="granted"' in cell_html(response.content.decode())


def test_a_withdrawn_cell_is_not_granted(seller_client, seller):
    grant = services.consent_grant(seller=seller, category=DEMO, purpose=ADS, window_days=30)
    services.consent_revoke(seller=seller, grant_id=grant.pk)

    cell = cell_html(seller_client.get(reverse("seller-consents")).content.decode())

    assert 'data-state="none"' in cell


def test_the_french_matrix(client, seller, settings):
    services.consent_grant(seller=seller, category=DEMO, purpose=ADS, window_days=90)
    client.force_login(seller)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"

    page = client.get(reverse("seller-consents")).content.decode()

    granted = cell_html(page)
    assert "Donné" in granted
    assert "Renouveler pour 90 jours" in granted
    assert "Retirer" in granted
    assert "Non donné" in cell_html(page, f"{DEMO}:{Purpose.MARKET_RESEARCH}")
    assert "Télécharger" in page


# --- Receipts ------------------------------------------------------------------------------


def test_each_event_receipt_downloads_as_a_file(seller_client, seller):
    grant = services.consent_grant(seller=seller, category=DEMO, purpose=ADS, window_days=30)
    services.consent_revoke(seller=seller, grant_id=grant.pk)
    events = list(ConsentEvent.objects.filter(seller=seller))
    page = seller_client.get(reverse("seller-consents")).content.decode()

    for event in events:
        url = reverse("seller-consent-receipt", args=[event.receipt_id])
        assert f'href="{url}" download' in page
        response = seller_client.get(url)
        assert response.status_code == 200
        assert response["Content-Type"] == "application/json"
        assert (
            response["Content-Disposition"]
            == f'attachment; filename="consent-receipt-{event.receipt_id}.json"'
        )
        assert json.loads(response.content) == event.full_receipt


def test_another_sellers_receipt_and_an_unknown_one_are_404(seller_client):
    other = SellerFactory()
    services.consent_grant(seller=other, category=DEMO, purpose=ADS, window_days=30)
    event = ConsentEvent.objects.get(seller=other)

    assert seller_client.get(reverse("seller-consent-receipt", args=[event.receipt_id])).status_code == 404
    unknown = "00000000-0000-4000-8000-000000000000"
    assert seller_client.get(reverse("seller-consent-receipt", args=[unknown])).status_code == 404


# --- Query counts: one grant or many, the same --------------------------------------------


@pytest.mark.parametrize("action", ["page", "confirm", "withdraw", "renew"])
def test_cell_actions_query_count_is_the_same_for_1_and_50_grants(client, action):
    # Warm up: the first event of each kind also stores its receipt template, once for everyone.
    warm = SellerFactory()
    first = services.consent_grant(seller=warm, category=DEMO, purpose=ADS, window_days=90)
    services.consent_revoke(
        seller=warm, grant_id=services.consent_renew(seller=warm, grant_id=first.pk, window_days=90).pk
    )
    counts = []
    for size in (1, 50):
        seller = SellerFactory()
        make_history(seller, size)
        grant = ConsentGrant.objects.get(seller=seller, status="active", category=DEMO, purpose=ADS)
        client.force_login(seller)
        with CaptureQueriesContext(connection) as context:
            if action == "page":
                response = client.get(reverse("seller-consents"))
            elif action == "confirm":
                response = client.get(reverse("seller-consent-revoke", args=[grant.pk]), **HX)
            elif action == "withdraw":
                response = client.post(reverse("seller-consent-revoke", args=[grant.pk]), **HX)
            else:
                response = client.post(
                    reverse("seller-consent-renew", args=[grant.pk]), {"window_days": "90"}, **HX
                )
        assert response.status_code == 200
        counts.append(len(context))

    assert counts[0] == counts[1]


def test_an_htmx_call_without_a_session_sends_the_browser_to_the_login_page(client, seller):
    grant = services.consent_grant(seller=seller, category=DEMO, purpose=ADS, window_days=30)

    response = client.post(
        reverse("seller-consent-revoke", args=[grant.pk]),
        HTTP_HX_CURRENT_URL="http://testserver/consents/",
        **HX,
    )

    assert response.status_code == 204
    assert response["HX-Redirect"] == reverse("login") + "?next=/consents/"
    grant.refresh_from_db()
    assert grant.status == "active"

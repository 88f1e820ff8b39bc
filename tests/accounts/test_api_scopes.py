"""API key scopes: every /api/v1/ operation declares the scope it needs, and a key without that
scope gets 403 `insufficient_scope` naming it, before anything runs."""

from __future__ import annotations

import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.request import Request
from rest_framework.test import APIClient, APIRequestFactory

from accounts import services
from accounts.api.permissions import ANY_KEY, HasRequiredScope, required_scope
from accounts.api.throttling import ApiRateThrottle
from accounts.models import ApiScope
from tests.factories import PayingOrganisationFactory

pytestmark = pytest.mark.django_db

METHODS = ("get", "post", "put", "patch", "delete")


def _api_views() -> list[tuple[str, type]]:
    """(path pattern under /api/v1/, view class) of every routed API operation."""
    (api,) = [
        p for p in get_resolver().url_patterns if isinstance(p, URLResolver) and str(p.pattern) == "api/v1/"
    ]
    found: list[tuple[str, type]] = []

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                found.append((prefix + str(pattern.pattern), pattern.callback.cls))

    walk(api.url_patterns, "/api/v1/")
    return found


def _operations() -> list[tuple[str, str, type]]:
    """(METHOD, concrete path, view class) for every method every API view implements."""
    operations = []
    for route, view in _api_views():
        path = route
        while "<" in path:
            start, end = path.index("<"), path.index(">")
            path = path[:start] + str(uuid.uuid4()) + path[end + 1 :]
        operations += [(m.upper(), path, view) for m in METHODS if hasattr(view, m)]
    return operations


OPERATIONS = _operations()


def test_the_walk_finds_the_api():
    paths = {path for _m, path, _v in OPERATIONS}
    assert "/api/v1/bids/" in paths and "/api/v1/segments/size/" in paths and len(OPERATIONS) >= 20


@pytest.mark.parametrize(("method", "path", "view"), OPERATIONS, ids=[f"{m} {p}" for m, p, _v in OPERATIONS])
def test_every_operation_declares_its_scope_checked_and_throttled(method, path, view):
    """A view without `required_scope` for a method it serves, or whose own permission_classes
    drop HasRequiredScope (or throttle_classes drop the rate limiter), fails here."""
    scope = required_scope(view(), method)  # raises ImproperlyConfigured when undeclared
    assert scope == ANY_KEY or scope in ApiScope.values
    permissions = view().get_permissions()
    assert isinstance(permissions[0], HasRequiredScope), f"{view.__name__}: HasRequiredScope must come first"
    assert any(isinstance(t, ApiRateThrottle) for t in view().get_throttles()), view.__name__


def test_the_documented_mapping():
    def scope(method: str, path: str) -> str:
        (view,) = [v for m, p, v in OPERATIONS if m == method and _route(p) == path]
        return required_scope(view(), method)

    assert scope("GET", "/api/v1/organisation/") == ANY_KEY
    assert (
        scope("POST", "/api/v1/segments/size/")
        == scope("POST", "/api/v1/segments/estimate/")
        == "segments:read"
    )
    assert scope("GET", "/api/v1/listings/") == scope("GET", "/api/v1/listings/{id}/") == "listings:read"
    assert {
        scope(m, p)
        for m, p in [
            ("POST", "/api/v1/bids/"),
            ("GET", "/api/v1/bids/"),
            ("PATCH", "/api/v1/bids/{id}/"),
            ("DELETE", "/api/v1/bids/{id}/"),
            ("POST", "/api/v1/audience-bids/"),
            ("GET", "/api/v1/trades/"),
            ("GET", "/api/v1/trades/{id}/"),
            ("POST", "/api/v1/payment-methods/"),
            ("POST", "/api/v1/payment-methods/setup-intent/"),
        ]
    } == {"bids:write"}
    assert {
        scope("GET", p)
        for p in ["/api/v1/trades/{id}/records/", "/api/v1/access-grants/", "/api/v1/access-grants/{id}/"]
    } == {"data:read"}
    assert {
        scope(m, p)
        for m, p in [
            ("GET", "/api/v1/deletion-notices/"),
            ("GET", "/api/v1/deletion-notices/{id}/"),
            ("POST", "/api/v1/deletion-notices/{id}/acknowledge/"),
        ]
    } == {"notices:write"}
    assert {
        scope("GET", p) for p in ["/api/v1/payment-methods/", "/api/v1/payments/", "/api/v1/payments/{id}/"]
    } == {"billing:read"}


def _route(path: str) -> str:
    parts = path.split("/")
    return "/".join("{id}" if _is_uuid(part) else part for part in parts)


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


@pytest.fixture
def keys_without(db):
    """Per scope, a key of a verified, paying organisation holding every scope but that one."""
    organisation = PayingOrganisationFactory()
    return {
        missing: services.api_key_create(
            organisation=organisation,
            name=f"without {missing}",
            scopes=[s for s in ApiScope.values if s != missing],
        )
        for missing in ApiScope.values
    }


MATRIX = [(m, p, v, s) for m, p, v in OPERATIONS for s in ApiScope.values]


@pytest.mark.parametrize(
    ("method", "path", "view", "missing"), MATRIX, ids=[f"{m} {p} without {s}" for m, p, _v, s in MATRIX]
)
def test_a_key_without_one_scope(method, path, view, missing, keys_without):
    """Every endpoint × every scope: refused with 403 insufficient_scope naming the scope exactly
    when the operation needs it; otherwise the permissions (scope, membership, verification) pass."""
    key, plaintext = keys_without[missing]
    needed = required_scope(view(), method)
    if needed == missing:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {plaintext}")
        response = client.generic(method, path, data="{}", content_type="application/json")
        assert response.status_code == 403, response.content
        body = response.json()
        assert body["code"] == "insufficient_scope"
        assert missing in body["detail"]
        assert body.get("scope", missing) == missing  # the error format may carry it as a member
    else:
        from accounts.api.authentication import BuyerPrincipal

        request = Request(APIRequestFactory().generic(method, path))
        request.user, request.auth = BuyerPrincipal(key), key
        instance = view()
        instance.request, instance.args, instance.kwargs, instance.format_kwarg = request, (), {}, None
        instance.check_permissions(request)  # raises when refused


def test_without_the_scope_nothing_happens(keys_without):
    """A bid refused for its scope changes nothing (the permission runs before the view)."""
    from marketplace.models import Bid

    _key, plaintext = keys_without["bids:write"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {plaintext}")
    response = client.post("/api/v1/bids/", {"listing": str(uuid.uuid4())}, format="json")
    assert response.status_code == 403 and response.json()["code"] == "insufficient_scope"
    assert not Bid.objects.exists()


def test_any_key_reads_its_organisation(keys_without):
    for _key, plaintext in keys_without.values():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {plaintext}")
        assert client.get("/api/v1/organisation/").status_code == 200


def test_unauthenticated_is_401_not_a_scope_error():
    response = APIClient().get("/api/v1/listings/")
    assert response.status_code == 401

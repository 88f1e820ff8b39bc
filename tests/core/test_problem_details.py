"""Every 4xx and 5xx under /api/ is an RFC 9457 problem details document (core.api_errors), its
code listed in core.problems and documented on a page of its own."""

from __future__ import annotations

import ast
import logging
import re
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.test import APIClient

from core.problems import PROBLEM_TYPES
from tests.core.urls import SECRET
from tests.factories import OrganisationFactory, PayingOrganisationFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
PROBLEM_KEYS = {"type", "title", "status", "detail", "instance", "code"}


def assert_problem(response, status: int, code: str, *, path: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert PROBLEM_KEYS <= set(body) <= PROBLEM_KEYS | {"errors"}, body
    assert body["code"] == code and body["status"] == status
    assert body["type"] == f"{settings.SITE_URL}/api/problems/{code}/"
    assert body["title"] == PROBLEM_TYPES[code].title
    assert body["instance"] == (path or response.wsgi_request.path)
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def audience_body(**overrides) -> dict:
    criteria = {"categories": ["demographics", "location"], "purpose": "targeted_advertising"}
    expires_at = (timezone.now() + timedelta(days=2)).isoformat()
    return {
        "criteria": criteria,
        "max_price_cents": 300,
        "max_records": 25,
        "expires_at": expires_at,
        **overrides,
    }


@pytest.fixture
def buyer_api(api_client_for):
    return api_client_for(PayingOrganisationFactory())


# --- DRF's exceptions -----------------------------------------------------------------------


def test_validation_errors_are_400_with_a_pointer_per_field(buyer_api):
    body = {"listing": "not-a-uuid", "amount_cents": "ten", "purpose": "spam"}

    problem = assert_problem(buyer_api.post("/api/v1/bids/", body, format="json"), 400, "invalid")

    assert {(e["pointer"], e["code"]) for e in problem["errors"]} == {
        ("/listing", "invalid"),
        ("/amount_cents", "invalid"),
        ("/purpose", "invalid_choice"),
    }
    assert all(e["detail"] for e in problem["errors"])


def test_nested_fields_and_query_parameters_have_their_own_pointers(buyer_api):
    criteria = {"categories": ["demographics"], "purpose": "targeted_advertising", "colour": "red"}
    nested = buyer_api.post("/api/v1/audience-bids/", audience_body(criteria=criteria), format="json")
    listed = buyer_api.post("/api/v1/bids/", [{"listing": "x"}], format="json")
    query = buyer_api.get("/api/v1/listings/?ordering=random")

    assert [e["pointer"] for e in assert_problem(nested, 400, "invalid")["errors"]] == ["/criteria/colour"]
    assert [e["pointer"] for e in assert_problem(listed, 400, "invalid")["errors"]] == [""]  # the whole body
    assert [e["pointer"] for e in assert_problem(query, 400, "invalid")["errors"]] == ["#/query/ordering"]


def test_malformed_json_is_a_parse_error(buyer_api):
    response = buyer_api.post("/api/v1/bids/", "{not json", content_type="application/json")
    assert "errors" not in assert_problem(response, 400, "parse_error")


def test_no_key_and_a_bad_key_are_401_with_www_authenticate():
    anonymous = APIClient().get("/api/v1/listings/")
    bad = APIClient(HTTP_AUTHORIZATION="Api-Key crt_nope_nope").get("/api/v1/listings/")

    assert_problem(anonymous, 401, "not_authenticated")
    assert_problem(bad, 401, "authentication_failed")
    assert anonymous["WWW-Authenticate"] == bad["WWW-Authenticate"] == "Api-Key"


def test_permission_refused_is_403_with_its_own_code(api_client_for):
    client = api_client_for(OrganisationFactory())  # not verified
    response = client.post(
        "/api/v1/bids/", {"listing": str(uuid.uuid4()), "amount_cents": 100}, format="json"
    )
    assert_problem(response, 403, "organisation_not_verified")


def test_missing_objects_are_404_not_found_whoever_raises_it(buyer_api):
    drf = buyer_api.get(f"/api/v1/bids/{uuid.uuid4()}/")  # the view's own lookup
    service = buyer_api.post(
        "/api/v1/bids/", {"listing": str(uuid.uuid4()), "amount_cents": 100}, format="json"
    )

    assert assert_problem(drf, 404, "not_found")["detail"] == "No such bid."
    assert assert_problem(service, 404, "not_found")["detail"] == "No such listing."


@pytest.mark.parametrize(
    "path", ["/api/v1/nope/", "/api/v1/bids/not-a-uuid/", "/api/nope", "/api/v1/trades/123/records/"]
)
def test_unrouted_paths_and_malformed_ids_are_404_problems(buyer_api, path):
    assert_problem(buyer_api.get(path), 404, "not_found", path=path)


def test_unrouted_paths_are_problems_in_debug_too_and_writes_need_no_csrf(buyer_api, settings):
    settings.DEBUG = True
    csrf_checked = Client(enforce_csrf_checks=True)
    assert_problem(csrf_checked.post("/api/v1/nope/", {}), 404, "not_found")


def test_a_missing_slash_still_redirects(buyer_api):
    response = buyer_api.get("/api/v1/listings?ordering=price")
    assert response.status_code == 301 and response["Location"] == "/api/v1/listings/?ordering=price"
    assert_problem(buyer_api.get("/api/v1/nope"), 404, "not_found")


def test_pages_outside_the_api_keep_their_html_404(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


def test_wrong_method_is_405_with_allow(buyer_api):
    response = buyer_api.delete("/api/v1/listings/")
    assert_problem(response, 405, "method_not_allowed")
    assert "GET" in response["Allow"]


def test_unacceptable_accept_header_is_406(buyer_api):
    assert_problem(buyer_api.get("/api/v1/listings/", HTTP_ACCEPT="text/html"), 406, "not_acceptable")


def test_unsupported_body_type_is_415(buyer_api):
    response = buyer_api.post("/api/v1/bids/", "listing=x", content_type="text/plain")
    assert_problem(response, 415, "unsupported_media_type")


@pytest.mark.urls("tests.core.urls")
def test_throttled_is_429_with_retry_after():
    response = APIClient().get("/api/test/throttled/")
    assert_problem(response, 429, "rate_limited")
    assert response["Retry-After"] == "7"


def test_invalid_cursor_is_400_not_404(buyer_api):
    response = buyer_api.get("/api/v1/listings/?cursor=garbage")
    assert_problem(response, 400, "invalid_cursor")


# --- Services' errors -------------------------------------------------------------------------


def test_service_errors_name_their_field_as_a_pointer(buyer_api):
    body = audience_body(max_records=24)
    problem = assert_problem(
        buyer_api.post("/api/v1/audience-bids/", body, format="json"), 422, "max_records_invalid"
    )
    assert problem["errors"] == [
        {"pointer": "/max_records", "code": "max_records_invalid", "detail": problem["detail"]}
    ]


def test_idempotency_refusals_are_problems(buyer_api):
    response = buyer_api.post("/api/v1/bids/", {}, format="json", HTTP_IDEMPOTENCY_KEY="")
    assert_problem(response, 400, "idempotency_key_invalid")


# --- 500 ---------------------------------------------------------------------------------------


@pytest.mark.urls("tests.core.urls")
@pytest.mark.parametrize("path", ["/api/test/boom/", "/api/test/django-boom/"])
def test_unhandled_exceptions_are_logged_500_problems_without_the_traceback(caplog, path):
    client = Client(raise_request_exception=False)
    with caplog.at_level(logging.ERROR):
        response = client.get(path)

    assert_problem(response, 500, "server_error", path=path)
    assert SECRET not in response.content.decode() and "Traceback" not in response.content.decode()
    assert any(record.exc_info and SECRET in str(record.exc_info[1]) for record in caplog.records)


# --- The registry and its pages ------------------------------------------------------------------

CODE = re.compile(r"[a-z][a-z0-9_]*")
SERVICE_ERROR_BASES = {"ServiceError", "InvalidInput", "Forbidden", "NotFound", "Conflict"}
# calls whose code is computed: every value they can take
DYNAMIC_CODES = {
    "payments/stripe_calls.py": {"stripe_idempotency_error", "stripe_unavailable"},
    "core/lifecycles.py": set(),
    "accounts/api/permissions.py": set(),  # InsufficientScope(scope): its code is in its __init__  # `code` parameters: their defaults and callers' keywords are scanned
}


def _sources() -> list[Path]:
    skip = {".venv", "tests", "migrations", "devtools", "node_modules"}
    return [p for p in ROOT.rglob("*.py") if not skip & set(p.relative_to(ROOT).parts)]


def _raised_codes() -> dict[str, str]:
    """code → where, for every ServiceError (subclass) built, `code=` keyword or default, and
    permission `code` attribute in the project's source."""
    trees = {p: ast.parse(p.read_text()) for p in _sources()}
    error_classes = set(SERVICE_ERROR_BASES)
    for _ in range(3):  # subclasses of subclasses
        for tree in trees.values():
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and any(
                    getattr(b, "id", None) in error_classes for b in node.bases
                ):
                    error_classes.add(node.name)
    codes: dict[str, str] = {}
    for path, tree in trees.items():
        where = str(path.relative_to(ROOT))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and any(
                getattr(b, "id", None) in error_classes for b in node.bases
            ):
                for call in ast.walk(node):  # super().__init__("gone", ...)
                    if (
                        isinstance(call, ast.Call)
                        and getattr(call.func, "attr", None) == "__init__"
                        and call.args
                    ):
                        if isinstance(call.args[0], ast.Constant):
                            codes[call.args[0].value] = where
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name in error_classes and node.args:
                    first = node.args[0]
                    if isinstance(first, ast.Constant) and isinstance(first.value, str):
                        if CODE.fullmatch(first.value):  # not DRF's NotFound("No such bid.")
                            codes[first.value] = f"{where}:{node.lineno}"
                    else:
                        assert where in DYNAMIC_CODES, f"{where}:{node.lineno} computes its code: list it"
                for keyword in node.keywords:
                    if (
                        keyword.arg == "code"
                        and isinstance(keyword.value, ast.Constant)
                        and name != "ValidationError"
                    ):
                        codes[keyword.value.value] = f"{where}:{node.lineno}"
            if isinstance(node, ast.FunctionDef):
                arguments = node.args.args + node.args.kwonlyargs
                defaults = [None] * (len(node.args.args) - len(node.args.defaults)) + node.args.defaults
                defaults += node.args.kw_defaults
                for argument, default in zip(arguments, defaults, strict=True):
                    if argument.arg == "code" and isinstance(default, ast.Constant) and default.value:
                        codes[default.value] = f"{where}:{node.lineno}"
            if isinstance(node, ast.Assign) and "api" in where:  # permissions' `code = "..."`
                for target in node.targets:
                    if getattr(target, "id", None) == "code" and isinstance(node.value, ast.Constant):
                        codes[node.value.value] = f"{where}:{node.lineno}"
        if where.endswith("core/idempotency.py"):
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "_error":
                    codes[node.args[0].value] = f"{where}:{node.lineno}"
    for values in DYNAMIC_CODES.values():
        codes.update(dict.fromkeys(values, "dynamic"))
    return codes


def test_every_code_raised_is_in_the_registry():
    codes = _raised_codes()
    assert {"not_found", "gone", "transition_not_allowed", "idempotency_key_reused"} <= set(codes)
    missing = {code: where for code, where in codes.items() if code not in PROBLEM_TYPES}
    assert not missing, f"add these codes to core/problems.py: {missing}"


def test_drf_exception_codes_are_in_the_registry():
    for exc in (
        exceptions.ParseError,
        exceptions.AuthenticationFailed,
        exceptions.NotAuthenticated,
        exceptions.PermissionDenied,
        exceptions.NotFound,
        exceptions.MethodNotAllowed,
        exceptions.NotAcceptable,
        exceptions.UnsupportedMediaType,
    ):
        assert exc.default_code in PROBLEM_TYPES
    assert {"invalid", "invalid_cursor", "rate_limited", "server_error"} <= set(PROBLEM_TYPES)


def test_one_code_per_missing_object():
    assert not [
        code for code in PROBLEM_TYPES if code.endswith("_not_found") or code.endswith("_unknown_object")
    ]
    assert all(p.status == 404 for p in PROBLEM_TYPES.values() if p.code == "not_found")


def test_each_problem_type_has_its_page(client):
    index = client.get("/api/problems/")
    assert index.status_code == 200 and index["Content-Type"].startswith("text/html")
    for code in PROBLEM_TYPES:
        assert f'href="/api/problems/{code}/"' in index.content.decode()
    page = client.get("/api/problems/raise_too_low/")
    assert page.status_code == 200
    content = page.content.decode()
    assert (
        PROBLEM_TYPES["raise_too_low"].title in content
        and PROBLEM_TYPES["raise_too_low"].description in content
    )
    # the CSP allows 'self' only: scripts from files, no inline script or style
    assert not re.search(r"<script(?![^>]*\bsrc=)", content) and "style=" not in content


def test_an_unknown_problem_page_is_a_404_problem(client):
    assert_problem(client.get("/api/problems/no_such_code/"), 404, "not_found")


def test_schema_documents_problems_as_problem_json(client):
    schema = client.get("/api/schema/?format=json")
    assert schema.status_code == 200
    document = schema.json()
    assert {"Problem", "ProblemFieldError"} <= set(document["components"]["schemas"])
    error_contents = [
        response.get("content", {})
        for operations in document["paths"].values()
        for operation in operations.values()
        for status, response in operation.get("responses", {}).items()
        if status.startswith(("4", "5"))
    ]
    assert error_contents and all("application/json" not in c for c in error_contents if c)
    assert any("application/problem+json" in c for c in error_contents)


def test_the_seller_ui_still_translates_a_missing_object():
    from django.utils import translation

    from accounts.forms import service_error_message
    from core.errors import NotFound

    with translation.override("fr"):
        message = service_error_message(NotFound("not_found", "No such consent."))
    assert message != "No such consent." and message

"""The committed OpenAPI schema (docs/openapi.yaml) is the one the code generates, is valid
OpenAPI (openapi-spec-validator), documents what the issue asks of every operation, and the
answers whose status the schema once got wrong now match it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiYamlRenderer
from openapi_spec_validator import validate

from tests.factories import OrganisationFactory, PayingOrganisationFactory
from tests.marketplace.conftest import active_listing

COMMITTED = Path(__file__).resolve().parent.parent / "docs" / "openapi.yaml"
METHODS = ("get", "post", "put", "patch", "delete")


def generated() -> str:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return OpenApiYamlRenderer().render(schema, renderer_context={}).decode()


@pytest.fixture(scope="module")
def schema() -> dict:
    return yaml.safe_load(COMMITTED.read_text())


def operations(schema: dict):
    for path, item in schema["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def test_the_committed_schema_is_the_generated_one():
    assert COMMITTED.read_text() == generated(), (
        "docs/openapi.yaml differs from the schema the code generates: run make schema and commit it"
    )


def test_the_committed_schema_is_valid_openapi(schema):
    validate(schema)
    assert schema["servers"] == [{"url": "/api/v1", "description": "this deployment (SITE_URL)"}]
    assert "ApiKey" in schema["components"]["securitySchemes"]


def test_every_operation_is_described_and_documents_its_errors(schema):
    for path, method, operation in operations(schema):
        where = f"{method.upper()} {path}"
        assert operation.get("description"), where
        assert operation.get("summary"), where
        codes = set(operation["responses"])
        assert {"401", "403"} <= codes, where
        if "{public_id}" in path:
            assert "404" in codes, where
            parameter = next(p for p in operation["parameters"] if p["name"] == "public_id")
            assert parameter["schema"] == {"type": "string", "format": "uuid"}, where
        if "requestBody" in operation:
            assert {"400", "415"} <= codes and operation["requestBody"]["required"], where
        for code, response in operation["responses"].items():
            if code >= "400":  # the one error body (`core.api_errors.error_response`), whatever its type
                (body,) = response["content"].values()
                assert body["schema"]["$ref"].rsplit("/", 1)[-1] in ("Error", "Problem") or body["schema"][
                    "$ref"
                ].endswith("Problem"), where
        success = [r for c, r in operation["responses"].items() if c < "300" and "content" in r]
        no_content = set(operation["responses"]) & {"200", "201", "202"} == set() and "204" in codes
        assert no_content or any(r["content"]["application/json"].get("examples") for r in success), where


def test_idempotency_key_on_the_operations_that_honour_it(schema):
    with_key = {
        f"{method.upper()} {path}"
        for path, method, operation in operations(schema)
        if any(
            p["name"] == "Idempotency-Key" and p["in"] == "header" for p in operation.get("parameters", [])
        )
    }
    writes = {f"{method.upper()} {path}" for path, method, _op in operations(schema) if method != "get"}
    assert with_key == writes


def test_enums_ids_nullables_and_required_fields(schema):
    components = schema["components"]["schemas"]
    for name in (
        "BidStatusEnum",
        "BidKindEnum",
        "TradeStatusEnum",
        "AccessGrantStatusEnum",
        "DeletionNoticeStatusEnum",
        "PaymentStatusEnum",
        "VerificationStatusEnum",
        "DataCategoryEnum",
        "PurposeEnum",
        "PricingModeEnum",
    ):
        assert components[name]["enum"], name
    bid = components["BidOutput"]["properties"]
    assert bid["status"]["$ref"].endswith("/BidStatusEnum")
    assert bid["id"]["format"] == "uuid" and bid["trade"]["nullable"] is True
    criteria = components["SegmentCriteria"]
    assert {"categories", "purpose"} <= set(criteria["required"])
    assert criteria["additionalProperties"] is False
    assert components["AudienceBidInput"]["properties"]["criteria"]["allOf"][0]["$ref"].endswith(
        "/SegmentCriteria"
    )
    assert components["BidRaiseInput"]["required"] == ["amount_cents"]  # the PATCH body
    assert [s["$ref"].rsplit("/", 1)[-1] for s in components["PaymentMethodInput"]["oneOf"]] == [
        "PaymentMethodById",
        "PaymentMethodBySetupIntent",
    ]
    assert not [name for name in components if name in ("Output", "InputSerializer") or name[-1].isdigit()]
    listings = schema["paths"]["/listings/"]["get"]["parameters"]
    ordering = next(p for p in listings if p["name"] == "ordering")
    assert ordering["schema"]["enum"] == ["newest", "oldest", "price", "-price"]


# --- The answers match the schema ------------------------------------------------------------


@pytest.mark.django_db
def test_cancelling_a_bid_answers_what_the_schema_says(schema, api_client_for):
    documented = schema["paths"]["/bids/{public_id}/"]["delete"]["responses"]
    assert "200" in documented and "204" not in documented
    client = api_client_for(PayingOrganisationFactory())
    listing = active_listing(pricing_mode="auction")
    bid = client.post(
        "/api/v1/bids/", {"listing": str(listing.public_id), "amount_cents": 1500}, format="json"
    )
    assert bid.status_code == 201, bid.content
    cancelled = client.delete(f"/api/v1/bids/{bid.json()['id']}/")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert set(cancelled.json()) == set(schema["components"]["schemas"]["BidOutput"]["properties"])


@pytest.mark.django_db
def test_asking_for_verification_answers_what_the_schema_says(schema, api_client_for):
    documented = schema["paths"]["/organisation/verification-request/"]["post"]["responses"]
    assert "202" in documented and "200" not in documented and "201" not in documented
    client = api_client_for(OrganisationFactory())
    asked = client.post("/api/v1/organisation/verification-request/")
    assert asked.status_code == 202
    assert asked.json()["verification_status"] == "pending"
    assert set(asked.json()) == set(schema["components"]["schemas"]["Organisation"]["properties"])
    assert client.post("/api/v1/organisation/verification-request/").status_code == 409

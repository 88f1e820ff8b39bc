"""schemathesis over the whole API schema (`make test`): every operation with generated valid
and invalid input and all checks, then the stateful phase, which chains operations through the
schema's links (a created bid is read, raised and cancelled; a list's first item is read; …).

The API is called in-process through Django's WSGI application with an organisation's key
(`ApiKeyAuth`; schemathesis drops or spoils it for its authentication checks): every operation
once with a verified organisation's, on listings, a delivered trade with its records and grants
and a deletion notice, and once with an unverified one's, on listings; the stateful phase with
the verified one. Example counts are small so that the file runs in about a minute.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from accounts import services as account_services
from tests.factories import OrganisationFactory, PayingOrganisationFactory
from tests.marketplace.conftest import active_listing
from tests.marketplace.test_api_delivery import (  # noqa: F401  (queued, small_k: autouse fixtures)
    audience_sellers,
    bundle_trade,
    consent_of,
    deliver,
    queued,
    small_k,
)
from tests.payments.conftest import eager_celery, stripe_sandbox, stripe_settings  # noqa: F401

HYPOTHESIS = settings(
    max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)

# Loaded at collection (the schema view needs no database); schemathesis' lazy
# `from_fixture` loader does not work with pytest 9.
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
# The API ignores query parameters it does not know, as most do; the key comes from ApiKeyAuth.
schema.config.generation.update(allow_extra_parameters=False, with_security_parameters=False)
# Valid input that the business rules refuse (a bid below the floor, an expiry in the past, a
# trade not delivered yet, a licence that ended) is not a schema violation.
schema.config.checks.positive_data_acceptance.expected_statuses = [
    "2xx",
    "401",
    "403",
    "404",
    "409",
    "410",
    "422",
    "429",
]
# DELETE /bids/{id}/ cancels the bid, which stays readable (status `cancelled`) as the schema
# says: the one check that assumes a DELETE makes its object disappear does not apply.
schema.config.checks.use_after_free.enabled = False
API_KEY: dict[str, str] = {}  # the current test's key, set by `api_data`


@schema.auth(refresh_interval=None)
class ApiKeyAuth:
    """The test's key on every call."""

    def get(self, case, context):
        return API_KEY.get("plaintext")  # none while cases are collected

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), "Authorization": f"Api-Key {data}"}


@pytest.fixture
def no_connection_closing():
    """The WSGI app closes the database connection at the end of each request, which would end
    the test's transaction: as Django's test client does, not while the test runs."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _data(*, verified: bool) -> str:
    """Listings for anyone; for a verified organisation also a delivered audience bundle (a
    trade, its records and grants) and a seller who leaves it (a deletion notice). Its key."""
    organisation = PayingOrganisationFactory() if verified else OrganisationFactory()
    _key, plaintext = account_services.api_key_create(organisation=organisation, name="schemathesis")
    for mode in ("fixed", "auction", "auction"):
        active_listing(pricing_mode=mode)
    if verified:
        audience_sellers(3)
        trade = bundle_trade(organisation, records=2)
        deliver(trade)
        leaving = trade.lines.order_by("pk").first().seller
        account_services.consent_revoke(seller=leaving, grant_id=consent_of(leaving, "location").pk)
    return plaintext


@pytest.fixture(params=["verified", "unverified"])
def api_data(request, db, no_connection_closing):
    API_KEY["plaintext"] = _data(verified=request.param == "verified")
    yield
    API_KEY.clear()


@pytest.fixture
def verified_api_data(db, no_connection_closing):
    API_KEY["plaintext"] = _data(verified=True)
    yield
    API_KEY.clear()


@schema.hook
def map_query(context, query):
    """No generated `cursor`: a cursor is an opaque token the API hands out (`next`/`previous`),
    so any other string is refused with 400 `invalid_cursor`, which the schema documents
    (tests/core/test_problem_details.py tests it); the stateful phase follows real ones."""
    if query:
        query.pop("cursor", None)
    return query


@schema.parametrize()
@HYPOTHESIS
def test_api(case, api_data):
    case.call_and_validate()


# Reports are left out of the sequences (each is still tested alone above): a report's link back
# to its listing makes the state machine draw differently when hypothesis replays an example on
# the database the earlier examples changed (FlakyStrategyDefinition).
class APIWorkflow(schema.exclude(path_regex=r"/reports/$").as_state_machine()):  # type: ignore[misc]
    pass


def test_stateful(verified_api_data):
    APIWorkflow.run(
        settings=settings(
            max_examples=30,
            stateful_step_count=6,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
    )

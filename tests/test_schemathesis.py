"""schemathesis over the whole API schema: every operation with generated valid and invalid
input (all checks), then the stateful phase, which chains operations through the schema's links
(a created bid is read, raised and cancelled; a trade's records are read...).

The API is called in-process through Django's WSGI application with a verified organisation's
key, on data made for the test: sellers with consent, buy-now and auction listings, a trade and
a deletion notice. Hypothesis example counts are kept small so that `make test` stays quick.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from accounts import services as account_services
from tests.factories import PayingOrganisationFactory
from tests.marketplace.conftest import active_listing
from tests.payments.conftest import eager_celery, stripe_sandbox, stripe_settings  # noqa: F401

HYPOTHESIS = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def no_connection_closing():
    """The WSGI app closes the database connection at the end of each request, which would end
    the test's transaction: as Django's test client does, not while the test runs."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def api_data(db, no_connection_closing):
    organisation = PayingOrganisationFactory()
    _key, plaintext = account_services.api_key_create(organisation=organisation, name="schemathesis")
    for mode in ("fixed", "auction", "auction"):
        active_listing(pricing_mode=mode)
    return {"Authorization": f"Api-Key {plaintext}"}


# Loaded at collection (the schema view needs no database); schemathesis' lazy
# `from_fixture` loader does not work with pytest 9.
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
# The API ignores query parameters it does not know, as most do; the key is sent by the tests.
schema.config.generation.update(allow_extra_parameters=False, with_security_parameters=False)
# Valid input the business rules refuse (a bid below the floor, an expiry in the past, a trade
# not delivered yet, a licence that ended) is not a schema violation.
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


@schema.parametrize()
@HYPOTHESIS
def test_api(case, api_data):
    case.call_and_validate(headers=api_data)

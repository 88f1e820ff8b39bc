"""The sandboxes answer what Stripe answers: every object of a resource the product uses has the
keys of that resource in Stripe's fixtures (fixtures3.json) with the same JSON value types; every
event the product handles can be built in Stripe's event shape; every field the product reads is
Stripe's (devtools.stripe_sandbox.contract_report).

Compared: the top-level keys and their JSON types (null, boolean, number, string, array, object).
A null where Stripe's fixture has a value is accepted only for the fields in NULLABLE (Stripe's API
reference marks them nullable); any other difference must be in ALLOWED_DIFFERENCES with its reason.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from devtools.stripe_sandbox import contract_report
from devtools.stripe_sandbox.fixtures import build_event, load_fixtures
from tests.payments.conftest import http

ROOT = Path(__file__).resolve().parents[2]

# Fields Stripe's API reference documents as nullable, for which the fixture shows a value.
NULLABLE = {
    "customer": {"address", "discount", "shipping", "currency"},
    "payment_method": {"customer"},
    "setup_intent": {
        "automatic_payment_methods",
        "last_setup_error",
        "next_action",
        "payment_method_configuration_details",
        "payment_method_options",
    },
    "payment_intent": {
        "automatic_payment_methods",
        "canceled_at",
        "last_payment_error",
        "managed_payments",
        "next_action",
        "payment_method_configuration_details",
        "payment_method_options",
        "processing",
        "shipping",
        "transfer_data",
        "latest_charge",
    },
    "charge": {
        "balance_transaction",
        "description",
        "shipping",
        "transfer_data",
        "receipt_url",
        "source",
        "payment_method",
    },
    "refund": {"balance_transaction"},
    "transfer": {"description", "source_transaction", "destination_payment"},
    "account": {"email", "tos_acceptance"},
    "payout": {"trace_id", "destination", "balance_transaction"},
    "balance_transaction": {"description"},
    "dispute": {"payment_intent"},
}

# (resource, field): why our value's type differs from the fixture's, or why the key differs.
ALLOWED_DIFFERENCES = {
    ("balance_transaction", "exchange_rate"): "1.0 for localstripe's same-currency charges; the fixture "
    "shows null (a number when currencies differ)",
}


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def differences(resource: str, obj: dict[str, Any], fixture: dict[str, Any]) -> list[str]:
    found = []
    for key in sorted(set(fixture) | set(obj)):
        if (resource, key) in ALLOWED_DIFFERENCES:
            continue
        if key not in obj:
            found.append(f"{resource}.{key}: missing")
        elif key not in fixture:
            if key != "account" or resource != "event":  # events from connected accounts name it
                found.append(f"{resource}.{key}: not Stripe's")
        else:
            ours, theirs = json_type(obj[key]), json_type(fixture[key])
            if ours == theirs or theirs == "null":
                continue
            if ours == "null" and key in NULLABLE.get(resource, set()):
                continue
            found.append(f"{resource}.{key}: {ours}, Stripe's {theirs}")
    return found


@pytest.fixture(scope="session")
def stripe_fixtures():
    return load_fixtures()


def as_dict(obj: Any) -> dict[str, Any]:
    return obj if isinstance(obj, dict) else obj.to_dict()


def test_every_object_the_sandboxes_return_has_stripe_s_shape(
    stripe_api, connect_api, stripe_sandbox, stripe_fixtures
):
    customer = stripe_api.v1.customers.create(
        {"email": "c@example.test", "metadata": {"courtier_customer_id": "1"}}
    )
    method = stripe_api.v1.payment_methods.create(
        {
            "type": "card",
            "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"},
        }
    )
    stripe_api.v1.payment_methods.attach(method.id, {"customer": customer.id})
    setup = stripe_api.v1.setup_intents.create({"customer": customer.id})
    setup = stripe_api.v1.setup_intents.confirm(setup.id, {"payment_method": method.id})
    intent = stripe_api.v1.payment_intents.create(
        {
            "amount": 10_00,
            "currency": "eur",
            "customer": customer.id,
            "payment_method": method.id,
            "confirm": True,
            "capture_method": "manual",
        }
    )
    intent = stripe_api.v1.payment_intents.capture(intent.id, {"amount_to_capture": 6_00})
    charge = stripe_api.v1.charges.retrieve(intent.latest_charge)
    refund = stripe_api.v1.refunds.create({"payment_intent": intent.id, "amount": 1_00})
    account = connect_api.v1.accounts.create({"type": "express", "country": "FR"})
    link = connect_api.v1.account_links.create(
        {
            "account": account.id,
            "refresh_url": "http://x/r",
            "return_url": "http://x/d",
            "type": "account_onboarding",
        }
    )
    stripe_sandbox.complete_account(account.id)
    transfer = connect_api.v1.transfers.create({"amount": 3_00, "currency": "eur", "destination": account.id})
    reversal = connect_api.v1.transfers.reversals.create(transfer.id, {"amount": 1_00})
    dispute = stripe_sandbox.dispute(charge=charge.id, payment_intent=intent.id, amount=2_00, fee=15_00)
    payout = stripe_sandbox.bank_payout(account.id)
    transactions = stripe_api.v1.balance_transactions.list({"limit": 100}).data
    events = stripe_sandbox.localstripe_events() + stripe_sandbox.connect_events()

    objects = [
        ("customer", customer),
        ("payment_method", stripe_api.v1.payment_methods.retrieve(method.id)),
        ("setup_intent", setup),
        ("payment_intent", intent),
        ("charge", charge),
        ("refund", refund),
        ("account", connect_api.v1.accounts.retrieve(account.id)),
        ("account_link", link),
        ("transfer", connect_api.v1.transfers.retrieve(transfer.id)),
        ("transfer_reversal", reversal),
        ("dispute", dispute),
        ("payout", payout),
        *(("balance_transaction", txn) for txn in transactions),
        *(("event", event) for event in events),
    ]
    assert {txn.type for txn in transactions} >= {
        "charge",
        "refund",
        "transfer",
        "transfer_refund",
        "adjustment",
    }
    assert {event["type"] for event in events} >= {"customer.created", "charge.refunded", "transfer.created"}
    problems = [
        problem
        for resource, obj in objects
        for problem in differences(resource, as_dict(obj), stripe_fixtures[resource])
    ]
    assert sorted(set(problems)) == [], "\n".join(sorted(set(problems)))


def handled_event_types() -> list[str]:
    source = (ROOT / "payments/webhooks.py").read_text()
    table = source[source.index("HANDLERS") :]
    return re.findall(r'^\s+"([a-z_]+(?:\.[a-z_]+)+)":', table, re.M)


EVENT_OBJECTS = {
    "payment_intent": "payment_intent",
    "charge.dispute": "dispute",
    "charge": "charge",
    "account": "account",
    "transfer": "transfer",
    "payout": "payout",
}


def test_every_event_the_product_handles_is_buildable_in_stripe_s_shape(stripe_fixtures):
    types = handled_event_types()
    assert "payment_intent.succeeded" in types and "charge.dispute.closed" in types and len(types) >= 10
    for type_ in types:
        resource = next(EVENT_OBJECTS[prefix] for prefix in EVENT_OBJECTS if type_.startswith(prefix + "."))
        event = build_event(
            stripe_fixtures, type_, stripe_fixtures[resource], api_version="2026-10-28.endive"
        )
        assert differences("event", event, stripe_fixtures["event"]) == [], type_
        assert event["data"]["object"]["object"] == resource


def test_every_field_the_product_reads_is_stripe_s_or_justified():
    lines, unjustified = contract_report.report()
    assert unjustified == [], "\n".join(lines)


def test_partial_capture_and_one_balance_history_as_at_stripe(stripe_api, connect_api, stripe_sandbox):
    intent = stripe_api.v1.payment_intents.create(
        {
            "amount": 10_00,
            "currency": "eur",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "capture_method": "manual",
        }
    )
    intent = stripe_api.v1.payment_intents.capture(
        intent.id, {"amount_to_capture": 7_00, "expand": ["latest_charge"]}
    )
    charge = intent.latest_charge

    assert (intent.status, intent.amount_received) == ("succeeded", 7_00)
    assert (charge.amount_captured, charge.amount_refunded, charge.refunded) == (7_00, 3_00, False)
    assert stripe_api.v1.refunds.list({"payment_intent": intent.id}).data == []
    (booked,) = stripe_api.v1.balance_transactions.list({"source": charge.id}).data
    assert booked.amount == 7_00
    refund = stripe_api.v1.refunds.create({"payment_intent": intent.id})  # the remainder: what was captured
    assert refund.amount == 7_00 and stripe_api.v1.charges.retrieve(charge.id).refunded is True

    account = connect_api.v1.accounts.create({"type": "express"})
    stripe_sandbox.complete_account(account.id)
    transfer = connect_api.v1.transfers.create({"amount": 2_00, "currency": "eur", "destination": account.id})
    history = stripe_api.v1.balance_transactions.list({"limit": 100}).data
    # one list, newest first (the order within one second is either server's)
    assert sorted((t.type, t.amount) for t in history) == [
        ("charge", 7_00),
        ("refund", -7_00),
        ("transfer", -2_00),
    ]
    assert [t.created for t in history] == sorted((t.created for t in history), reverse=True)
    assert stripe_api.v1.balance_transactions.retrieve(transfer.balance_transaction).source == transfer.id
    page = stripe_api.v1.balance_transactions.list({"limit": 1, "starting_after": history[0].id})
    assert [t.id for t in page.data] == [history[1].id] and page.has_more


def test_lists_filter_by_customer_and_created_as_stripe_s(stripe_api, connect_api):
    customer = stripe_api.v1.customers.create({})
    intents = [
        stripe_api.v1.payment_intents.create(
            {
                "amount": 1_00 + i,
                "currency": "eur",
                "customer": customer.id,
                "metadata": {"courtier_payment_id": str(i)},
            }
        )
        for i in range(3)
    ]
    stripe_api.v1.payment_intents.create({"amount": 5_00, "currency": "eur"})
    since = intents[0].created

    listed = stripe_api.v1.payment_intents.list({"customer": customer.id, "created": {"gte": since}}).data
    later = stripe_api.v1.payment_intents.list(
        {"customer": customer.id, "created": {"gt": since + 3600}}
    ).data

    assert [i.id for i in listed] == [i.id for i in reversed(intents)]  # newest first
    assert [i.metadata["courtier_payment_id"] for i in listed] == ["2", "1", "0"] and later == []
    setup = stripe_api.v1.setup_intents.create({"customer": customer.id})
    assert [s.id for s in stripe_api.v1.setup_intents.list({"customer": customer.id}).data] == [setup.id]
    account = connect_api.v1.accounts.create({"type": "express", "metadata": {"courtier_seller_id": "9"}})
    accounts = connect_api.v1.accounts.list({"created": {"gte": account.created}}).data
    assert [(a.id, a.metadata["courtier_seller_id"]) for a in accounts] == [(account.id, "9")]
    status, body = http("GET", f"{connect_api._requestor.base_addresses['api']}/v1/transfers?created[gte]=1")
    assert status == 200 and body["data"] == []

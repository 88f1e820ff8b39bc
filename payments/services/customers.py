"""Buyers' Stripe customers and saved cards (SetupIntents, default payment method)."""

from __future__ import annotations

import functools

import stripe
from django.db import transaction
from django.db.models import F
from stripe.params import SetupIntentCreateParams

from accounts.models import BuyerOrganisation
from core.errors import Conflict, InvalidInput, NotFound
from payments.models import StripeCustomer
from payments.services._common import _get, _id_of, _now, _required, _stripe_message
from payments.stripe_calls import (
    UNDECIDED,
    StripeUnavailable,
    create_once,
    stripe_call,
    stripe_id,
    stripe_reachable,
)
from payments.stripe_client import client

# --- Buyers: Stripe customers and saved cards ---------------------------------------------------


def stripe_customer_ensure(*, organisation_id: int) -> StripeCustomer:
    """The organisation's Stripe Customer, created at Stripe on first use."""
    organisation = BuyerOrganisation.objects.filter(pk=organisation_id).first()
    if organisation is None:
        raise NotFound("not_found", "No such organisation.")
    with transaction.atomic(durable=True):
        customer, _created = StripeCustomer.objects.get_or_create(organisation=organisation)
    if customer.stripe_customer_id:
        return customer
    api = client().v1
    created = create_once(
        customer,
        lambda: api.customers.create(
            {
                "name": organisation.legal_name,
                "email": organisation.contact_email,
                "metadata": {"courtier_organisation_id": str(organisation.pk)},
            },
            {"idempotency_key": customer.idempotency_key("create")},
        ),
        listed=lambda: api.customers.list(
            {"email": organisation.contact_email, "limit": 100}
        ).auto_paging_iter(),
        ours=("courtier_organisation_id", organisation.pk),
    )
    with transaction.atomic(durable=True):
        customer = StripeCustomer.objects.select_for_update().get(pk=customer.pk)
        if not customer.stripe_customer_id:
            customer.stripe_customer_id = created["id"]
            customer.updated_at = _now()
            customer.save(update_fields=["stripe_customer_id", "updated_at"])
    return customer


SETUP_OPEN = ("requires_payment_method", "requires_confirmation", "requires_action")


def payment_method_setup_intent_create(*, organisation_id: int) -> dict[str, str]:
    """A SetupIntent for saving a card off-session; the client secret goes to the buyer's Stripe.js.

    The customer's open SetupIntent, if one is waiting for a card (a retried or repeated request
    gets the same one); otherwise the one keyed by the customer's count of used SetupIntents (two
    requests at once ask Stripe with one key: one object), or the next when that one was used.
    """
    customer = stripe_customer_ensure(organisation_id=organisation_id)
    api = client().v1
    with stripe_reachable():
        listed = api.setup_intents.list(
            {"customer": stripe_id(customer.stripe_customer_id), "limit": 20}
        ).data
    intent = next(
        (
            i
            for i in listed
            if _required(i, "status") in SETUP_OPEN
            and str(_get(_get(i, "metadata", {}), "courtier_customer_id")) == str(customer.pk)
        ),
        None,
    )
    for _attempt in range(2):
        if intent is not None:
            break
        key = customer.idempotency_key(f"setup_intent:{customer.setup_intents_created}")
        params: SetupIntentCreateParams = {
            "customer": stripe_id(customer.stripe_customer_id),
            "usage": "off_session",
            # stripe-python's params for the pinned API version name this allowed_payment_method_types;
            # the sandbox knows only this name. Left as it is until checked against Stripe.
            "payment_method_types": ["card"],  # type: ignore[typeddict-unknown-key]
            "metadata": {"courtier_customer_id": str(customer.pk)},
        }
        intent = stripe_call(
            functools.partial(api.setup_intents.create, params, {"idempotency_key": key}), customer
        )
        if _required(intent, "status") not in SETUP_OPEN:  # the key's SetupIntent was used: the next one
            StripeCustomer.objects.filter(pk=customer.pk).update(
                setup_intents_created=F("setup_intents_created") + 1
            )
            customer.refresh_from_db(fields=["setup_intents_created", "key_generation"])
            intent = None
    if intent is None:
        raise StripeUnavailable("stripe_unavailable", "No SetupIntent could be opened; try again.")
    return {
        "setup_intent_id": intent["id"],
        "client_secret": intent["client_secret"],
        "status": intent["status"],
    }


def payment_method_save(
    *, organisation_id: int, payment_method_id: str | None = None, setup_intent_id: str | None = None
) -> StripeCustomer:
    """Make a card the organisation's default: from a confirmed SetupIntent, or a payment method
    id (Stripe's test ids such as `pm_card_visa` work). Unknown or foreign ids change nothing."""
    if bool(payment_method_id) == bool(setup_intent_id):
        raise InvalidInput("payment_method_required", "Give either a payment_method or a setup_intent.")
    customer = stripe_customer_ensure(organisation_id=organisation_id)
    api = client().v1
    try:
        if setup_intent_id:
            try:
                intent = api.setup_intents.retrieve(setup_intent_id)
            except stripe.InvalidRequestError as exc:
                raise InvalidInput(
                    "setup_intent_unknown", "No such SetupIntent.", field="setup_intent"
                ) from exc
            if _id_of(_get(intent, "customer")) != customer.stripe_customer_id:
                raise InvalidInput("setup_intent_unknown", "No such SetupIntent.", field="setup_intent")
            if _required(intent, "status") != "succeeded":
                raise Conflict(
                    "setup_intent_not_succeeded",
                    f"The SetupIntent is {_get(intent, 'status')}: confirm it with Stripe.js first.",
                    field="setup_intent",
                )
            payment_method_id = _id_of(_get(intent, "payment_method"))
        # given, or the payment method of a succeeded SetupIntent
        method = api.payment_methods.retrieve(stripe_id(payment_method_id))
        owner = _id_of(_get(method, "customer"))
        if owner and owner != customer.stripe_customer_id:
            raise InvalidInput("payment_method_unknown", "No such payment method.", field="payment_method")
        if _required(method, "type") != "card":
            raise InvalidInput(
                "payment_method_unsupported", "Only cards are accepted.", field="payment_method"
            )
        if not owner:
            method = api.payment_methods.attach(
                method["id"],
                {"customer": stripe_id(customer.stripe_customer_id)},
                {"idempotency_key": customer.idempotency_key(f"attach:{method['id']}")},
            )
        api.customers.update(
            stripe_id(customer.stripe_customer_id),
            {"invoice_settings": {"default_payment_method": method["id"]}},
            {"idempotency_key": customer.idempotency_key(f"default:{method['id']}")},
        )
    except stripe.CardError as exc:
        raise InvalidInput("card_declined", _stripe_message(exc), field="payment_method") from exc
    except stripe.InvalidRequestError as exc:
        if exc.http_status == 404:
            raise InvalidInput(
                "payment_method_unknown", "No such payment method.", field="payment_method"
            ) from exc
        raise InvalidInput("payment_method_invalid", _stripe_message(exc), field="payment_method") from exc
    except UNDECIDED as exc:  # attach and update replay their keys: safe to repeat
        raise StripeUnavailable("stripe_unavailable", _stripe_message(exc)) from exc
    card = _get(method, "card", {})
    with transaction.atomic(durable=True):
        customer = StripeCustomer.objects.select_for_update().get(pk=customer.pk)
        customer.default_payment_method_id = method["id"]
        customer.card_brand = str(_get(card, "brand", ""))[:32]
        customer.card_last4 = str(_get(card, "last4", ""))[:4]
        customer.card_exp_month = _get(card, "exp_month")
        customer.card_exp_year = _get(card, "exp_year")
        customer.updated_at = _now()
        customer.save()
    return customer

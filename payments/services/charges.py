"""Payments (PaymentIntents): authorise, charge, capture, cancel, sync; Stripe's answers applied."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import stripe
from django.db import IntegrityError, transaction
from stripe.params import PaymentIntentCreateParams

from core.errors import Conflict, InvalidInput, NotFound
from payments import lock_objects, money, postings
from payments.models import Payment, StripeCustomer
from payments.services._common import (
    UnknownStripeObject,
    _check_currency,
    _get,
    _now,
    _queue_after_commit,
    _required,
    _stripe_message,
    logger,
)
from payments.services.payment_status import _payment_derive_after_capture, _payment_transition
from payments.services.refunds_disputes import _apply_dispute, _apply_refund, _lock_books
from payments.stripe_calls import (
    UNDECIDED,
    StripeData,
    StripeUnavailable,
    create_once,
    created_since,
    stripe_call,
    stripe_id,
    stripe_reachable,
)
from payments.stripe_client import client

# --- Payments: what Stripe says, applied ---------------------------------------------------------


@dataclass
class IntentSnapshot:
    """A PaymentIntent as Stripe has it now, with its charge and the charge's refunds."""

    intent: StripeData
    charge: StripeData | None = None
    refunds: list[StripeData] = field(default_factory=list)
    disputes: list[StripeData] = field(default_factory=list)


def _snapshot(intent: StripeData, *, with_refunds: bool) -> IntentSnapshot:
    """Complete a PaymentIntent answer with its charge and (if asked) the charge's refunds."""
    charge = _get(intent, "latest_charge")
    with stripe_reachable():
        if isinstance(charge, str):
            charge = client().v1.charges.retrieve(charge)
        refunds: list[StripeData] = []
        if charge is not None and _get(charge, "captured") and with_refunds:
            refunds = list(
                client().v1.refunds.list({"charge": charge["id"], "limit": 100}).auto_paging_iter()
            )
    return IntentSnapshot(intent=intent, charge=charge, refunds=refunds)


def _fetch_snapshot(intent_id: str) -> IntentSnapshot:
    try:
        intent = client().v1.payment_intents.retrieve(intent_id)
    except stripe.InvalidRequestError as exc:
        if exc.http_status == 404:
            raise UnknownStripeObject("not_found", f"Stripe has no PaymentIntent {intent_id}.") from exc
        raise
    except UNDECIDED as exc:
        raise StripeUnavailable("stripe_unavailable", _stripe_message(exc)) from exc
    return _snapshot(intent, with_refunds=True)


def _apply_snapshot(payment_id: int, snapshot: IntentSnapshot, *, reason: str = "") -> Payment:
    """Record a PaymentIntent's state (and its refunds and disputes) on our payment, once."""
    owed: dict[int, int] = {}
    with transaction.atomic(durable=True):
        payment = lock_objects.payment(payment_id)
        books = _lock_books(payment)
        _apply_intent(payment, snapshot, reason)
        if payment.status in Payment.CAPTURED_STATES:
            for refund in sorted(snapshot.refunds, key=lambda r: (_required(r, "created"), r["id"])):
                owed.update(_apply_refund(payment, refund, books))
            for dispute in snapshot.disputes:
                owed.update(_apply_dispute(payment, dispute, books))
            _payment_derive_after_capture(payment, reason or "as Stripe reports it")
        from payments import tasks  # here: payments.tasks imports the services

        for seller_id in owed:
            _queue_after_commit(tasks.payout_recover, seller_id, payment.currency)
    return payment


def _apply_intent(payment: Payment, snapshot: IntentSnapshot, reason: str) -> None:
    """Requires: the payment's row lock."""
    intent = snapshot.intent
    if payment.stripe_payment_intent_id and payment.stripe_payment_intent_id != intent["id"]:
        raise Conflict("payment_intent_mismatch", f"Payment {payment.pk} belongs to another PaymentIntent.")
    _check_currency(payment.currency, _required(intent, "currency"), what=f"PaymentIntent {intent['id']}")
    if int(_required(intent, "amount")) != payment.amount:
        raise InvalidInput("amount_mismatch", f"PaymentIntent {intent['id']} is for another amount.")
    if not payment.stripe_payment_intent_id:
        payment.stripe_payment_intent_id = intent["id"]
        payment.last_error = ""
        payment.save(update_fields=["stripe_payment_intent_id", "last_error"])
    status = _required(intent, "status")
    if status in ("requires_action", "requires_confirmation"):
        payment.client_secret = _get(intent, "client_secret", "")
        payment.save(update_fields=["client_secret"])
        _payment_transition(
            payment,
            Payment.Status.REQUIRES_ACTION,
            reason or "The buyer must confirm this payment (card authentication).",
        )
    elif status == "requires_capture":
        _payment_transition(payment, Payment.Status.AUTHORISED, reason or "authorised")
    elif status == "succeeded":
        _record_capture(payment, snapshot)
    elif status == "canceled":
        _payment_transition(
            payment,
            Payment.Status.CANCELED,
            reason or f"canceled ({_get(intent, 'cancellation_reason', '')})",
        )
    elif status == "requires_payment_method" and _get(intent, "last_payment_error"):
        error = _get(intent, "last_payment_error", {})
        _payment_fail(
            payment,
            _get(error, "decline_code") or _get(error, "code", "payment_failed"),
            _get(error, "message", ""),
        )


def _payment_fail(payment: Payment, code: str, message: str) -> None:
    """Requires: the payment's row lock."""
    if payment.status not in (
        Payment.Status.PENDING,
        Payment.Status.REQUIRES_ACTION,
        Payment.Status.AUTHORISED,
    ):
        return
    payment.failure_code = str(code)[:64]
    payment.failure_message = (message or "The payment was declined.")[:500]
    payment.save(update_fields=["failure_code", "failure_message"])
    _payment_transition(payment, Payment.Status.FAILED, payment.failure_message)


def _record_capture(payment: Payment, snapshot: IntentSnapshot) -> None:
    """Money in. Requires: the payment's row lock."""
    charge = snapshot.charge
    if charge is None:
        raise InvalidInput(
            "charge_missing", f"PaymentIntent {snapshot.intent['id']} succeeded without a charge."
        )
    if payment.stripe_charge_id and payment.stripe_charge_id != charge["id"]:
        raise Conflict(
            "charge_mismatch", f"Payment {payment.pk} already has charge {payment.stripe_charge_id}."
        )
    _check_currency(payment.currency, _required(charge, "currency"), what=f"Charge {charge['id']}")
    # what Stripe booked to our balance for this charge
    gross = int(_get(charge, "amount_captured") or _required(charge, "amount"))
    if payment.status in Payment.CAPTURED_STATES:
        return
    payment.stripe_charge_id = charge["id"]
    payment.amount_captured = min(payment.capture_requested or gross, gross, payment.amount)
    if payment.capture_requested is None:
        payment.capture_requested = payment.amount_captured
    payment.last_error = ""
    payment.save(update_fields=["stripe_charge_id", "amount_captured", "capture_requested", "last_error"])
    postings.post_capture(payment, gross)
    _payment_transition(payment, Payment.Status.CAPTURED, "captured")


# --- Payments: the services callers use -----------------------------------------------------------


def _payment_open(
    *,
    reference: str,
    organisation_id: int,
    amount: int,
    currency: str,
    mode: str,
    payment_method_id: str | None,
    new_attempt: bool,
) -> Payment:
    """The caller's payment for `reference`: the existing one, or a new pending row (committed)."""
    money.check_amount(amount, currency)
    if not isinstance(reference, str) or not 0 < len(reference) <= 80:
        raise InvalidInput("reference_invalid", "A reference is 1 to 80 characters.", field="reference")
    customer = StripeCustomer.objects.filter(organisation_id=organisation_id).first()
    method = payment_method_id or (customer.default_payment_method_id if customer else "")
    if customer is None or not customer.stripe_customer_id or not method:
        raise InvalidInput("payment_method_missing", "Save a card before paying.", field="payment_method")
    if payment_method_id and payment_method_id != customer.default_payment_method_id:
        raise InvalidInput("payment_method_unknown", "No such payment method.", field="payment_method")

    def same(existing: Payment) -> Payment:
        if (existing.organisation_id, existing.amount, existing.currency, existing.mode) != (
            organisation_id,
            amount,
            currency,
            mode,
        ):
            raise Conflict(
                "reference_reused", f"{reference} is already paid with other terms.", field="reference"
            )
        return existing

    # The latest payment for the reference answers, even a failed one: a decline is never retried
    # behind the buyer's back. A new attempt (after they fixed their card) is asked for explicitly.
    existing = Payment.objects.filter(reference=reference).order_by("-created_at", "-pk").first()
    if existing is not None and not (
        new_attempt and existing.status in (Payment.Status.FAILED, Payment.Status.CANCELED)
    ):
        return same(existing)
    try:
        with transaction.atomic(durable=True):
            return Payment.objects.create(
                reference=reference,
                organisation_id=organisation_id,
                customer=customer,
                mode=mode,
                amount=amount,
                currency=currency,
                payment_method_id=method,
            )
    except IntegrityError:
        existing = (
            Payment.objects.filter(reference=reference)
            .exclude(status__in=[Payment.Status.FAILED, Payment.Status.CANCELED])
            .first()
        )
        if existing is None:
            raise
        return same(existing)


def _payment_send(payment: Payment) -> Payment:
    """Step 2 of a pending payment: create and confirm its PaymentIntent, then record the answer."""
    params: PaymentIntentCreateParams = {
        "amount": payment.amount,
        "currency": payment.currency.lower(),
        "customer": stripe_id(payment.customer.stripe_customer_id),
        "payment_method": payment.payment_method_id,
        "capture_method": "manual",
        "confirm": True,
        "off_session": True,
        "metadata": {"courtier_payment_id": str(payment.pk), "reference": payment.reference},
        "expand": ["latest_charge"],
    }
    api = client().v1
    try:
        intent = create_once(
            payment,
            lambda: api.payment_intents.create(
                params, {"idempotency_key": payment.idempotency_key("authorise")}
            ),
            listed=lambda: api.payment_intents.list(
                {
                    "customer": stripe_id(payment.customer.stripe_customer_id),
                    "created": created_since(payment),
                    "limit": 100,
                }
            ).auto_paging_iter(),
            ours=("courtier_payment_id", payment.pk),
            since=payment.created_at,
        )
    except stripe.CardError as exc:
        return _payment_record_card_error(payment.pk, exc)
    except stripe.InvalidRequestError as exc:
        with transaction.atomic(durable=True):
            locked = lock_objects.payment(payment.pk)
            _payment_fail(locked, exc.code or "invalid_request", _stripe_message(exc))
        return locked
    return _apply_snapshot(payment.pk, _snapshot(intent, with_refunds=False))


def _payment_record_card_error(payment_id: int, exc: stripe.CardError) -> Payment:
    error = exc.error
    intent = _get(error, "payment_intent")
    with transaction.atomic(durable=True):
        payment = lock_objects.payment(payment_id)
        if intent is not None and not payment.stripe_payment_intent_id:
            payment.stripe_payment_intent_id = intent["id"]
            payment.save(update_fields=["stripe_payment_intent_id"])
        if exc.code == "authentication_required" and intent is not None:
            # Off-session card needing 3-D Secure: the buyer confirms it on-session.
            payment.client_secret = _get(intent, "client_secret", "")
            payment.save(update_fields=["client_secret"])
            _payment_transition(
                payment, Payment.Status.REQUIRES_ACTION, "The buyer must authenticate this payment."
            )
        else:
            _payment_fail(
                payment, _get(error, "decline_code") or exc.code or "card_declined", _stripe_message(exc)
            )
    return payment


def payment_authorise(
    *,
    reference: str,
    organisation_id: int,
    amount: int,
    currency: str = "EUR",
    payment_method_id: str | None = None,
    new_attempt: bool = False,
) -> Payment:
    """Authorise `amount` on the organisation's saved card (captured later). Idempotent by
    reference: calling again returns the same payment (finishing it if it was left pending),
    even a failed one, unless `new_attempt` asks to try again after a failure."""
    return _payment_start(
        mode=Payment.Mode.AUTHORISE,
        reference=reference,
        organisation_id=organisation_id,
        amount=amount,
        currency=currency,
        payment_method_id=payment_method_id,
        new_attempt=new_attempt,
    )


def _payment_start(*, mode: str, **terms: Any) -> Payment:
    """Open (or find) the payment for the reference, then send it to Stripe if it is pending."""
    payment = _payment_open(mode=mode, **terms)
    if payment.status == Payment.Status.REQUIRES_ACTION and payment.stripe_payment_intent_id:
        return payment_sync(payment_id=payment.pk)  # the buyer may have authenticated since
    if payment.status != Payment.Status.PENDING:
        return payment
    return _payment_send(payment)


def payment_capture(*, payment_id: int, amount: int | None = None, currency: str | None = None) -> Payment:
    """Capture an authorised payment (all of it, or `amount` of it). Safe to call again."""
    payment = Payment.objects.filter(pk=payment_id).first()
    if payment is None:
        raise NotFound("not_found", "No such payment.")
    if currency is not None:
        _check_currency(payment.currency, currency, what="The capture")
    amount = payment.amount if amount is None else amount
    money.check_amount(amount, payment.currency)
    if amount > payment.amount:
        raise InvalidInput("amount_too_large", "Cannot capture more than was authorised.", field="amount")
    with transaction.atomic(durable=True):
        payment = lock_objects.payment(payment_id)
        if payment.status in Payment.CAPTURED_STATES:
            if payment.capture_requested != amount:
                raise Conflict(
                    "already_captured", f"Payment {payment.pk} was captured for {payment.amount_captured}."
                )
            return payment
        if payment.status != Payment.Status.AUTHORISED:
            raise Conflict(
                "payment_not_authorised", f"Payment {payment.pk} is {payment.status}, not authorised."
            )
        if payment.capture_requested not in (None, amount):
            raise Conflict("capture_in_flight", f"A capture of {payment.capture_requested} is in flight.")
        payment.capture_requested = amount
        payment.updated_at = _now()
        payment.save(update_fields=["capture_requested", "updated_at"])
    return _payment_capture_send(payment)


def _payment_capture_send(payment: Payment) -> Payment:
    if payment.key_generation:  # an earlier capture may have happened: look before capturing
        snapshot = _fetch_snapshot(stripe_id(payment.stripe_payment_intent_id))
        if _required(snapshot.intent, "status") != "requires_capture":
            return _apply_snapshot(payment.pk, snapshot)
    try:
        intent = stripe_call(
            lambda: client().v1.payment_intents.capture(
                stripe_id(payment.stripe_payment_intent_id),
                # capture_requested is recorded before any capture is sent
                {"amount_to_capture": cast(int, payment.capture_requested), "expand": ["latest_charge"]},
                {"idempotency_key": payment.idempotency_key("capture")},
            ),
            payment,
        )
    except stripe.CardError as exc:  # e.g. the authorisation expired
        return _payment_record_card_error(payment.pk, exc)
    except stripe.InvalidRequestError as exc:
        # Already captured or canceled at Stripe: take Stripe's word for it.
        logger.warning("payment %s: capture refused (%s); syncing", payment.pk, exc)
        return payment_sync(payment_id=payment.pk)
    charge = _get(intent, "latest_charge")
    captured_at_stripe = (
        _required(charge, "amount") if charge is not None and not isinstance(charge, str) else None
    )
    release = captured_at_stripe is not None and int(captured_at_stripe) > (payment.capture_requested or 0)
    return _apply_snapshot(payment.pk, _snapshot(intent, with_refunds=release))


def payment_cancel(*, payment_id: int) -> Payment:
    """Release an authorisation (or abandon a payment awaiting authentication)."""
    payment = Payment.objects.filter(pk=payment_id).first()
    if payment is None:
        raise NotFound("not_found", "No such payment.")
    if payment.status in (Payment.Status.CANCELED, Payment.Status.FAILED):
        return payment
    if payment.status not in (
        Payment.Status.PENDING,
        Payment.Status.REQUIRES_ACTION,
        Payment.Status.AUTHORISED,
    ):
        raise Conflict(
            "payment_not_cancelable", f"Payment {payment.pk} is {payment.status}: refund it instead."
        )
    if not payment.stripe_payment_intent_id:
        payment = _payment_send(payment)  # learn what Stripe did with it (same key: no new charge)
        if payment.status in (Payment.Status.CANCELED, Payment.Status.FAILED):
            return payment
        if payment.status not in (Payment.Status.REQUIRES_ACTION, Payment.Status.AUTHORISED):
            raise Conflict("payment_not_cancelable", f"Payment {payment.pk} is {payment.status}.")
    if payment.key_generation:  # an earlier cancel may have happened: look before cancelling
        snapshot = _fetch_snapshot(stripe_id(payment.stripe_payment_intent_id))
        if _required(snapshot.intent, "status") == "canceled":
            return _apply_snapshot(payment.pk, snapshot)
    try:
        intent = stripe_call(
            lambda: client().v1.payment_intents.cancel(
                stripe_id(payment.stripe_payment_intent_id),
                {},
                {"idempotency_key": payment.idempotency_key("cancel")},
            ),
            payment,
        )
    except stripe.InvalidRequestError as exc:
        logger.warning("payment %s: cancel refused (%s); syncing", payment.pk, exc)
        return payment_sync(payment_id=payment.pk)
    return _apply_snapshot(payment.pk, _snapshot(intent, with_refunds=False))


def payment_sync(
    *,
    payment_id: int,
    intent_id: str | None = None,
    disputes: list[StripeData] | None = None,
    reason: str = "",
) -> Payment:
    """Bring the payment up to what Stripe has now (webhooks, the resume sweep). `disputes` are
    dispute objects from events, applied with it."""
    payment = Payment.objects.get(pk=payment_id)
    intent_id = payment.stripe_payment_intent_id or intent_id
    if not intent_id:
        if payment.status == Payment.Status.PENDING:
            return _payment_send(payment)  # same key: learns what Stripe did, charges nothing new
        return payment
    snapshot = _fetch_snapshot(intent_id)
    snapshot.disputes = list(disputes or [])
    return _apply_snapshot(payment.pk, snapshot, reason=reason)

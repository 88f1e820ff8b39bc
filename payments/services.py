"""Every write to payments: buyers' customers and cards, payments (authorise, capture, cancel,
charge off-session, refund), settlement credits, sellers' Connect accounts, payouts and their
reversals, the resume sweep, outcome delivery and reconciliation.

How a Stripe step runs (no network call while holding a lock):
1. validate, then in one short transaction lock, write the row (status pending) and commit;
2. call Stripe with the idempotency key `<row>:<id>:<step>` (no transaction open);
3. in a new transaction re-lock the row, re-check its status, record what Stripe answered, post
   the ledger (idempotent keys from our row ids) and write the status event, commit.
If 3 never happens (crash, timeout), the row stays pending; running the step again (the caller's
retry, a webhook, or the resume sweep) replays the same key, so Stripe does it once and we record
it once. Declines and authentication requests are final answers, never retried blindly.
See payments/postings.py for the chart of accounts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import stripe
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q, Sum
from django.utils import timezone

from accounts.errors import Conflict, InvalidInput, NotFound
from accounts.models import BuyerOrganisation
from payments import handlers, ledger, lock_objects, money, postings
from payments.models import (
    ConnectAccount,
    Dispute,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Payment,
    PaymentEvent,
    Payout,
    PayoutEvent,
    PayoutReversal,
    Refund,
    SettlementShare,
    StripeCustomer,
)
from payments.stripe_calls import (
    UNDECIDED,
    StripeUnavailable,
    create_once,
    created_since,
    stripe_call,
    stripe_reachable,
)
from payments.stripe_client import client, connect_client

logger = logging.getLogger(__name__)
A = LedgerAccount.Purpose
K = LedgerTransaction.Kind
PS = Payment.Status
# Stripe keeps idempotency keys 24 hours: past this, a pending step needs a human.
RESUME_LIMIT = timedelta(hours=23)


class UnknownStripeObject(NotFound):
    """An event or answer about a Stripe object we never created: nothing is changed."""


def _now() -> datetime:
    return timezone.now()


def _from_timestamp(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value), tz=UTC) if value else _now()


def _get(obj: Any, key: str, default: Any = None) -> Any:
    if obj is None:
        return default
    try:
        value = obj[key]
    except (KeyError, TypeError):
        return default
    return default if value is None else value


def _id_of(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return _get(value, "id")


def _stripe_message(exc: stripe.StripeError) -> str:
    return (exc.user_message or str(exc) or exc.__class__.__name__)[:500]


def _on_commit_task(task_name: str, *args: Any) -> None:
    """Queue a payments task after commit; a broker hiccup is logged, and a sweep catches up."""

    def send() -> None:
        from payments import tasks

        getattr(tasks, task_name).delay(*args)

    transaction.on_commit(send, robust=True)


def _check_currency(expected: str, got: str | None, *, what: str) -> None:
    if (got or "").upper() != expected.upper():
        raise InvalidInput(
            "currency_mismatch",
            f"{what} is in {(got or '?').upper()}, expected {expected.upper()}.",
            field="currency",
        )


# --- Buyers: Stripe customers and saved cards ---------------------------------------------------


def stripe_customer_ensure(*, organisation_id: int) -> StripeCustomer:
    """The organisation's Stripe Customer, created at Stripe on first use."""
    organisation = BuyerOrganisation.objects.filter(pk=organisation_id).first()
    if organisation is None:
        raise NotFound("organisation_unknown", "No such organisation.")
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
        listed = api.setup_intents.list({"customer": customer.stripe_customer_id, "limit": 20}).data
    intent = next(
        (
            i
            for i in listed
            if _get(i, "status") in SETUP_OPEN
            and str(_get(_get(i, "metadata", {}), "courtier_customer_id")) == str(customer.pk)
        ),
        None,
    )
    for _attempt in range(2):
        if intent is not None:
            break
        key = customer.idempotency_key(f"setup_intent:{customer.setup_intents_created}")
        intent = stripe_call(
            lambda key=key: api.setup_intents.create(
                {
                    "customer": customer.stripe_customer_id,
                    "usage": "off_session",
                    "payment_method_types": ["card"],
                    "metadata": {"courtier_customer_id": str(customer.pk)},
                },
                {"idempotency_key": key},
            ),
            customer,
        )
        if _get(intent, "status") not in SETUP_OPEN:  # the key's SetupIntent was used: the next one
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
            if _get(intent, "status") != "succeeded":
                raise Conflict(
                    "setup_intent_not_succeeded",
                    f"The SetupIntent is {_get(intent, 'status')}: confirm it with Stripe.js first.",
                    field="setup_intent",
                )
            payment_method_id = _id_of(_get(intent, "payment_method"))
        method = api.payment_methods.retrieve(payment_method_id)
        owner = _id_of(_get(method, "customer"))
        if owner and owner != customer.stripe_customer_id:
            raise InvalidInput("payment_method_unknown", "No such payment method.", field="payment_method")
        if _get(method, "type") != "card":
            raise InvalidInput(
                "payment_method_unsupported", "Only cards are accepted.", field="payment_method"
            )
        if not owner:
            method = api.payment_methods.attach(
                method["id"],
                {"customer": customer.stripe_customer_id},
                {"idempotency_key": customer.idempotency_key(f"attach:{method['id']}")},
            )
        api.customers.update(
            customer.stripe_customer_id,
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


# --- Payments: status changes --------------------------------------------------------------------


def _payment_transition(payment: Payment, to: str, reason: str = "") -> bool:
    """Move the payment to `to` if the table allows it, with its event (the outbox row).

    Requires: the payment's row lock (lock_objects.payment). A move the table refuses is a
    stale or out-of-order fact: it is logged and ignored, never applied.
    """
    if payment.status == to:
        return False
    if to not in Payment.TRANSITIONS[payment.status]:
        logger.info("payment %s: ignoring %s → %s (%s)", payment.pk, payment.status, to, reason)
        return False
    PaymentEvent.objects.create(
        payment=payment, from_status=payment.status, to_status=to, reason=reason[:200]
    )
    payment.status = to
    payment.updated_at = _now()
    payment.save(update_fields=["status", "updated_at"])  # every other field is saved where it changes
    _on_commit_task("payment_outcomes_deliver")
    return True


def _payment_derive_after_capture(payment: Payment, reason: str) -> None:
    """Once captured, the status follows from the facts (refunds, disputes), whatever their order.

    Requires: the payment's row lock.
    """
    if payment.status not in Payment.CAPTURED_STATES:
        return
    disputes = set(payment.disputes.values_list("status", flat=True))
    if Dispute.Status.OPEN in disputes:
        target = PS.DISPUTED
    elif Dispute.Status.LOST in disputes:
        target = PS.DISPUTE_LOST
    elif payment.amount_refunded and payment.amount_refunded >= payment.amount_captured:
        target = PS.REFUNDED
    elif payment.amount_refunded:
        target = PS.PARTIALLY_REFUNDED
    else:
        target = PS.CAPTURED
    _payment_transition(payment, target, reason)


# --- Payments: what Stripe says, applied ---------------------------------------------------------


@dataclass
class IntentSnapshot:
    """A PaymentIntent as Stripe has it now, with its charge and the charge's refunds."""

    intent: Mapping[str, Any]
    charge: Mapping[str, Any] | None = None
    refunds: list[Mapping[str, Any]] = field(default_factory=list)
    disputes: list[Mapping[str, Any]] = field(default_factory=list)


def _snapshot(intent: Mapping[str, Any], *, with_refunds: bool) -> IntentSnapshot:
    """Complete a PaymentIntent answer with its charge and (if asked) the charge's refunds."""
    charge = _get(intent, "latest_charge")
    with stripe_reachable():
        if isinstance(charge, str):
            charge = client().v1.charges.retrieve(charge)
        refunds: list[Mapping[str, Any]] = []
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
            raise UnknownStripeObject(
                "payment_intent_unknown", f"Stripe has no PaymentIntent {intent_id}."
            ) from exc
        raise
    except UNDECIDED as exc:
        raise StripeUnavailable("stripe_unavailable", _stripe_message(exc)) from exc
    return _snapshot(intent, with_refunds=True)


def _lock_books(payment: Payment) -> postings.SellerBooks | None:
    """Lock and read the books of the payment's sellers (after settlement). Requires its lock."""
    if payment.settled_at is None:
        return None
    seller_ids = list(payment.settlement_shares.values_list("seller_id", flat=True))
    lock_objects.seller_accounts(seller_ids, payment.currency)
    return postings.SellerBooks(seller_ids, payment.currency)


def _apply_snapshot(payment_id: int, snapshot: IntentSnapshot, *, reason: str = "") -> Payment:
    """Record a PaymentIntent's state (and its refunds and disputes) on our payment, once."""
    owed: dict[int, int] = {}
    with transaction.atomic(durable=True):
        payment = lock_objects.payment(payment_id)
        books = _lock_books(payment)
        _apply_intent(payment, snapshot, reason)
        if payment.status in Payment.CAPTURED_STATES:
            for refund in sorted(snapshot.refunds, key=lambda r: (_get(r, "created", 0), r["id"])):
                owed.update(_apply_refund(payment, refund, books))
            for dispute in snapshot.disputes:
                owed.update(_apply_dispute(payment, dispute, books))
            _payment_derive_after_capture(payment, reason or "as Stripe reports it")
        for seller_id in owed:
            _on_commit_task("payout_recover", seller_id, payment.currency)
    return payment


def _apply_intent(payment: Payment, snapshot: IntentSnapshot, reason: str) -> None:
    """Requires: the payment's row lock."""
    intent = snapshot.intent
    if payment.stripe_payment_intent_id and payment.stripe_payment_intent_id != intent["id"]:
        raise Conflict("payment_intent_mismatch", f"Payment {payment.pk} belongs to another PaymentIntent.")
    _check_currency(payment.currency, _get(intent, "currency"), what=f"PaymentIntent {intent['id']}")
    if int(_get(intent, "amount", 0)) != payment.amount:
        raise InvalidInput("amount_mismatch", f"PaymentIntent {intent['id']} is for another amount.")
    if not payment.stripe_payment_intent_id:
        payment.stripe_payment_intent_id = intent["id"]
        payment.last_error = ""
        payment.save(update_fields=["stripe_payment_intent_id", "last_error"])
    status = _get(intent, "status")
    if status in ("requires_action", "requires_confirmation"):
        payment.client_secret = _get(intent, "client_secret", "")
        payment.save(update_fields=["client_secret"])
        _payment_transition(
            payment,
            PS.REQUIRES_ACTION,
            reason or "The buyer must confirm this payment (card authentication).",
        )
    elif status == "requires_capture":
        _payment_transition(payment, PS.AUTHORISED, reason or "authorised")
    elif status == "succeeded":
        _record_capture(payment, snapshot)
    elif status == "canceled":
        _payment_transition(
            payment, PS.CANCELED, reason or f"canceled ({_get(intent, 'cancellation_reason', '')})"
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
    if payment.status not in (PS.PENDING, PS.REQUIRES_ACTION, PS.AUTHORISED):
        return
    payment.failure_code = str(code)[:64]
    payment.failure_message = (message or "The payment was declined.")[:500]
    payment.save(update_fields=["failure_code", "failure_message"])
    _payment_transition(payment, PS.FAILED, payment.failure_message)


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
    _check_currency(payment.currency, _get(charge, "currency"), what=f"Charge {charge['id']}")
    # what Stripe booked to our balance for this charge
    gross = int(_get(charge, "amount_captured") or _get(charge, "amount"))
    if payment.status in Payment.CAPTURED_STATES:
        return
    payment.stripe_charge_id = charge["id"]
    payment.amount_captured = min(payment.capture_requested or gross, gross, payment.amount)
    if payment.capture_requested is None:
        payment.capture_requested = payment.amount_captured
    payment.last_error = ""
    payment.save(update_fields=["stripe_charge_id", "amount_captured", "capture_requested", "last_error"])
    postings.post_capture(payment, gross)
    _payment_transition(payment, PS.CAPTURED, "captured")


def _release_expected(payment: Payment) -> int:
    """The uncaptured part of a partial capture not yet seen as released (Stripe may show it as a
    refund of the charge: no money of ours moves)."""
    if not payment.stripe_charge_id:
        return 0
    released = payment.refunds.filter(kind=Refund.Kind.CAPTURE_RELEASE).aggregate(t=Sum("amount"))["t"] or 0
    return max(payment.amount - payment.amount_captured - released, 0)


def _refund_transition(refund: Refund, to: str) -> bool:
    if refund.status == to:
        return False
    if to not in Refund.TRANSITIONS[refund.status]:
        logger.info("refund %s: ignoring %s → %s", refund.pk, refund.status, to)
        return False
    refund.status = to
    refund.updated_at = _now()
    refund.save()
    return True


def _apply_refund(
    payment: Payment, data: Mapping[str, Any], books: postings.SellerBooks | None
) -> dict[int, int]:
    """Record one Stripe refund of this payment's charge, once. Requires: the payment's lock and
    the sellers' locks (books). Returns the receivables it booked, per seller."""
    _check_currency(payment.currency, _get(data, "currency"), what=f"Refund {data['id']}")
    refund = Refund.objects.filter(stripe_refund_id=data["id"]).first()
    if refund is None:
        ours = _get(_get(data, "metadata", {}), "courtier_refund_id")
        if ours:
            refund = Refund.objects.filter(
                pk=int(ours), payment=payment, stripe_refund_id__isnull=True
            ).first()
    if refund is not None and refund.payment_id != payment.pk:
        raise Conflict("refund_mismatch", f"Refund {data['id']} belongs to another payment.")
    amount = int(data["amount"])
    if refund is None:
        release = _release_expected(payment)
        kind = Refund.Kind.CAPTURE_RELEASE if release and amount == release else Refund.Kind.REFUND
        refund = Refund.objects.create(
            payment=payment,
            kind=kind,
            amount=amount,
            currency=payment.currency,
            stripe_refund_id=data["id"],
            reason="uncaptured part released"
            if kind == Refund.Kind.CAPTURE_RELEASE
            else "refunded at Stripe",
        )
    elif not refund.stripe_refund_id:
        refund.stripe_refund_id = data["id"]
        refund.save(update_fields=["stripe_refund_id"])
    status = _get(data, "status")
    if status == "succeeded":
        return _refund_succeed(payment, refund, books)
    if status in ("failed", "canceled"):
        refund.failure_message = str(_get(data, "failure_reason", status))[:500]
        refund.save(update_fields=["failure_message"])
        _refund_transition(refund, Refund.Status.FAILED if status == "failed" else Refund.Status.CANCELED)
    return {}


def _refund_succeed(payment: Payment, refund: Refund, books: postings.SellerBooks | None) -> dict[int, int]:
    """Post the refund and, after settlement, take it back from sellers and the fee.

    Requires: the payment's lock and the sellers' locks (books).
    """
    if refund.status == Refund.Status.SUCCEEDED:
        return {}
    if refund.kind == Refund.Kind.CAPTURE_RELEASE:  # never captured: nothing of ours moves
        _refund_transition(refund, Refund.Status.SUCCEEDED)
        return {}
    if payment.amount_refunded + refund.amount > payment.amount_captured:
        raise InvalidInput("refund_too_large", f"Refund {refund.stripe_refund_id} exceeds what was captured.")
    lines, owed = postings.loss_lines(payment, refund.amount, A.REFUNDS, books)
    postings.post(
        K.REFUND, payment.reference, f"refund:{refund.pk}", lines, f"refund {refund.stripe_refund_id}"
    )
    _refund_transition(refund, Refund.Status.SUCCEEDED)
    Payment.objects.filter(pk=payment.pk).update(amount_refunded=F("amount_refunded") + refund.amount)
    payment.refresh_from_db(fields=["amount_refunded"])
    return owed


DISPUTE_STATUS = {
    "won": Dispute.Status.WON,
    "warning_closed": Dispute.Status.WON,
    "lost": Dispute.Status.LOST,
}


def _apply_dispute(
    payment: Payment, data: Mapping[str, Any], books: postings.SellerBooks | None
) -> dict[int, int]:
    """Record a dispute and the money it moved (its balance transactions), once each.

    Requires: the payment's lock and the sellers' locks (books).
    """
    _check_currency(payment.currency, _get(data, "currency"), what=f"Dispute {data['id']}")
    amount = int(_get(data, "amount", 0))
    if amount <= 0:
        raise InvalidInput("amount_invalid", f"Dispute {data['id']} has no positive amount.")
    dispute, _created = Dispute.objects.get_or_create(
        stripe_dispute_id=data["id"],
        defaults={
            "payment": payment,
            "amount": amount,
            "currency": payment.currency,
            "reason": str(_get(data, "reason", ""))[:64],
            "opened_at": _from_timestamp(_get(data, "created")),
        },
    )
    if dispute.payment_id != payment.pk:
        raise Conflict("dispute_mismatch", f"Dispute {data['id']} belongs to another payment.")
    owed: dict[int, int] = {}
    for txn in _get(data, "balance_transactions", []):
        if isinstance(txn, str):
            continue  # not expanded: the fund movement arrives with a later event
        _check_currency(payment.currency, _get(txn, "currency"), what=f"Balance transaction {txn['id']}")
        moved = int(txn["amount"])
        key = f"dispute:{dispute.pk}:{txn['id']}"
        if LedgerTransaction.objects.filter(idempotency_key=key).exists():
            continue  # posted by an earlier event (building its lines again would move the books)
        if moved < 0:
            lines, booked = postings.loss_lines(payment, -moved, A.DISPUTES, books)
            postings.post(K.DISPUTE, payment.reference, key, lines, f"chargeback {data['id']}")
            owed.update(booked)
        elif moved > 0:
            lines = postings.gain_lines(payment, moved, A.DISPUTES, books)
            postings.post(K.DISPUTE_WON, payment.reference, key, lines, f"chargeback {data['id']} reinstated")
    target = DISPUTE_STATUS.get(_get(data, "status", ""), Dispute.Status.OPEN)
    dispute.stripe_status = str(_get(data, "status", ""))[:32]
    if target != dispute.status and target in Dispute.TRANSITIONS[dispute.status]:
        dispute.status = target
        dispute.closed_at = _now()
    dispute.save()
    return owed


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
    if existing is not None and not (new_attempt and existing.status in (PS.FAILED, PS.CANCELED)):
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
                capture_requested=amount if mode == Payment.Mode.OFF_SESSION else None,
            )
    except IntegrityError:
        existing = (
            Payment.objects.filter(reference=reference).exclude(status__in=[PS.FAILED, PS.CANCELED]).first()
        )
        if existing is None:
            raise
        return same(existing)


def _payment_send(payment: Payment) -> Payment:
    """Step 2 of a pending payment: create and confirm its PaymentIntent, then record the answer."""
    manual = payment.mode == Payment.Mode.AUTHORISE
    params: dict[str, Any] = {
        "amount": payment.amount,
        "currency": payment.currency.lower(),
        "customer": payment.customer.stripe_customer_id,
        "payment_method": payment.payment_method_id,
        "capture_method": "manual" if manual else "automatic",
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
                    "customer": payment.customer.stripe_customer_id,
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
            _payment_transition(payment, PS.REQUIRES_ACTION, "The buyer must authenticate this payment.")
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


def payment_charge_off_session(
    *,
    reference: str,
    organisation_id: int,
    amount: int,
    currency: str = "EUR",
    payment_method_id: str | None = None,
    new_attempt: bool = False,
) -> Payment:
    """Charge the saved card at once, the buyer not present. Idempotent by reference."""
    return _payment_start(
        mode=Payment.Mode.OFF_SESSION,
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
    if payment.status == PS.REQUIRES_ACTION and payment.stripe_payment_intent_id:
        return payment_sync(payment_id=payment.pk)  # the buyer may have authenticated since
    if payment.status != PS.PENDING:
        return payment
    return _payment_send(payment)


def payment_capture(*, payment_id: int, amount: int | None = None, currency: str | None = None) -> Payment:
    """Capture an authorised payment (all of it, or `amount` of it). Safe to call again."""
    payment = Payment.objects.filter(pk=payment_id).first()
    if payment is None:
        raise NotFound("payment_unknown", "No such payment.")
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
        if payment.status != PS.AUTHORISED:
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
        snapshot = _fetch_snapshot(payment.stripe_payment_intent_id)
        if _get(snapshot.intent, "status") != "requires_capture":
            return _apply_snapshot(payment.pk, snapshot)
    try:
        intent = stripe_call(
            lambda: client().v1.payment_intents.capture(
                payment.stripe_payment_intent_id,
                {"amount_to_capture": payment.capture_requested, "expand": ["latest_charge"]},
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
        _get(charge, "amount") if charge is not None and not isinstance(charge, str) else None
    )
    release = captured_at_stripe is not None and int(captured_at_stripe) > (payment.capture_requested or 0)
    return _apply_snapshot(payment.pk, _snapshot(intent, with_refunds=release))


def payment_cancel(*, payment_id: int) -> Payment:
    """Release an authorisation (or abandon a payment awaiting authentication)."""
    payment = Payment.objects.filter(pk=payment_id).first()
    if payment is None:
        raise NotFound("payment_unknown", "No such payment.")
    if payment.status in (PS.CANCELED, PS.FAILED):
        return payment
    if payment.status not in (PS.PENDING, PS.REQUIRES_ACTION, PS.AUTHORISED):
        raise Conflict(
            "payment_not_cancelable", f"Payment {payment.pk} is {payment.status}: refund it instead."
        )
    if not payment.stripe_payment_intent_id:
        payment = _payment_send(payment)  # learn what Stripe did with it (same key: no new charge)
        if payment.status in (PS.CANCELED, PS.FAILED):
            return payment
        if payment.status not in (PS.REQUIRES_ACTION, PS.AUTHORISED):
            raise Conflict("payment_not_cancelable", f"Payment {payment.pk} is {payment.status}.")
    if payment.key_generation:  # an earlier cancel may have happened: look before cancelling
        snapshot = _fetch_snapshot(payment.stripe_payment_intent_id)
        if _get(snapshot.intent, "status") == "canceled":
            return _apply_snapshot(payment.pk, snapshot)
    try:
        intent = stripe_call(
            lambda: client().v1.payment_intents.cancel(
                payment.stripe_payment_intent_id, {}, {"idempotency_key": payment.idempotency_key("cancel")}
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
    disputes: list[Mapping[str, Any]] | None = None,
    reason: str = "",
) -> Payment:
    """Bring the payment up to what Stripe has now (webhooks, the resume sweep). `disputes` are
    dispute objects from events, applied with it."""
    payment = Payment.objects.get(pk=payment_id)
    intent_id = payment.stripe_payment_intent_id or intent_id
    if not intent_id:
        if payment.status == PS.PENDING:
            return _payment_send(payment)  # same key: learns what Stripe did, charges nothing new
        return payment
    snapshot = _fetch_snapshot(intent_id)
    snapshot.disputes = list(disputes or [])
    return _apply_snapshot(payment.pk, snapshot, reason=reason)


def payment_refund(
    *, payment_id: int, amount: int | None = None, currency: str | None = None, reason: str = ""
) -> Refund:
    """Refund the buyer (all that is left, or `amount`). After settlement the sellers' shares and
    the fee are taken back: from their payable balance, else by reversing a transfer, else as a
    receivable."""
    payment = Payment.objects.filter(pk=payment_id).first()
    if payment is None:
        raise NotFound("payment_unknown", "No such payment.")
    if currency is not None:
        _check_currency(payment.currency, currency, what="The refund")
    with transaction.atomic(durable=True):
        payment = lock_objects.payment(payment_id)
        if payment.status not in (PS.CAPTURED, PS.PARTIALLY_REFUNDED):
            raise Conflict("payment_not_refundable", f"Payment {payment.pk} is {payment.status}.")
        in_flight = (
            payment.refunds.filter(kind=Refund.Kind.REFUND, status=Refund.Status.PENDING).aggregate(
                t=Sum("amount")
            )["t"]
            or 0
        )
        refundable = payment.amount_captured - payment.amount_refunded - in_flight
        amount = refundable if amount is None else amount
        money.check_amount(amount, payment.currency)
        if amount > refundable:
            raise InvalidInput("amount_too_large", f"At most {refundable} can be refunded.", field="amount")
        refund = Refund.objects.create(
            payment=payment, amount=amount, currency=payment.currency, reason=reason[:200]
        )
    return _refund_send(refund)


def _refund_send(refund: Refund) -> Refund:
    payment = refund.payment
    api = client().v1
    try:
        created = create_once(
            refund,
            lambda: api.refunds.create(
                {
                    "payment_intent": payment.stripe_payment_intent_id,
                    "amount": refund.amount,
                    "metadata": {
                        "courtier_refund_id": str(refund.pk),
                        "courtier_payment_id": str(payment.pk),
                    },
                },
                {"idempotency_key": refund.idempotency_key("create")},
            ),
            listed=lambda: api.refunds.list(
                {"payment_intent": payment.stripe_payment_intent_id, "limit": 100}
            ).auto_paging_iter(),
            ours=("courtier_refund_id", refund.pk),
        )
    except stripe.InvalidRequestError as exc:
        with transaction.atomic(durable=True):
            locked = Refund.objects.select_for_update().get(pk=refund.pk)
            locked.failure_message = _stripe_message(exc)
            locked.save(update_fields=["failure_message"])
            _refund_transition(locked, Refund.Status.FAILED)
        raise Conflict("refund_refused", _stripe_message(exc)) from exc
    owed: dict[int, int] = {}
    with transaction.atomic(durable=True):
        payment = lock_objects.payment(payment.pk)
        books = _lock_books(payment)
        owed = _apply_refund(payment, created, books)
        _payment_derive_after_capture(payment, "refunded")
        for seller_id in owed:
            _on_commit_task("payout_recover", seller_id, payment.currency)
    refund.refresh_from_db()
    return refund


# --- Settlement -----------------------------------------------------------------------------------


def settlement_credit(
    *, reference: str, payment: Payment | int, seller_shares: list[tuple[int, int]], fee_bps: int
) -> LedgerTransaction:
    """Credit each seller their share of a captured payment, less the platform fee.

    `seller_shares` is [(seller_id, gross share in minor units)], summing to what was captured.
    Dr buyer_charges / Cr seller_payable (net, per seller) / Cr platform_fees. Runs inside the
    caller's transaction (marketplace holds its Trade lock); idempotent by payment.
    """
    if not isinstance(fee_bps, int) or not 0 <= fee_bps <= money.BPS:
        raise InvalidInput("fee_invalid", "The fee is 0 to 10,000 basis points.", field="fee_bps")
    if not seller_shares:
        raise InvalidInput("shares_required", "At least one seller share is needed.", field="seller_shares")
    seen: set[int] = set()
    for seller_id, amount in seller_shares:
        money.check_amount(amount, "EUR", field="seller_shares")
        if seller_id in seen:
            raise InvalidInput(
                "shares_duplicate", f"Seller {seller_id} appears twice.", field="seller_shares"
            )
        seen.add(seller_id)
    sellers = set(get_user_model().objects.filter(pk__in=seen, role="seller").values_list("pk", flat=True))
    if sellers != seen:
        raise InvalidInput("seller_unknown", f"Not sellers: {sorted(seen - sellers)}.", field="seller_shares")
    payment_id = payment.pk if isinstance(payment, Payment) else payment
    with transaction.atomic():
        locked = Payment.objects.select_for_update(of=("self",)).filter(pk=payment_id).first()
        if locked is None:
            raise NotFound("payment_unknown", "No such payment.")
        if locked.reference != reference:
            raise InvalidInput(
                "reference_mismatch", "This payment is for another reference.", field="reference"
            )
        key = f"payment:{locked.pk}:settlement"
        if locked.settled_at is not None:
            done = {(s.seller_id, s.gross, s.fee) for s in locked.settlement_shares.all()}
            asked = {
                (seller, amount, money.fee_split(amount, fee_bps).fee) for seller, amount in seller_shares
            }
            if done != asked:
                raise Conflict("already_settled", "This payment was settled with other shares.")
            return LedgerTransaction.objects.get(idempotency_key=key)
        if locked.status != PS.CAPTURED:
            raise Conflict("payment_not_settleable", f"Payment {locked.pk} is {locked.status}, not captured.")
        total = sum(amount for _seller, amount in seller_shares)
        if total != locked.amount_captured:
            raise InvalidInput(
                "shares_mismatch",
                f"Shares add up to {total}, {locked.amount_captured} was captured.",
                field="seller_shares",
            )
        lock_objects.seller_accounts(seen, locked.currency)
        books = postings.SellerBooks(seen, locked.currency)
        shares = []
        for seller_id, amount in sorted(seller_shares):
            split = money.fee_split(amount, fee_bps)
            shares.append(
                SettlementShare(
                    payment=locked,
                    seller_id=seller_id,
                    gross=amount,
                    fee=split.fee,
                    net=split.seller_share,
                    currency=locked.currency,
                )
            )
        SettlementShare.objects.bulk_create(shares)
        posted = postings.post(
            K.SETTLEMENT,
            reference,
            key,
            postings.settlement_lines(locked, shares, books),
            f"settlement of payment {locked.pk}",
        )
        locked.settled_at = _now()
        locked.save(update_fields=["settled_at"])
    return posted


# --- Sellers: Connect accounts --------------------------------------------------------------------


def connect_account_ensure(*, seller_id: int) -> ConnectAccount:
    """The seller's Express account, created at Stripe on first use."""
    seller = get_user_model().objects.filter(pk=seller_id).first()
    if seller is None or seller.role != "seller" or seller.erased_at or not seller.is_active:
        raise InvalidInput("not_a_seller", "Only an active seller can be paid.")
    with transaction.atomic(durable=True):
        account, _created = ConnectAccount.objects.get_or_create(seller=seller)
    if account.stripe_account_id:
        return account
    api = connect_client().v1
    created = create_once(
        account,
        lambda: api.accounts.create(
            {
                "type": "express",
                "country": settings.STRIPE_CONNECT_COUNTRY,
                "email": seller.email,
                "business_type": "individual",
                "capabilities": {"transfers": {"requested": True}},
                "metadata": {"courtier_seller_id": str(seller.pk)},
            },
            {"idempotency_key": account.idempotency_key("create")},
        ),
        listed=lambda: api.accounts.list(
            {"created": created_since(account), "limit": 100}
        ).auto_paging_iter(),
        ours=("courtier_seller_id", seller.pk),
        since=account.created_at,
    )
    with transaction.atomic(durable=True):
        account = ConnectAccount.objects.select_for_update().get(pk=account.pk)
        if not account.stripe_account_id:
            account.stripe_account_id = created["id"]
            _copy_account_state(account, created)
            account.save()
    return account


def _copy_account_state(account: ConnectAccount, data: Mapping[str, Any]) -> None:
    account.payouts_enabled = bool(_get(data, "payouts_enabled", False))
    account.charges_enabled = bool(_get(data, "charges_enabled", False))
    account.details_submitted = bool(_get(data, "details_submitted", False))
    requirements = _get(data, "requirements", {})
    account.requirements = {
        name: _get(requirements, name)
        for name in ("currently_due", "past_due", "eventually_due", "disabled_reason", "current_deadline")
    }
    account.updated_at = _now()


def connect_onboarding_link_create(*, seller_id: int, refresh_url: str, return_url: str) -> str:
    """A one-time Stripe-hosted onboarding URL (Account Link) for the seller's Express account.

    Account Links are single-use and expire within minutes, so each request makes a new one.
    """
    account = connect_account_ensure(seller_id=seller_id)
    with stripe_reachable():
        link = connect_client().v1.account_links.create(
            {
                "account": account.stripe_account_id,
                "refresh_url": refresh_url,
                "return_url": return_url,
                "type": "account_onboarding",
            }
        )
    return link["url"]


def connect_account_sync(*, stripe_account_id: str) -> ConnectAccount:
    """Refresh payouts_enabled and the outstanding requirements from Stripe (account.updated)."""
    if not ConnectAccount.objects.filter(stripe_account_id=stripe_account_id).exists():
        raise UnknownStripeObject("account_unknown", f"No seller has Connect account {stripe_account_id}.")
    with stripe_reachable():
        data = connect_client().v1.accounts.retrieve(stripe_account_id)
    with transaction.atomic(durable=True):
        account = ConnectAccount.objects.select_for_update().get(stripe_account_id=stripe_account_id)
        _copy_account_state(account, data)
        account.save()
    return account


# --- Payouts --------------------------------------------------------------------------------------


def _payout_transition(payout: Payout, to: str, reason: str = "") -> bool:
    """Requires: the payout's row lock."""
    if payout.status == to:
        return False
    if to not in Payout.TRANSITIONS[payout.status]:
        logger.info("payout %s: ignoring %s → %s (%s)", payout.pk, payout.status, to, reason)
        return False
    PayoutEvent.objects.create(payout=payout, from_status=payout.status, to_status=to, reason=reason[:200])
    payout.status = to
    payout.updated_at = _now()
    payout.save()
    return True


def _each_seller(what: str, step: Any, seller_ids: Any) -> Iterator[int]:
    """Run a sweep's step per seller; one seller's failure is logged and the others go on (the
    next sweep tries that seller again)."""
    for seller_id in list(seller_ids):
        try:
            yield int(step(seller_id))
        except Exception:  # one seller must not stop the sweep
            logger.exception("%s sweep: seller %s failed; the next sweep retries", what, seller_id)


def payout_sweep(*, currency: str = "EUR") -> int:
    """Batch every payout-enabled seller's payable balance past the threshold into a payout."""
    threshold = settings.PAYOUT_THRESHOLD_CENTS
    due = (
        LedgerEntry.objects.filter(
            account__purpose=A.SELLER_PAYABLE,
            account__currency=currency,
            account__seller__connect_account__payouts_enabled=True,
        )
        .values("account__seller_id")
        .annotate(total=Sum("amount"))
        .filter(total__lte=-threshold)
        .order_by("account__seller_id")
        .values_list("account__seller_id", flat=True)[: settings.PAYOUT_SWEEP_BATCH_SIZE]
    )
    return sum(
        _each_seller(
            "payout", lambda seller_id: payout_create(seller_id=seller_id, currency=currency) is not None, due
        )
    )


def payout_create(*, seller_id: int, currency: str = "EUR") -> Payout | None:
    """Write a pending payout of the seller's available payable balance (if past the threshold);
    its transfer is sent after commit. None if there is nothing to pay or one is in flight."""
    account = ConnectAccount.objects.filter(seller_id=seller_id).first()
    if account is None or not account.payouts_enabled or not account.stripe_account_id:
        return None
    try:
        with transaction.atomic(durable=True):
            lock_objects.seller_accounts([seller_id], currency)
            books = postings.SellerBooks([seller_id], currency)
            available = books.available[seller_id]
            if available < settings.PAYOUT_THRESHOLD_CENTS:
                return None
            payout = Payout.objects.create(
                seller_id=seller_id, connect_account=account, amount=available, currency=currency
            )
            payout.transfer_group = f"payout:{payout.pk}"
            payout.save(update_fields=["transfer_group"])
            _on_commit_task("payout_transfer", payout.pk)
    except IntegrityError:  # another payout of this seller is waiting for its transfer
        return None
    return payout


def payout_transfer(*, payout_id: int) -> Payout:
    """Send a pending payout's Transfer to the seller's Connect account, then record it."""
    payout = Payout.objects.select_related("connect_account").get(pk=payout_id)
    if payout.status != Payout.Status.PENDING:
        return payout
    api = connect_client().v1
    try:
        transfer = create_once(
            payout,
            lambda: api.transfers.create(
                {
                    "amount": payout.amount,
                    "currency": payout.currency.lower(),
                    "destination": payout.connect_account.stripe_account_id,
                    "transfer_group": payout.transfer_group,
                    "description": f"Courtier earnings, payout {payout.pk}",
                    "metadata": {
                        "courtier_payout_id": str(payout.pk),
                        "courtier_seller_id": str(payout.seller_id),
                    },
                },
                {"idempotency_key": payout.idempotency_key("transfer")},
            ),
            listed=lambda: api.transfers.list(
                {"transfer_group": payout.transfer_group, "limit": 100}
            ).auto_paging_iter(),
            ours=("courtier_payout_id", payout.pk),
        )
    except (stripe.InvalidRequestError, stripe.PermissionError) as exc:
        with transaction.atomic(durable=True):
            locked = lock_objects.payout(payout.pk)
            if locked.status == Payout.Status.PENDING:
                locked.failure_code = (exc.code or "transfer_refused")[:64]
                locked.failure_message = _stripe_message(exc)
                locked.save(update_fields=["failure_code", "failure_message"])
                _payout_transition(locked, Payout.Status.FAILED, locked.failure_message)
        return locked
    return _payout_record_transfer(payout.pk, transfer)


def _payout_record_transfer(payout_id: int, transfer: Mapping[str, Any]) -> Payout:
    payout = Payout.objects.get(pk=payout_id)
    with transaction.atomic(durable=True):
        lock_objects.seller_accounts([payout.seller_id], payout.currency)
        payout = lock_objects.payout(payout_id)
        if payout.transfer_id and payout.transfer_id != transfer["id"]:
            raise Conflict(
                "transfer_mismatch", f"Payout {payout.pk} already has transfer {payout.transfer_id}."
            )
        if int(transfer["amount"]) != payout.amount:
            raise InvalidInput("amount_mismatch", f"Transfer {transfer['id']} is for another amount.")
        _check_currency(payout.currency, _get(transfer, "currency"), what=f"Transfer {transfer['id']}")
        if payout.status == Payout.Status.PENDING:
            payout.transfer_id = transfer["id"]
            payout.transferred_at = _now()
            payout.last_error = ""
            payout.save(update_fields=["transfer_id", "transferred_at", "last_error"])
            postings.post_payout(payout)
            _payout_transition(payout, Payout.Status.IN_TRANSIT, f"transfer {transfer['id']}")
    _sync_reversals(payout.pk, transfer)
    return payout


def payout_sync_transfer(*, transfer_id: str, payout_hint: str | None = None) -> Payout:
    """transfer.created / transfer.reversed: record the transfer and its reversals, once."""
    payout = Payout.objects.filter(transfer_id=transfer_id).first()
    if payout is None and payout_hint and payout_hint.isdigit():
        payout = Payout.objects.filter(pk=int(payout_hint), transfer_id__isnull=True).first()
    if payout is None:
        raise UnknownStripeObject("transfer_unknown", f"No payout made transfer {transfer_id}.")
    with stripe_reachable():
        transfer = connect_client().v1.transfers.retrieve(transfer_id)
    if _get(transfer, "destination") != payout.connect_account.stripe_account_id:
        raise Conflict("transfer_mismatch", f"Transfer {transfer_id} went to another account.")
    return _payout_record_transfer(payout.pk, transfer)


def _sync_reversals(payout_id: int, transfer: Mapping[str, Any]) -> None:
    for data in _get(_get(transfer, "reversals", {}), "data", []):
        reversal = PayoutReversal.objects.filter(stripe_reversal_id=data["id"]).first()
        if reversal is None:
            ours = _get(_get(data, "metadata", {}), "courtier_reversal_id")
            if ours and str(ours).isdigit():
                reversal = PayoutReversal.objects.filter(pk=int(ours), payout_id=payout_id).first()
        if reversal is None:  # reversed at Stripe (dashboard): record it like ours
            with transaction.atomic(durable=True):
                payout = Payout.objects.get(pk=payout_id)
                lock_objects.seller_accounts([payout.seller_id], payout.currency)
                lock_objects.payout(payout_id)
                reversal, _created = PayoutReversal.objects.get_or_create(
                    stripe_reversal_id=data["id"],
                    defaults={
                        "payout_id": payout_id,
                        "amount": int(data["amount"]),
                        "currency": payout.currency,
                    },
                )
        _reversal_record(reversal.pk, data)


def _reversal_record(reversal_id: int, data: Mapping[str, Any]) -> PayoutReversal:
    """Money back from the seller's Connect account: Dr stripe_balance / Cr seller (receivable first)."""
    reversal = PayoutReversal.objects.select_related("payout").get(pk=reversal_id)
    payout = reversal.payout
    with transaction.atomic(durable=True):
        lock_objects.seller_accounts([payout.seller_id], payout.currency)
        payout = lock_objects.payout(payout.pk)
        reversal = lock_objects.payout_reversal(reversal_id)
        if reversal.status == PayoutReversal.Status.SUCCEEDED:
            return reversal
        if int(data["amount"]) != reversal.amount:
            raise InvalidInput("amount_mismatch", f"Reversal {data['id']} is for another amount.")
        books = postings.SellerBooks([payout.seller_id], payout.currency)
        lines = [ledger.Line(postings.platform(A.STRIPE_BALANCE, payout.currency), reversal.amount)]
        lines += books.credit(payout.seller_id, reversal.amount)
        postings.post(
            K.PAYOUT_REVERSAL,
            f"payout:{payout.pk}",
            f"payout_reversal:{reversal.pk}",
            lines,
            f"reversal {data['id']} of transfer {payout.transfer_id}",
        )
        reversal.stripe_reversal_id = data["id"]
        reversal.status = PayoutReversal.Status.SUCCEEDED
        reversal.updated_at = _now()
        reversal.save()
        Payout.objects.filter(pk=payout.pk).update(amount_reversed=F("amount_reversed") + reversal.amount)
        payout.refresh_from_db()
        if payout.amount_reversed == payout.amount:
            _payout_transition(payout, Payout.Status.REVERSED, f"reversed by {data['id']}")
    return reversal


def payout_recover(*, seller_id: int, currency: str = "EUR") -> int:
    """Collect what a seller owes (their receivable) by reversing their latest transfers.

    Returns the amount recovered. What cannot be reversed (the money already left their Stripe
    balance) stays a receivable, cleared by their next earnings and shown to moderators.
    """
    recovered = 0
    for _ in range(20):  # one transfer at a time, newest first
        with transaction.atomic(durable=True):
            lock_objects.seller_accounts([seller_id], currency)
            books = postings.SellerBooks([seller_id], currency)
            in_flight = (
                PayoutReversal.objects.filter(
                    payout__seller_id=seller_id, status=PayoutReversal.Status.PENDING
                ).aggregate(t=Sum("amount"))["t"]
                or 0
            )
            owed = books.owed[seller_id] - in_flight
            if owed <= 0:
                return recovered
            candidates = (
                Payout.objects.filter(seller_id=seller_id, currency=currency, transfer_id__isnull=False)
                .exclude(status=Payout.Status.REVERSED)
                .exclude(
                    pk__in=PayoutReversal.objects.filter(status=PayoutReversal.Status.PENDING).values(
                        "payout"
                    )
                )
                .filter(amount__gt=F("amount_reversed"))
                .order_by("-created_at", "-pk")
            )
            # a transfer whose reversal just failed (its money already left Stripe) is not retried
            # before the next sweep
            candidates = candidates.exclude(
                pk__in=PayoutReversal.objects.filter(
                    status=PayoutReversal.Status.FAILED, updated_at__gte=_now() - timedelta(minutes=30)
                ).values("payout")
            )
            payout = candidates.first()
            if payout is None:
                return recovered
            lock_objects.payout(payout.pk)
            reversal = PayoutReversal.objects.create(
                payout=payout, amount=min(owed, payout.amount - payout.amount_reversed), currency=currency
            )
        result = _reversal_send(reversal)
        if result.status != PayoutReversal.Status.SUCCEEDED:
            continue
        recovered += result.amount
    return recovered


def _reversal_send(reversal: PayoutReversal) -> PayoutReversal:
    payout = reversal.payout
    api = connect_client().v1
    try:
        created = create_once(
            reversal,
            lambda: api.transfers.reversals.create(
                payout.transfer_id,
                {"amount": reversal.amount, "metadata": {"courtier_reversal_id": str(reversal.pk)}},
                {"idempotency_key": reversal.idempotency_key("create")},
            ),
            listed=lambda: api.transfers.reversals.list(
                payout.transfer_id, {"limit": 100}
            ).auto_paging_iter(),
            ours=("courtier_reversal_id", reversal.pk),
        )
    except stripe.InvalidRequestError as exc:  # e.g. the seller's Stripe balance is too low
        with transaction.atomic(durable=True):
            locked = lock_objects.payout_reversal(reversal.pk)
            if locked.status == PayoutReversal.Status.PENDING:
                locked.status = PayoutReversal.Status.FAILED
                locked.failure_message = _stripe_message(exc)
                locked.updated_at = _now()
                locked.save()
        return locked
    return _reversal_record(reversal.pk, created)


def payout_recover_receivables(*, currency: str = "EUR") -> int:
    """The sweep: try to collect every receivable that a transfer could still cover."""
    owing = (
        LedgerEntry.objects.filter(account__purpose=A.SELLER_RECEIVABLE, account__currency=currency)
        .values("account__seller_id")
        .annotate(total=Sum("amount"))
        .filter(total__gt=0)
        .values_list("account__seller_id", flat=True)
    )
    return sum(
        _each_seller(
            "recover", lambda seller_id: payout_recover(seller_id=seller_id, currency=currency), owing
        )
    )


def payout_bank_outcome(*, stripe_account_id: str, bank_payout: Mapping[str, Any]) -> int:
    """payout.paid / payout.failed on a seller's Connect account: the money reached their bank
    (or came back). Marks their transfers made before that bank payout. Returns how many."""
    account = ConnectAccount.objects.filter(stripe_account_id=stripe_account_id).first()
    if account is None:
        raise UnknownStripeObject("account_unknown", f"No seller has Connect account {stripe_account_id}.")
    status = _get(bank_payout, "status")
    created = _from_timestamp(_get(bank_payout, "created"))
    changed = 0
    with transaction.atomic(durable=True):
        if status == "paid":
            payouts = Payout.objects.filter(
                connect_account=account,
                status=Payout.Status.IN_TRANSIT,
                transferred_at__lte=created + timedelta(seconds=1),
            )
            for payout in payouts.select_for_update(of=("self",)).order_by("pk"):
                payout.stripe_payout_id = bank_payout["id"]
                payout.save(update_fields=["stripe_payout_id"])
                changed += _payout_transition(payout, Payout.Status.PAID, f"bank payout {bank_payout['id']}")
        elif status == "failed":
            payouts = Payout.objects.filter(connect_account=account).filter(
                Q(stripe_payout_id=bank_payout["id"])
                | Q(status=Payout.Status.IN_TRANSIT, transferred_at__lte=created + timedelta(seconds=1))
            )
            for payout in payouts.select_for_update(of=("self",)).order_by("pk"):
                payout.stripe_payout_id = bank_payout["id"]
                payout.failure_code = str(_get(bank_payout, "failure_code", "payout_failed"))[:64]
                payout.failure_message = str(
                    _get(
                        bank_payout,
                        "failure_message",
                        "Your bank returned the payout: update your bank details.",
                    )
                )[:500]
                payout.save(update_fields=["stripe_payout_id", "failure_code", "failure_message"])
                changed += _payout_transition(payout, Payout.Status.FAILED, payout.failure_message)
    return changed


# --- Sweeps: resume steps left half-done, deliver outcomes ------------------------------------------


RESUMABLE: dict[str, tuple[type[Any], Q]] = {
    # what a step left half-done looks like, per kind of row
    "payment": (Payment, Q(status__in=[PS.PENDING, PS.REQUIRES_ACTION])),
    "capture": (Payment, Q(status=PS.AUTHORISED, capture_requested__isnull=False)),
    "refund": (Refund, Q(status=Refund.Status.PENDING)),
    "payout": (Payout, Q(status=Payout.Status.PENDING)),
    "reversal": (PayoutReversal, Q(status=PayoutReversal.Status.PENDING)),
}


def _resume_claim(kind: str, now: datetime, limit: int = 200) -> list[int]:
    """Claim the rows of a kind whose step went quiet (SKIP LOCKED; `updated_at` is pushed to now,
    so no other sweep takes them for PAYMENTS_RESUME_AFTER_SECONDS) and count the attempt."""
    model, half_done = RESUMABLE[kind]
    due = now - timedelta(seconds=settings.PAYMENTS_RESUME_AFTER_SECONDS)
    with transaction.atomic(durable=True):
        ids = list(
            model.objects.select_for_update(skip_locked=True)
            .filter(
                half_done, updated_at__lte=due, created_at__gte=now - RESUME_LIMIT, parked_at__isnull=True
            )
            .order_by("pk")
            .values_list("pk", flat=True)[:limit]
        )
        model.objects.filter(pk__in=ids).update(updated_at=now, resume_attempts=F("resume_attempts") + 1)
    return ids


def _resume_one(kind: str, pk: int) -> None:
    if kind == "payment":
        payment_sync(payment_id=pk)
    elif kind == "capture":
        _payment_capture_send(Payment.objects.get(pk=pk))
    elif kind == "refund":
        refund = Refund.objects.get(pk=pk)
        if refund.stripe_refund_id:
            payment_sync(payment_id=refund.payment_id)
        else:
            _refund_send(refund)
    elif kind == "payout":
        payout_transfer(payout_id=pk)
    else:
        _reversal_send(PayoutReversal.objects.select_related("payout").get(pk=pk))


def _resume_failed(kind: str, pk: int, exc: Exception) -> None:
    """Keep the error; park the row once it has failed PAYMENTS_RESUME_MAX_ATTEMPTS times."""
    model, _half_done = RESUMABLE[kind]
    message = (str(exc) or exc.__class__.__name__)[:500]
    model.objects.filter(pk=pk).update(last_error=message)
    parked = model.objects.filter(
        pk=pk, parked_at__isnull=True, resume_attempts__gte=settings.PAYMENTS_RESUME_MAX_ATTEMPTS
    ).update(parked_at=_now())
    log = logger.error if parked else logger.warning
    log("resume %s %s%s: %s", kind, pk, " parked" if parked else "", message)


def payments_unpark(*, kind: str, ids: list[int]) -> int:
    """A moderator sends parked rows back to the resume sweep (attempts counted afresh)."""
    if kind not in RESUMABLE and kind != "outcome":
        raise InvalidInput("kind_unknown", f"Nothing of kind {kind} is parked.", field="kind")
    model = PaymentEvent if kind == "outcome" else RESUMABLE[kind][0]
    attempts = "attempts" if kind == "outcome" else "resume_attempts"
    return model.objects.filter(pk__in=ids, parked_at__isnull=False).update(parked_at=None, **{attempts: 0})


def payments_resume_pending() -> int:
    """Re-run every Stripe step whose answer was never recorded (the same key, or a lookup and a
    new key where Stripe may have done it: stripe_calls). Each row is claimed, and its failure
    is its own: it is recorded, other rows go on, and a row failing too often is parked."""
    now = _now()
    done = 0
    for kind in RESUMABLE:
        for pk in _resume_claim(kind, now):
            try:
                _resume_one(kind, pk)
            except Exception as exc:  # one poisoned row must not stop the sweep
                _resume_failed(kind, pk, exc)
            else:
                done += 1
    return done


def _outcomes_claim(limit: int, failed: set[int]) -> list[int]:
    """Claim the next undelivered event of each payment (SKIP LOCKED) for
    PAYMENTS_OUTCOME_CLAIM_SECONDS: a payment whose earlier event another worker holds, or that is
    parked, waits, so each payment's outcomes arrive in order. `failed` (this sweep's) wait too."""
    now = _now()
    with transaction.atomic(durable=True):
        candidates = list(
            PaymentEvent.objects.select_for_update(skip_locked=True)
            .filter(delivered_at__isnull=True, parked_at__isnull=True)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .exclude(pk__in=failed)
            .order_by("pk")
            .values_list("pk", "payment_id")[:limit]
        )
        first: dict[int, int] = {}
        for pk, payment_id in candidates:
            first.setdefault(payment_id, pk)
        earlier = PaymentEvent.objects.filter(
            payment_id=OuterRef("payment_id"), delivered_at__isnull=True, pk__lt=OuterRef("pk")
        )
        ids = list(
            PaymentEvent.objects.filter(pk__in=first.values())
            .exclude(Exists(earlier))
            .values_list("pk", flat=True)
        )
        PaymentEvent.objects.filter(pk__in=ids).update(
            claimed_until=now + timedelta(seconds=settings.PAYMENTS_OUTCOME_CLAIM_SECONDS),
            attempts=F("attempts") + 1,
        )
    return ids


def payment_outcomes_deliver(*, limit: int = 500) -> int:
    """Tell the registered handlers about status changes not yet delivered, in order per payment.

    Handlers run outside any transaction of ours (they open their own); an event is marked
    delivered only after every handler returned, so a failure means it comes again (at least
    once), and the payment's later events wait for it. A handler failing on one event does not
    stop the others; an event failing PAYMENTS_RESUME_MAX_ATTEMPTS times is parked, with its error.
    """
    delivered = 0
    failed: set[int] = set()
    while delivered < limit:
        claimed = _outcomes_claim(limit - delivered, failed)
        if not claimed:
            return delivered
        for event in PaymentEvent.objects.select_related("payment").filter(pk__in=claimed).order_by("pk"):
            if _outcome_deliver(event):
                delivered += 1
            else:
                failed.add(event.pk)  # tried again by the next sweep
    return delivered


def _outcome_deliver(event: PaymentEvent) -> int:
    """Run the handlers for one claimed event; 1 if it is now delivered."""
    payment = event.payment
    outcome = handlers.PaymentOutcome(
        event_id=event.pk,
        payment_id=payment.pk,
        reference=payment.reference,
        previous_status=event.from_status,
        status=event.to_status,
        amount=payment.amount,
        amount_captured=payment.amount_captured,
        amount_refunded=payment.amount_refunded,
        currency=payment.currency,
        reason=event.reason,
    )
    try:
        handlers.run_payment_outcome_handlers(outcome)
    except Exception as exc:  # one poisoned event must not stop the others
        logger.exception("payment outcome %s: a handler failed; it will be delivered again", event.pk)
        PaymentEvent.objects.filter(pk=event.pk).update(
            claimed_until=None, last_error=(str(exc) or exc.__class__.__name__)[:500]
        )
        PaymentEvent.objects.filter(pk=event.pk, attempts__gte=settings.PAYMENTS_RESUME_MAX_ATTEMPTS).update(
            parked_at=_now()
        )
        return 0
    return PaymentEvent.objects.filter(pk=event.pk, delivered_at__isnull=True).update(
        delivered_at=_now(), claimed_until=None
    )

"""Inbound Stripe webhooks: `/webhooks/stripe/`.

1. The view verifies the `Stripe-Signature` on the raw body (HMAC-SHA256, 300 s tolerance) with
   the endpoint secret(s); anything forged, tampered, unsigned or stale gets 400 and nothing is
   stored.
2. An event of a type we handle is stored raw (StripeEvent, unique by event id, status
   `received`) and a task on the `webhooks` queue is queued after commit. A duplicate delivery
   stores nothing new. Any other type gets 200 and is ignored.
3. The task claims the event (`processing`), runs its handler and records `succeeded`, or
   `failed` with the error. Handlers never trust the payload's state when Stripe can tell us the
   truth: they re-read the PaymentIntent, account or transfer through the API (at our pinned API
   version), so duplicates and any order of delivery end in the same state; everything they
   post is idempotent by keys from our row ids. Payloads we must trust (disputes, bank payouts)
   are accepted only at the pinned API version. Events about objects we never created fail with
   a clear error and change nothing.
4. A beat sweep re-queues events whose message was lost or whose worker died, and those whose
   handler met a transient error (Stripe or the database unavailable) and whose retry was lost.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any, cast

import stripe
from django.conf import settings
from django.db import IntegrityError, OperationalError, transaction
from django.db.models import F, Q
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from core.errors import InvalidInput, ServiceError
from core.problems import PROBLEM_CONTENT_TYPE
from payments import services
from payments.models import Payment, StripeEvent
from payments.services import StripeUnavailable, UnknownStripeObject
from payments.services._common import _queue_after_commit
from payments.stripe_client import is_live

logger = logging.getLogger(__name__)


class WebhookRejected(ServiceError):
    status_code = 400


# --- Receiving ------------------------------------------------------------------------------------


def _secrets() -> list[str]:
    return [s for s in (settings.STRIPE_WEBHOOK_SECRET, settings.STRIPE_CONNECT_WEBHOOK_SECRET) if s]


def webhook_receive(*, payload: bytes, signature: str | None) -> tuple[StripeEvent | None, str]:
    """Verify and store one delivery. Returns (event, "stored" | "duplicate" | "ignored")."""
    if not signature:
        raise WebhookRejected("signature_missing", "The Stripe-Signature header is missing.")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise WebhookRejected("payload_invalid", "The body is not UTF-8.") from None
    secrets = _secrets()
    if not secrets:
        raise WebhookRejected("webhooks_not_configured", "No webhook secret is configured.")
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(
                text, signature, secret, tolerance=settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS
            )
            break
        except stripe.SignatureVerificationError as exc:
            error = exc
    else:
        raise WebhookRejected(
            "signature_invalid", f"Signature verification failed: {error.user_message or error}."
        )
    try:
        data = json.loads(text)
        event_id, event_type = data["id"], data["type"]
        object_id = data["data"]["object"]["id"]
    except (ValueError, KeyError, TypeError):
        raise WebhookRejected("payload_invalid", "The body is not a Stripe event.") from None
    if event_type not in HANDLERS:
        return None, "ignored"
    if not isinstance(object_id, str):
        raise WebhookRejected("payload_invalid", "The event's object has no id.")
    if bool(data.get("livemode")) != is_live():
        raise WebhookRejected("livemode_mismatch", "A live event sent to a test endpoint (or the reverse).")
    try:
        with transaction.atomic(durable=True):
            event = StripeEvent.objects.create(
                event_id=event_id,
                type=event_type,
                api_version=str(data.get("api_version") or "")[:64],
                account=str(data.get("account") or "")[:255],
                livemode=bool(data.get("livemode")),
                payload=data,
            )
            from payments import tasks  # here: payments.tasks imports this module

            _queue_after_commit(tasks.webhook_process, event.pk)
    except IntegrityError:
        return StripeEvent.objects.filter(event_id=event_id).first(), "duplicate"
    return event, "stored"


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> JsonResponse:
    try:
        _event, outcome = webhook_receive(
            payload=request.body, signature=request.headers.get("Stripe-Signature")
        )
    except WebhookRejected as exc:
        return JsonResponse(exc.as_problem(request.path), status=400, content_type=PROBLEM_CONTENT_TYPE)
    return JsonResponse({"received": True, "outcome": outcome})


# --- Processing -----------------------------------------------------------------------------------


TRANSIENT = (StripeUnavailable, OperationalError)


def webhook_process(*, event_id: int) -> str:
    """Run one stored event's handler once; returns its status. Transient errors (Stripe or the
    database unavailable) leave it received, with the error, and re-raise: the task retries, and
    should its retry message be lost (a killed worker, a broker that forgot) the requeue sweep
    takes it again. Other errors mark it failed, for a moderator."""
    claimed = StripeEvent.objects.filter(
        pk=event_id, status__in=[StripeEvent.Status.RECEIVED, StripeEvent.Status.FAILED]
    ).update(
        status=StripeEvent.Status.PROCESSING, attempts=F("attempts") + 1, started_at=timezone.now(), error=""
    )
    event = StripeEvent.objects.get(pk=event_id)
    if not claimed:
        return event.status
    try:
        HANDLERS[event.type](event)
    except Exception as exc:
        if isinstance(exc, ServiceError):
            error = f"{exc.code}: {exc.message}"
        else:
            error = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, TRANSIENT):
            StripeEvent.objects.filter(pk=event_id, status=StripeEvent.Status.PROCESSING).update(
                status=StripeEvent.Status.RECEIVED, error=error[:2000]
            )
            raise
        StripeEvent.objects.filter(pk=event_id).update(
            status=StripeEvent.Status.FAILED, error=error[:2000], processed_at=timezone.now()
        )
        if not isinstance(exc, ServiceError):
            logger.exception("stripe event %s (%s) failed", event.event_id, event.type)
        return StripeEvent.Status.FAILED
    StripeEvent.objects.filter(pk=event_id).update(
        status=StripeEvent.Status.SUCCEEDED, processed_at=timezone.now()
    )
    return StripeEvent.Status.SUCCEEDED


def webhook_requeue_stale() -> int:
    """Re-queue events whose task message was lost (their first, or the retry after a transient
    error), or whose worker died while processing."""
    stale = timezone.now() - timedelta(seconds=settings.WEBHOOK_REQUEUE_AFTER_SECONDS)
    StripeEvent.objects.filter(status=StripeEvent.Status.PROCESSING, started_at__lt=stale).update(
        status=StripeEvent.Status.RECEIVED
    )
    ids = list(
        StripeEvent.objects.filter(status=StripeEvent.Status.RECEIVED, received_at__lt=stale)
        .filter(Q(started_at__isnull=True) | Q(started_at__lt=stale))
        .order_by("received_at")
        .values_list("pk", flat=True)[:1000]
    )
    from payments import tasks

    for pk in ids:
        tasks.webhook_process.delay(pk)
    return len(ids)


def webhook_reprocess(*, event_id: int) -> str:
    """A moderator's retry of a failed event (after fixing its cause)."""
    StripeEvent.objects.filter(pk=event_id, status=StripeEvent.Status.FAILED).update(
        status=StripeEvent.Status.RECEIVED
    )
    return webhook_process(event_id=event_id)


# --- Handlers -------------------------------------------------------------------------------------


def _object(event: StripeEvent) -> dict[str, Any]:
    return cast(dict[str, Any], event.payload["data"]["object"])


def _require_pinned_version(event: StripeEvent) -> None:
    if event.api_version != settings.STRIPE_API_VERSION:
        raise InvalidInput(
            "api_version_mismatch",
            f"Event {event.event_id} is at API version {event.api_version or '?'}, we are pinned to "
            f"{settings.STRIPE_API_VERSION}: its payload cannot be trusted.",
        )


def _payment_for_intent(intent_id: str | None, metadata: dict[str, Any] | None) -> Payment:
    if intent_id:
        payment = Payment.objects.filter(stripe_payment_intent_id=intent_id).first()
        if payment is not None:
            return payment
        # The event may beat our own commit of the intent id: our metadata names the payment.
        ours = str((metadata or {}).get("courtier_payment_id") or "")
        if ours.isdigit():
            payment = Payment.objects.filter(pk=int(ours), stripe_payment_intent_id__isnull=True).first()
            if payment is not None:
                return payment
    raise UnknownStripeObject("not_found", f"No payment of ours has PaymentIntent {intent_id}.")


def _check_currency(payment: Payment, obj: dict[str, Any]) -> None:
    if str(obj.get("currency") or "").upper() != payment.currency:
        raise InvalidInput(
            "currency_mismatch",
            f"{obj.get('object')} {obj.get('id')} is in {str(obj.get('currency')).upper()}, "
            f"payment {payment.pk} in {payment.currency}.",
        )


def on_payment_intent(event: StripeEvent) -> None:
    """payment_intent.succeeded / payment_failed / canceled / requires_action."""
    intent = _object(event)
    payment = _payment_for_intent(intent["id"], intent.get("metadata"))
    _check_currency(payment, intent)
    services.payment_sync(payment_id=payment.pk, intent_id=intent["id"], reason="")


def on_charge_refunded(event: StripeEvent) -> None:
    charge = _object(event)
    intent_id = charge.get("payment_intent")
    payment = Payment.objects.filter(stripe_charge_id=charge["id"]).first() or _payment_for_intent(
        intent_id if isinstance(intent_id, str) else None, charge.get("metadata")
    )
    _check_currency(payment, charge)
    services.payment_sync(payment_id=payment.pk, intent_id=intent_id, reason="refunded")


def on_dispute(event: StripeEvent) -> None:
    """charge.dispute.created / closed (and funds_withdrawn / funds_reinstated)."""
    _require_pinned_version(event)
    dispute = _object(event)
    intent_id = dispute.get("payment_intent")
    payment = Payment.objects.filter(stripe_charge_id=dispute.get("charge")).first()
    if payment is None:
        payment = _payment_for_intent(intent_id if isinstance(intent_id, str) else None, None)
    _check_currency(payment, dispute)
    services.payment_sync(
        payment_id=payment.pk, intent_id=intent_id, disputes=[dispute], reason=f"dispute {dispute['id']}"
    )


def on_account_updated(event: StripeEvent) -> None:
    services.connect_account_sync(stripe_account_id=event.account or _object(event)["id"])


def on_transfer(event: StripeEvent) -> None:
    transfer = _object(event)
    services.payout_sync_transfer(
        transfer_id=transfer["id"],
        payout_hint=str((transfer.get("metadata") or {}).get("courtier_payout_id") or ""),
    )


def on_payout(event: StripeEvent) -> None:
    """payout.paid / payout.failed: a seller's bank payout (Connect). The platform's own bank
    payouts are not in the ledger (they move money out of Stripe, not between parties)."""
    if not event.account:
        return
    _require_pinned_version(event)
    services.payout_bank_outcome(stripe_account_id=event.account, bank_payout=_object(event))


HANDLERS: dict[str, Callable[[StripeEvent], None]] = {
    "payment_intent.succeeded": on_payment_intent,
    "payment_intent.payment_failed": on_payment_intent,
    "payment_intent.canceled": on_payment_intent,
    "payment_intent.requires_action": on_payment_intent,
    "payment_intent.amount_capturable_updated": on_payment_intent,
    "charge.refunded": on_charge_refunded,
    "charge.dispute.created": on_dispute,
    "charge.dispute.closed": on_dispute,
    "charge.dispute.funds_withdrawn": on_dispute,
    "charge.dispute.funds_reinstated": on_dispute,
    "account.updated": on_account_updated,
    "transfer.created": on_transfer,
    "transfer.reversed": on_transfer,
    "payout.paid": on_payout,
    "payout.failed": on_payout,
}

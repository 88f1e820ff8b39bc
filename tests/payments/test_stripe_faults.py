"""Every mutating money operation against Stripe's failure modes, as the sandbox reproduces them
(a 500 after the work, a 500 before it, a timeout after it, a concurrent duplicate answered 409,
a 429): each ends, after the retry the product makes, with exactly one object at the sandbox and
one ledger posting where the operation books one."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from payments import services
from payments.models import ConnectAccount, LedgerTransaction, Payment, Payout, PayoutReversal, Refund
from payments.stripe_calls import StripeUnavailable, rate_limited_count
from tests.factories import SellerFactory, VerifiedOrganisationFactory
from tests.payments.conftest import charge, http

pytestmark = pytest.mark.django_db(transaction=True)
FAULTS = ["error_after", "error_before", "timeout", "concurrent", "rate_limit"]


@dataclass
class Op:
    path: str  # the Stripe route the fault is armed on (regex)
    connect: bool  # on the Connect sandbox (else localstripe)
    prepare: Callable[[Any], dict[str, Any]]  # fixtures → state (rows written, nothing sent)
    send: Callable[[dict[str, Any]], Any]  # the step that calls Stripe for the row
    retry: Callable[[dict[str, Any]], Any]  # what the product does next (a sweep, the caller again)
    objects: Callable[[dict[str, Any], Any, Any], list]  # (state, stripe_api, connect_api) → ours at Stripe
    posting: str | None  # the idempotency key of the one posting it books, from the state


def _authorised(ctx) -> dict[str, Any]:
    payment = services.payment_authorise(reference="f:auth", organisation_id=ctx.buyer.pk, amount=10_00)
    return {"payment": payment}


def _captured(ctx) -> dict[str, Any]:
    payment = charge(reference="f:cap", organisation_id=ctx.buyer.pk, amount=10_00)
    return {"payment": payment}


def _pending_payment(ctx) -> dict[str, Any]:
    payment = services._payment_open(
        reference="f:new",
        organisation_id=ctx.buyer.pk,
        amount=10_00,
        currency="EUR",
        mode=Payment.Mode.AUTHORISE,
        payment_method_id=None,
        new_attempt=False,
    )
    return {"payment": payment}


def _capture_requested(ctx) -> dict[str, Any]:
    state = _authorised(ctx)
    Payment.objects.filter(pk=state["payment"].pk).update(capture_requested=10_00)
    return state


def _pending_refund(ctx) -> dict[str, Any]:
    state = _captured(ctx)
    state["refund"] = Refund.objects.create(payment=state["payment"], amount=3_00, currency="EUR")
    return state


def _credited_seller(ctx) -> Any:
    seller = ctx.paid_seller()
    payment = charge(reference="f:earn", organisation_id=ctx.buyer.pk, amount=50_00)
    services.settlement_credit(
        reference="f:earn", payment=payment, seller_shares=[(seller.pk, 50_00)], fee_bps=0
    )
    return seller


def _pending_payout(ctx) -> dict[str, Any]:
    seller = _credited_seller(ctx)
    payout = Payout.objects.create(
        seller=seller, connect_account=seller.connect_account, amount=20_00, currency="EUR"
    )
    Payout.objects.filter(pk=payout.pk).update(transfer_group=f"payout:{payout.pk}")
    return {"payout": payout}


def _pending_reversal(ctx) -> dict[str, Any]:
    state = _pending_payout(ctx)
    services.payout_transfer(payout_id=state["payout"].pk)
    state["reversal"] = PayoutReversal.objects.create(payout=state["payout"], amount=5_00, currency="EUR")
    return state


def _resume(_state) -> None:
    services.payments_resume_pending()


def _payment(state) -> Payment:
    return Payment.objects.get(pk=state["payment"].pk)


def _intents(state, stripe_api, _connect_api) -> list:
    customer = _payment(state).customer.stripe_customer_id
    return [i for i in stripe_api.v1.payment_intents.list({"limit": 100}).data if i.customer == customer]


OPS: dict[str, Op] = {
    "authorise": Op(
        path=r"^/v1/payment_intents$",
        connect=False,
        prepare=_pending_payment,
        send=lambda s: services._payment_send(_payment(s)),
        retry=_resume,
        objects=lambda s, api, c: [i for i in _intents(s, api, c) if i.status == "requires_capture"],
        posting=None,
    ),
    "capture": Op(
        path=r"/capture$",
        connect=False,
        prepare=_capture_requested,
        send=lambda s: services._payment_capture_send(_payment(s)),
        retry=_resume,
        objects=lambda s, api, c: [i for i in _intents(s, api, c) if i.status == "succeeded"],
        posting="payment:{payment.pk}:capture",
    ),
    "cancel": Op(
        path=r"/cancel$",
        connect=False,
        prepare=_authorised,
        send=lambda s: services.payment_cancel(payment_id=s["payment"].pk),
        retry=lambda s: services.payment_cancel(payment_id=s["payment"].pk),
        objects=lambda s, api, c: [i for i in _intents(s, api, c) if i.status == "canceled"],
        posting=None,
    ),
    "refund": Op(
        path=r"^/v1/refunds$",
        connect=False,
        prepare=_pending_refund,
        send=lambda s: services._refund_send(Refund.objects.get(pk=s["refund"].pk)),
        retry=_resume,
        objects=lambda s, api, c: list(
            api.v1.refunds.list({"payment_intent": _payment(s).stripe_payment_intent_id, "limit": 100}).data
        ),
        posting="refund:{refund.pk}",
    ),
    "transfer": Op(
        path=r"^/v1/transfers$",
        connect=True,
        prepare=_pending_payout,
        send=lambda s: services.payout_transfer(payout_id=s["payout"].pk),
        retry=_resume,
        objects=lambda s, api, c: list(
            c.v1.transfers.list({"transfer_group": f"payout:{s['payout'].pk}", "limit": 100}).data
        ),
        posting="payout:{payout.pk}",
    ),
    "transfer_reversal": Op(
        path=r"/reversals$",
        connect=True,
        prepare=_pending_reversal,
        send=lambda s: services._reversal_send(PayoutReversal.objects.get(pk=s["reversal"].pk)),
        retry=_resume,
        objects=lambda s, api, c: list(
            c.v1.transfers.reversals.list(
                Payout.objects.get(pk=s["payout"].pk).transfer_id, {"limit": 100}
            ).data
        ),
        posting="payout_reversal:{reversal.pk}",
    ),
    "account": Op(
        path=r"^/v1/accounts$",
        connect=True,
        prepare=lambda ctx: {"seller": SellerFactory()},
        send=lambda s: services.connect_account_ensure(seller_id=s["seller"].pk),
        retry=lambda s: services.connect_account_ensure(seller_id=s["seller"].pk),
        objects=lambda s, api, c: [
            a
            for a in c.v1.accounts.list({"limit": 100}).data
            if a.metadata.to_dict().get("courtier_seller_id") == str(s["seller"].pk)
        ],
        posting=None,
    ),
    "setup_intent": Op(
        path=r"^/v1/setup_intents$",
        connect=False,
        prepare=lambda ctx: {"organisation": ctx.organisation()},
        send=lambda s: services.payment_method_setup_intent_create(organisation_id=s["organisation"].pk),
        retry=lambda s: services.payment_method_setup_intent_create(organisation_id=s["organisation"].pk),
        objects=lambda s, api, c: list(
            api.v1.setup_intents.list(
                {"customer": s["organisation"].stripe_customer.stripe_customer_id, "limit": 100}
            ).data
        ),
        posting=None,
    ),
}


@dataclass
class Ctx:
    buyer: Any
    paid_seller: Callable[[], Any]

    @staticmethod
    def organisation() -> Any:
        organisation = VerifiedOrganisationFactory()
        services.stripe_customer_ensure(organisation_id=organisation.pk)
        return organisation


def arm(base: str, **rule: Any) -> None:
    status, body = http("POST", f"{base}/_config/faults", {k: str(v) for k, v in rule.items()})
    assert status == 200, body


def send_expecting_unavailable(op: Op, state: dict[str, Any]) -> None:
    try:
        op.send(state)
    except StripeUnavailable:
        pass


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("name", list(OPS))
def test_each_money_operation_survives_each_fault(
    name, fault, buyer, paid_seller, stripe_sandbox, stripe_api, connect_api, settings
):
    settings.PAYMENTS_RESUME_AFTER_SECONDS = 0
    op = OPS[name]
    state = op.prepare(Ctx(buyer=buyer, paid_seller=paid_seller))
    base = stripe_sandbox.connect_base if op.connect else stripe_sandbox.api_base
    limited_before = rate_limited_count()

    if fault == "concurrent":
        # the first request is slow; the same step sent again meanwhile (same key) gets a 409
        arm(base, mode="delay", seconds=1.5, path=op.path, method="POST")
        first = threading.Thread(target=send_expecting_unavailable, args=(op, state))
        first.start()
        threading.Event().wait(0.5)
        with pytest.raises(StripeUnavailable) as caught:
            op.send(state)
        first.join()
        assert caught.value.code == "stripe_in_flight"
    elif fault == "timeout":
        settings.STRIPE_TIMEOUT_SECONDS = 1
        arm(base, mode="timeout", seconds=2.5, path=op.path, method="POST")
        with pytest.raises(StripeUnavailable):
            op.send(state)
        settings.STRIPE_TIMEOUT_SECONDS = 10
    elif fault == "rate_limit":
        arm(base, mode="rate_limit", path=op.path, method="POST")
        op.send(state)  # backed off and sent again
        assert rate_limited_count() == limited_before + 1
    else:
        arm(base, mode=fault, path=op.path, method="POST")
        with pytest.raises(StripeUnavailable):
            op.send(state)

    op.retry(state)
    op.retry(state)  # and once more: nothing changes

    assert len(op.objects(state, stripe_api, connect_api)) == 1
    if op.posting:
        key = op.posting.format(**state)
        assert LedgerTransaction.objects.filter(idempotency_key=key).count() == 1
    for model in (Payment, Refund, Payout, PayoutReversal, ConnectAccount):
        assert not model.objects.filter(parked_at__isnull=False).exists()


def test_a_step_that_keeps_failing_is_parked_with_its_error_and_the_others_go_on(
    buyer, stripe_sandbox, stripe_api, settings
):
    settings.PAYMENTS_RESUME_AFTER_SECONDS = 0
    settings.PAYMENTS_RESUME_MAX_ATTEMPTS = 2
    poisoned = _capture_requested(Ctx(buyer=buyer, paid_seller=lambda: None))["payment"]
    Payment.objects.filter(pk=poisoned.pk).update(stripe_payment_intent_id="pi_gone_from_stripe")
    healthy = Refund.objects.create(
        payment=_captured(Ctx(buyer=buyer, paid_seller=lambda: None))["payment"], amount=1_00, currency="EUR"
    )

    services.payments_resume_pending()
    services.payments_resume_pending()
    services.payments_resume_pending()

    poisoned.refresh_from_db()
    assert poisoned.parked_at is not None and poisoned.resume_attempts == 2 and poisoned.last_error
    assert Refund.objects.get(pk=healthy.pk).status == Refund.Status.SUCCEEDED

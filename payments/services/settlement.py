"""Settlement: crediting sellers their share of a captured payment, less the fee."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction

from core.errors import Conflict, InvalidInput, NotFound
from payments import lock_objects, money, postings
from payments.models import LedgerTransaction, Payment, SettlementShare
from payments.services._common import _now

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
            raise NotFound("not_found", "No such payment.")
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
        if locked.status != Payment.Status.CAPTURED:
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
            LedgerTransaction.Kind.SETTLEMENT,
            reference,
            key,
            postings.settlement_lines(locked, shares, books),
            f"settlement of payment {locked.pk}",
        )
        locked.settled_at = _now()
        locked.save(update_fields=["settled_at"])
    return posted

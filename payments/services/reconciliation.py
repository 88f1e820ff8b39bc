"""Reconciliation: Stripe against our books, and our books against each other.

1. Stripe's balance transactions are matched one to one with our ledger postings (charges,
   refunds, transfers, transfer reversals, disputes); the fees Stripe kept are booked from the
   same list, so the ledger's stripe_balance follows Stripe's net.
2. Our books are checked against each other: every captured payment credited to its sellers
   (once: the settlement posting and the shares are unique per payment and seller);
   `buyer_charges` nets to zero for every settled payment; each seller's payable is the
   settlement credits of their shares less their payouts and recoveries, and never negative.
3. Authorisations held at Stripe that no row of ours owns (a second PaymentIntent left by a crash
   during a create, say), or that outlived RECONCILIATION_AUTHORISATION_MAX_HOURS, are cancelled.

Each finding opens one ReconciliationIssue for moderators, kept open across runs until resolved.
Whatever is younger than the grace period is left for the next run (a webhook, a settlement
re-drive may still be on its way).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import stripe
from django.conf import settings
from django.db import transaction
from django.db.models import Sum

from core.errors import InvalidInput, NotFound, ServiceError
from payments import postings
from payments.models import (
    Dispute,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Payment,
    Payout,
    PayoutReversal,
    ReconciliationIssue,
    ReconciliationRun,
    Refund,
    SettlementShare,
)
from payments.services._common import _from_timestamp, _get, _id_of, _now, _required
from payments.services.charges import payment_cancel
from payments.stripe_calls import StripeData, stripe_reachable
from payments.stripe_client import client

if TYPE_CHECKING:
    from accounts.models import User

logger = logging.getLogger(__name__)


@dataclass
class _LedgerSide:
    key: str
    stripe_id: str
    transaction: LedgerTransaction | None
    amount: int  # the posting's stripe_balance line: what should have moved at Stripe


def _expected_at_stripe(since: datetime) -> dict[str, list[_LedgerSide]]:
    """Our postings that moved money at Stripe, by the Stripe object that moved it."""
    expected: dict[str, list[_LedgerSide]] = {}

    def add(stripe_id: str | None, key: str) -> None:
        if stripe_id:
            expected.setdefault(stripe_id, []).append(
                _LedgerSide(key=key, stripe_id=stripe_id, transaction=None, amount=0)
            )

    for pk, charge in Payment.objects.filter(
        stripe_charge_id__isnull=False, updated_at__gte=since
    ).values_list("pk", "stripe_charge_id"):
        add(charge, f"payment:{pk}:capture")
    for pk, refund in Refund.objects.filter(
        status=Refund.Status.SUCCEEDED, updated_at__gte=since
    ).values_list("pk", "stripe_refund_id"):
        add(refund, f"refund:{pk}")
    for pk, transfer in Payout.objects.filter(transfer_id__isnull=False, updated_at__gte=since).values_list(
        "pk", "transfer_id"
    ):
        add(transfer, f"payout:{pk}")
    for pk, reversal in PayoutReversal.objects.filter(
        status=PayoutReversal.Status.SUCCEEDED, updated_at__gte=since
    ).values_list("pk", "stripe_reversal_id"):
        add(reversal, f"payout_reversal:{pk}")
    for pk, dispute in Dispute.objects.filter(opened_at__gte=since - timedelta(days=120)).values_list(
        "pk", "stripe_dispute_id"
    ):
        for key in LedgerTransaction.objects.filter(idempotency_key__startswith=f"dispute:{pk}:").values_list(
            "idempotency_key", flat=True
        ):
            add(dispute, key)
    keys = [side.key for sides in expected.values() for side in sides]
    amounts = dict(
        LedgerEntry.objects.filter(
            transaction__idempotency_key__in=keys, account__purpose=LedgerAccount.Purpose.STRIPE_BALANCE
        )
        .values("transaction__idempotency_key")
        .annotate(total=Sum("amount"))
        .values_list("transaction__idempotency_key", "total")
    )
    transactions = {t.idempotency_key: t for t in LedgerTransaction.objects.filter(idempotency_key__in=keys)}
    for sides in expected.values():
        for side in sides:
            side.transaction = transactions.get(side.key)
            side.amount = amounts.get(side.key, 0)
    return expected


def _stripe_balance_transactions(since: datetime) -> list[StripeData]:
    """Balance transactions since `since`, newest first (pages stop at the first older one)."""
    cutoff = int(since.timestamp())  # Stripe lists newest first
    seen: dict[str, StripeData] = {}
    with stripe_reachable():
        for txn in client().v1.balance_transactions.list({"limit": 100}).auto_paging_iter():
            if int(txn["created"]) < cutoff:
                break
            seen.setdefault(txn["id"], txn)
    return list(seen.values())


RECONCILED_TYPES = {
    "charge",
    "payment",
    "refund",
    "payment_refund",
    "transfer",
    "transfer_refund",
    "adjustment",
}


def _fee_kept(txn: StripeData) -> int:
    """What Stripe kept on a balance transaction: its fee, or all of a `stripe_fee` one (a charge
    for Stripe's own services). Negative when Stripe gives a fee back."""
    if _required(txn, "type") == "stripe_fee":
        return -int(txn["amount"])
    return int(_required(txn, "fee"))


def _book_stripe_fees(txns: list[StripeData]) -> int:
    """Book each fee Stripe kept (once per balance transaction); returns how many were new."""
    booked = 0
    for txn in txns:
        fee = _fee_kept(txn)
        if fee:
            booked += postings.post_stripe_fee(
                balance_transaction_id=txn["id"],
                source=_id_of(_get(txn, "source")) or "",
                fee=fee,
                currency=str(_required(txn, "currency")).upper(),
            )
    return booked


# --- Our books against each other -----------------------------------------------------------------


def _finding(kind: str, detail: str, subject: str = "", **fields: Any) -> dict[str, Any]:
    """A finding: ReconciliationIssue fields, and the subject (a payment, a seller) that keeps
    a finding on our own books one open issue across runs."""
    return {
        "subject": subject,
        "kind": kind,
        "stripe_object_id": "",
        "balance_transaction_id": "",
        "ledger_transaction": None,
        "stripe_amount": None,
        "ledger_amount": None,
        "currency": "",
        "detail": detail[:500],
        **fields,
    }


def _uncredited_captures(horizon: datetime) -> list[dict[str, Any]]:
    """Captured payments (money in our stripe_balance) whose sellers were never credited."""
    return [
        _finding(
            ReconciliationIssue.Kind.CAPTURED_NOT_CREDITED,
            f"Payment {pk} ({reference}) captured {captured} {currency} and credited no seller.",
            subject=f"payment:{pk}",
            stripe_object_id=charge or "",
            ledger_amount=captured,
            currency=currency,
        )
        for pk, reference, charge, captured, currency in Payment.objects.filter(
            status__in=Payment.CAPTURED_STATES,
            amount_captured__gt=0,
            settled_at__isnull=True,
            updated_at__lte=horizon,
        ).values_list("pk", "reference", "stripe_charge_id", "amount_captured", "currency")
    ]


def _unnetted_buyer_charges(since: datetime) -> list[dict[str, Any]]:
    """Settled payments whose buyer_charges (capture in, settlement and refunds out) are not zero."""
    settled = dict(Payment.objects.filter(settled_at__gte=since).values_list("reference", "pk"))
    left = (
        LedgerEntry.objects.filter(
            account__purpose=LedgerAccount.Purpose.BUYER_CHARGES, transaction__reference__in=list(settled)
        )
        .values("transaction__reference", "currency")
        .annotate(total=Sum("amount"))
        .exclude(total=0)
    )
    return [
        _finding(
            ReconciliationIssue.Kind.CHARGES_NOT_NETTED,
            f"Payment {settled[row['transaction__reference']]} ({row['transaction__reference']}) is "
            f"settled but leaves {-row['total']} {row['currency']} in buyer_charges.",
            subject=f"payment:{settled[row['transaction__reference']]}",
            ledger_amount=-row["total"],
            currency=row["currency"],
        )
        for row in left
    ]


def payable_mismatches() -> list[dict[str, Any]]:
    """Per seller and currency: what settlement gave them (on their payable, or clearing what
    they owed) equals the net of their shares, the payout debits equal the transfers made to
    them, and their payable is never negative (what they owe is a receivable)."""
    by_kind: dict[tuple[int, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    payable: dict[tuple[int, str], int] = defaultdict(int)
    for seller, currency, purpose, kind, total in (
        LedgerEntry.objects.filter(
            account__purpose__in=[
                LedgerAccount.Purpose.SELLER_PAYABLE,
                LedgerAccount.Purpose.SELLER_RECEIVABLE,
            ]
        )
        .values_list("account__seller_id", "currency", "account__purpose", "transaction__kind")
        .annotate(total=Sum("amount"))
    ):
        by_kind[(seller, currency)][kind] += total
        if purpose == LedgerAccount.Purpose.SELLER_PAYABLE:
            payable[(seller, currency)] -= total
    shares: dict[tuple[int, str], int] = defaultdict(int)
    for seller, currency, net in SettlementShare.objects.values_list("seller_id", "currency").annotate(
        net=Sum("net")
    ):
        shares[(seller, currency)] += net
    paid: dict[tuple[int, str], int] = defaultdict(int)
    for seller, currency, amount in (
        Payout.objects.filter(transfer_id__isnull=False)
        .values_list("seller_id", "currency")
        .annotate(amount=Sum("amount"))
    ):
        paid[(seller, currency)] += amount
    findings = []
    for key in sorted(set(by_kind) | set(shares) | set(paid)):
        seller, currency = key
        kinds = by_kind.get(key, {})
        credited, paid_out, balance = (
            -kinds.get(LedgerTransaction.Kind.SETTLEMENT, 0),
            kinds.get(LedgerTransaction.Kind.PAYOUT, 0),
            payable.get(key, 0),
        )
        problems = []
        if credited != shares.get(key, 0):
            problems.append(f"credited {credited} for shares of {shares.get(key, 0)}")
        if paid_out != paid.get(key, 0):
            problems.append(f"payouts of {paid_out} booked for {paid.get(key, 0)} transferred")
        if balance < 0:
            problems.append(f"payable is {balance}")
        if problems:
            findings.append(
                _finding(
                    ReconciliationIssue.Kind.PAYABLE_MISMATCH,
                    f"Seller {seller} ({currency}): " + "; ".join(problems) + ".",
                    subject=f"seller:{seller}:{currency}",
                    ledger_amount=balance,
                    currency=currency,
                )
            )
    return findings


# --- Authorisations nobody will capture -------------------------------------------------------------


def _held_authorisations(since: datetime) -> list[StripeData]:
    """PaymentIntents created since `since` that hold an authorisation (newest first at Stripe)."""
    cutoff = int(since.timestamp())
    held: list[StripeData] = []
    with stripe_reachable():
        for intent in client().v1.payment_intents.list({"limit": 100}).auto_paging_iter():
            if int(intent["created"]) < cutoff:
                break
            if _required(intent, "status") == "requires_capture":
                held.append(intent)
    return held


def _authorisation_findings(since: datetime, horizon: datetime) -> list[tuple[dict[str, Any], int | None]]:
    """(finding, our payment id or None) for each held authorisation that must be released."""
    held = [i for i in _held_authorisations(since) if _from_timestamp(i["created"]) <= horizon]
    ours = {
        p.stripe_payment_intent_id: p
        for p in Payment.objects.filter(stripe_payment_intent_id__in=[i["id"] for i in held])
    }
    deadline = _now() - timedelta(hours=settings.RECONCILIATION_AUTHORISATION_MAX_HOURS)
    found: list[tuple[dict[str, Any], int | None]] = []
    for intent in held:
        amount, currency = int(_required(intent, "amount")), str(_required(intent, "currency")).upper()
        payment = ours.get(intent["id"])
        if payment is None or payment.status != Payment.Status.AUTHORISED:
            claimed = _get(_get(intent, "metadata", {}), "courtier_payment_id")
            owner = (
                f"payment {payment.pk} is {payment.status}"
                if payment
                else (
                    f"metadata names payment {claimed}, which holds another PaymentIntent"
                    if claimed
                    else "no payment of ours"
                )
            )
            found.append(
                (
                    _finding(
                        ReconciliationIssue.Kind.ORPHAN_AUTHORISATION,
                        f"PaymentIntent {intent['id']} holds {amount} {currency}: {owner}; cancelled.",
                        stripe_object_id=intent["id"],
                        stripe_amount=amount,
                        currency=currency,
                    ),
                    None,
                )
            )
        elif _from_timestamp(intent["created"]) <= deadline:
            found.append(
                (
                    _finding(
                        ReconciliationIssue.Kind.STALE_AUTHORISATION,
                        f"PaymentIntent {intent['id']} of payment {payment.pk} ({payment.reference}) "
                        f"held {amount} {currency} past its deadline; cancelled.",
                        stripe_object_id=intent["id"],
                        stripe_amount=amount,
                        currency=currency,
                    ),
                    payment.pk,
                )
            )
    return found


def _release(issue: ReconciliationIssue, payment_id: int | None) -> None:
    """Cancel the authorisation an issue reports (no lock held; keyed by the issue's row)."""
    try:
        if payment_id is not None:
            payment_cancel(payment_id=payment_id)
        else:
            client().v1.payment_intents.cancel(
                issue.stripe_object_id, {}, {"idempotency_key": f"reconciliation_issue:{issue.pk}:cancel"}
            )
    except (ServiceError, stripe.StripeError) as exc:  # reported; the next run tries again
        logger.warning(
            "reconciliation issue %s: could not cancel %s: %s", issue.pk, issue.stripe_object_id, exc
        )


def _record(run: ReconciliationRun, finding: dict[str, Any]) -> ReconciliationIssue | None:
    """Open an issue for the finding unless one is open already; returns the new one."""
    fields = dict(finding)
    tx = fields["ledger_transaction"]
    parts = [
        fields["kind"],
        fields["stripe_object_id"],
        fields["balance_transaction_id"],
        str(tx.pk if tx else ""),
    ]
    subject = fields.pop("subject")
    fingerprint = ":".join(parts + ([subject] if subject else []))
    if ReconciliationIssue.objects.filter(fingerprint=fingerprint, resolved_at__isnull=True).exists():
        return None
    return ReconciliationIssue.objects.create(run=run, fingerprint=fingerprint[:300], **fields)


def reconciliation_run(*, since: datetime | None = None, grace: timedelta | None = None) -> ReconciliationRun:
    """Match Stripe's balance transactions one to one with our ledger postings, check our books
    against each other and release stray authorisations; report every finding (module docstring).

    Each balance transaction of a reconciled type must match exactly one posting on the same
    Stripe object (charge, refund, transfer, transfer reversal, dispute) with the same amount on
    stripe_balance, and each such posting one balance transaction. Whatever is younger than
    `grace` and unmatched is left for the next run (a webhook may still be on its way). Each
    finding opens one ReconciliationIssue for moderators, kept open across runs until resolved.
    Matching is on the gross amount; the fees Stripe kept are booked here, from the same list
    (`stripe_fees`), so the ledger's stripe_balance follows Stripe's net.
    """
    started = _now()
    since = since or started - timedelta(days=settings.RECONCILIATION_WINDOW_DAYS)
    grace = timedelta(seconds=settings.RECONCILIATION_GRACE_SECONDS) if grace is None else grace
    horizon = started - grace
    run = ReconciliationRun.objects.create(window_start=since, started_at=started)
    listed = _stripe_balance_transactions(since)
    fees_posted = _book_stripe_fees(listed)
    txns = [t for t in listed if _required(t, "type") in RECONCILED_TYPES]
    expected = _expected_at_stripe(since - timedelta(days=1))
    findings: list[dict[str, Any]] = []
    matched = 0
    used: set[str] = set()
    for txn in sorted(txns, key=lambda t: (t["created"], t["id"])):
        source = _id_of(_get(txn, "source")) or ""
        amount = int(txn["amount"])
        currency = str(_required(txn, "currency")).upper()
        candidates = [s for s in expected.get(source, []) if s.key not in used and s.transaction is not None]
        exact = next((s for s in candidates if s.amount == amount), None)
        if exact is not None:
            used.add(exact.key)
            matched += 1
        elif candidates:
            near = candidates[0]
            used.add(near.key)
            findings.append(
                {
                    "subject": "",
                    "kind": ReconciliationIssue.Kind.AMOUNT_MISMATCH,
                    "stripe_object_id": source,
                    "balance_transaction_id": txn["id"],
                    "ledger_transaction": near.transaction,
                    "stripe_amount": amount,
                    "ledger_amount": near.amount,
                    "currency": currency,
                    "detail": f"{txn['type']} {source}: Stripe moved {amount}, the ledger {near.amount}.",
                }
            )
        elif _from_timestamp(txn["created"]) <= horizon:
            findings.append(
                {
                    "subject": "",
                    "kind": ReconciliationIssue.Kind.MISSING_IN_LEDGER,
                    "stripe_object_id": source,
                    "balance_transaction_id": txn["id"],
                    "ledger_transaction": None,
                    "stripe_amount": amount,
                    "ledger_amount": None,
                    "currency": currency,
                    "detail": f"{txn['type']} {source} of {amount} {currency} at Stripe has no ledger posting.",
                }
            )
    for sides in expected.values():
        for side in sides:
            if side.key in used or side.transaction is None:
                continue
            if since <= side.transaction.created_at <= horizon:
                findings.append(
                    {
                        "subject": "",
                        "kind": ReconciliationIssue.Kind.MISSING_AT_STRIPE,
                        "stripe_object_id": side.stripe_id,
                        "balance_transaction_id": "",
                        "ledger_transaction": side.transaction,
                        "stripe_amount": None,
                        "ledger_amount": side.amount,
                        "currency": side.transaction.entries.values_list("currency", flat=True).first() or "",
                        "detail": f"Posting {side.key} ({side.amount}) has no balance transaction at Stripe.",
                    }
                )
    findings += _uncredited_captures(horizon)
    findings += _unnetted_buyer_charges(since - timedelta(days=1))
    findings += payable_mismatches()
    authorisations = _authorisation_findings(since, horizon)
    findings += [finding for finding, _payment in authorisations]
    with transaction.atomic(durable=True):
        opened = {id(finding): _record(run, finding) for finding in findings}
        run.balance_transactions = len(txns)
        run.ledger_transactions = sum(
            1 for sides in expected.values() for s in sides if s.transaction is not None
        )
        run.matched = matched
        run.issues = len(findings)
        run.fees_posted = fees_posted
        run.finished_at = _now()
        run.save()
    for finding, payment_id in authorisations:  # after commit: each cancel is keyed by its issue
        issue = (
            opened[id(finding)]
            or ReconciliationIssue.objects.filter(
                kind=finding["kind"], stripe_object_id=finding["stripe_object_id"], resolved_at__isnull=True
            ).first()
        )
        if issue is not None:
            _release(issue, payment_id)
    return run


def reconciliation_issue_resolve(*, issue_id: int, moderator: User, resolution: str) -> ReconciliationIssue:
    if not resolution.strip():
        raise InvalidInput("resolution_required", "Say how the issue was resolved.", field="resolution")
    with transaction.atomic(durable=True):
        issue = ReconciliationIssue.objects.select_for_update().filter(pk=issue_id).first()
        if issue is None:
            raise NotFound("not_found", "No such issue.")
        if issue.resolved_at is None:
            issue.resolved_at = _now()
            issue.resolved_by = moderator
            issue.resolution = resolution.strip()
            issue.save()
    return issue

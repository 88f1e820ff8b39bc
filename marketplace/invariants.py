"""The market's invariants as one reusable check (issue 15): `violations()` reads the database
(and, when asked, the Stripe sandbox through reconciliation) and returns every broken rule.

Used by `manage.py check_invariants`, the chaos and load runs, and tests
(`tests.invariants.assert_invariants`). Read-only, except `with_stripe=True`, which runs a
reconciliation (it records its run and books Stripe's fees, as the nightly one does).

The rules:
- ledger_unbalanced: every ledger transaction sums to zero per currency;
- payable: each seller's payable is their settlement credits minus their payouts, never
  negative (payments.services.reconciliation.payable_mismatches);
- settled_twice: no trade was settled (delivered → settled) twice; a dispute closed in our
  favour (disputed → settled) is not a second settlement; charged_twice: no settlement batch has two
  payments;
- line_without_credit / line_without_grant: every delivered line of a settled trade has its
  seller's settlement share and exactly one access grant;
- grant_without_consent / read_without_consent: no access grant started, and no record was read,
  at a moment without valid consent for each of its categories and its purpose;
  grant_outlived_consent: a grant ended by consent ending was revoked at once (a withdrawal in
  its transaction; an expiry within `expiry_lag`, the sweep's cadence);
- notice_missing / notice_twice: every revocation of access produced exactly one deletion
  notice per organisation and seller, covering the categories revoked;
- not_final: after the queues drain, every trade, payment and payout is final or younger than
  `deadline`;
- history_mutable: consent events, ledger rows and the audit trail carry their append-only
  triggers (so they were never changed);
- reconciliation: the sandbox's objects and our rows reconcile (with_stripe only).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Q
from django.utils import timezone

from accounts import taxonomy
from accounts.models import ConsentGrant
from core import append_only
from marketplace.models import AccessGrant, AccessLog, DeletionNotice, Trade, TradeEvent, TradeLine
from payments import ledger
from payments.models import Payment, Payout, ReconciliationIssue, SettlementShare
from payments.services import reconciliation

TRADE_FINAL = (
    Trade.Status.SETTLED,
    Trade.Status.VOIDED,
    Trade.Status.PAYMENT_FAILED,
    Trade.Status.REFUNDED,
    Trade.Status.DISPUTED,
)
PAYMENT_OPEN = (Payment.Status.PENDING, Payment.Status.REQUIRES_ACTION, Payment.Status.AUTHORISED)
# A transfer is sent within the deadline; the bank payout after it may take days.
IN_TRANSIT_DEADLINE = timedelta(days=10)
# A withdrawal revokes access in its own transaction: its times differ by the statement's duration.
SAME_TRANSACTION = timedelta(seconds=5)


@dataclass(frozen=True)
class Violation:
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.detail}"


def violations(
    *,
    now: datetime | None = None,
    deadline: timedelta = timedelta(minutes=30),
    expiry_lag: timedelta = timedelta(minutes=5),
    with_stripe: bool = False,
) -> list[Violation]:
    """Every broken invariant, rule by rule (module docstring)."""
    now = now or timezone.now()
    found: list[Violation] = []
    found += _ledger()
    found += _trades_once()
    found += _settled_lines()
    consent = _ConsentHistory.load()
    found += _grants_and_reads(consent, expiry_lag)
    found += _deletion_notices()
    found += _not_final(now - deadline)
    found += _history_append_only()
    if with_stripe:  # after the queues drain: nothing is left for a later webhook to fix
        reconciliation.reconciliation_run(grace=timedelta(0))
        found += [
            Violation("reconciliation", f"{issue.kind}: {issue.detail}")
            for issue in ReconciliationIssue.objects.filter(resolved_at__isnull=True).order_by("pk")
        ]
    return found


def _ledger() -> list[Violation]:
    found = [
        Violation("ledger_unbalanced", f"ledger transaction {pk} does not sum to zero")
        for pk in ledger.unbalanced_transactions()
    ]
    return found + [
        Violation("payable", finding["detail"]) for finding in reconciliation.payable_mismatches()
    ]


def _trades_once() -> list[Violation]:
    twice = (
        TradeEvent.objects.filter(to_status=Trade.Status.SETTLED)
        .exclude(from_status=Trade.Status.DISPUTED)  # a dispute won returns to settled
        .values("trade_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    found = [Violation("settled_twice", f"trade {row['trade_id']} settled {row['n']} times") for row in twice]
    charged = (
        Payment.objects.filter(reference__startswith="settlement-batch:")
        .values("reference")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    return found + [
        Violation("charged_twice", f"{row['reference']} has {row['n']} payments") for row in charged
    ]


def _settled_lines() -> list[Violation]:
    """Delivered lines of settled trades: a share for their seller on the batch's payment, and
    one access grant each (a one-to-one field: at most one by construction)."""
    lines = list(
        TradeLine.objects.filter(status=TradeLine.Status.DELIVERED, trade__status=Trade.Status.SETTLED)
        .values_list("pk", "seller_id", "trade_id", "trade__batch_id")
        .order_by("pk")
    )
    references = {f"settlement-batch:{batch}" for *_rest, batch in lines if batch}
    payment_of = dict(Payment.objects.filter(reference__in=references).values_list("reference", "pk"))
    shared = set(
        SettlementShare.objects.filter(payment_id__in=payment_of.values()).values_list(
            "payment_id", "seller_id"
        )
    )
    granted = set(
        AccessGrant.objects.filter(trade_line_id__in=[line[0] for line in lines]).values_list(
            "trade_line_id", flat=True
        )
    )
    found = []
    for pk, seller, trade, batch in lines:
        payment = payment_of.get(f"settlement-batch:{batch}")
        if payment is None or (payment, seller) not in shared:
            found.append(
                Violation(
                    "line_without_credit", f"line {pk} of settled trade {trade}: no share for seller {seller}"
                )
            )
        if pk not in granted:
            found.append(
                Violation("line_without_grant", f"line {pk} of settled trade {trade} has no access grant")
            )
    return found


class _ConsentHistory:
    """Each (seller, category, purpose)'s validity intervals [granted_at, min(expires_at, ended_at))."""

    def __init__(self, intervals: dict[tuple[int, str, str], list[tuple[datetime, datetime, str]]]) -> None:
        self.intervals = intervals
        self.starts = {key: [i[0] for i in spans] for key, spans in intervals.items()}

    @classmethod
    def load(cls) -> _ConsentHistory:
        intervals: dict[tuple[int, str, str], list[tuple[datetime, datetime, str]]] = defaultdict(list)
        rows = ConsentGrant.objects.values_list(
            "seller_id", "category", "purpose", "granted_at", "expires_at", "ended_at", "status"
        ).order_by("granted_at", "pk")
        for seller, category, purpose, granted_at, expires_at, ended_at, status in rows:
            end = min(expires_at, ended_at) if ended_at else expires_at
            intervals[(seller, category, purpose)].append((granted_at, end, status))
        return cls(intervals)

    def valid_until(self, key: tuple[int, str, str], at: datetime) -> tuple[datetime, str] | None:
        """When consent valid at `at` stops (following renewals that continue it), and how
        (the status of the grant whose end it is); None when no consent is valid at `at`."""
        spans = self.intervals.get(key, [])
        index = bisect.bisect_right(self.starts.get(key, []), at)
        covering = [span for span in spans[:index] if span[1] > at]
        if not covering:
            return None
        end, status = max((span[1], span[2]) for span in covering)
        for start, later_end, later_status in spans[index:]:  # renewals granted before it ended
            if start <= end and later_end > end:
                end, status = later_end, later_status
        return end, status


def _grants_and_reads(consent: _ConsentHistory, expiry_lag: timedelta) -> list[Violation]:
    found: list[Violation] = []
    grants = {
        grant.pk: grant
        for grant in AccessGrant.objects.only(
            "pk", "seller_id", "categories_mask", "purpose", "starts_at", "status", "revoked_at"
        )
    }
    now = timezone.now()
    for grant in grants.values():
        for category in taxonomy.codes_of(grant.categories_mask, taxonomy.CATEGORY_CODES):
            key = (grant.seller_id, category, grant.purpose)
            validity = consent.valid_until(key, grant.starts_at)
            if validity is None:
                found.append(
                    Violation(
                        "grant_without_consent",
                        f"access grant {grant.pk} started without consent to {category}",
                    )
                )
                continue
            ended, how = validity
            if ended > now:
                continue  # consent still valid: nothing to compare
            # a withdrawal or an erasure revokes access in its own transaction; an expiry is
            # swept after the fact (reads stop at once: delivery checks consent itself)
            swept = how == ConsentGrant.Status.EXPIRED or how == ConsentGrant.Status.ACTIVE
            if grant.status == AccessGrant.Status.ACTIVE and (not swept or now - ended > expiry_lag):
                found.append(
                    Violation(
                        "grant_outlived_consent",
                        f"access grant {grant.pk} still active; consent to {category} ended at {ended:%Y-%m-%d %H:%M:%S}",
                    )
                )
            elif grant.status == AccessGrant.Status.REVOKED and grant.revoked_at is not None:
                late = grant.revoked_at - ended
                if late > SAME_TRANSACTION + (expiry_lag if swept else timedelta(0)):
                    found.append(
                        Violation(
                            "grant_outlived_consent",
                            f"access grant {grant.pk} revoked {late} after consent to {category} ended",
                        )
                    )
    for grant_id, read_at in AccessLog.objects.values_list("grant_id", "read_at").iterator(chunk_size=5000):
        grant = grants[grant_id]
        for category in taxonomy.codes_of(grant.categories_mask, taxonomy.CATEGORY_CODES):
            if consent.valid_until((grant.seller_id, category, grant.purpose), read_at) is None:
                found.append(
                    Violation(
                        "read_without_consent",
                        f"access grant {grant_id} read at {read_at:%Y-%m-%d %H:%M:%S} without consent to {category}",
                    )
                )
                break
    return found


def _deletion_notices() -> list[Violation]:
    """Access revoked together (one organisation, one seller, one moment: marketplace.services.
    access.access_revoke) has exactly one notice of that moment covering the categories."""
    revoked: dict[tuple[int, int, datetime], int] = defaultdict(int)
    for organisation, seller, at, mask in AccessGrant.objects.filter(
        status=AccessGrant.Status.REVOKED
    ).values_list("organisation_id", "seller_id", "revoked_at", "categories_mask"):
        revoked[(organisation, seller, at)] |= mask
    notices: dict[tuple[int, int, datetime], list[int]] = defaultdict(list)
    for organisation, seller, at, mask in DeletionNotice.objects.values_list(
        "organisation_id", "seller_id", "created_at", "categories_mask"
    ):
        notices[(organisation, seller, at)].append(mask)
    found = []
    for key, mask in sorted(revoked.items()):
        organisation, seller, at = key
        sent = notices.get(key, [])
        if not sent:
            found.append(
                Violation(
                    "notice_missing",
                    f"organisation {organisation} lost access to seller {seller} at {at:%Y-%m-%d %H:%M:%S} without a deletion notice",
                )
            )
        elif len(sent) > 1:
            found.append(
                Violation(
                    "notice_twice",
                    f"organisation {organisation} got {len(sent)} notices for seller {seller} at {at:%Y-%m-%d %H:%M:%S}",
                )
            )
        elif sent[0] & mask != mask:
            found.append(
                Violation(
                    "notice_missing",
                    f"the notice to organisation {organisation} for seller {seller} misses categories",
                )
            )
    return found


def _not_final(older_than: datetime) -> list[Violation]:
    stale: list[tuple[str, int, str]] = [
        *(
            ("trade", pk, status)
            for pk, status in Trade.objects.filter(created_at__lt=older_than)
            .exclude(status__in=TRADE_FINAL)
            .values_list("pk", "status")
        ),
        *(
            ("payment", pk, status)
            for pk, status in Payment.objects.filter(
                created_at__lt=older_than, status__in=PAYMENT_OPEN
            ).values_list("pk", "status")
        ),
        *(
            ("payout", pk, status)
            for pk, status in Payout.objects.filter(
                Q(created_at__lt=older_than, status=Payout.Status.PENDING)
                | Q(created_at__lt=older_than - IN_TRANSIT_DEADLINE, status=Payout.Status.IN_TRANSIT)
            ).values_list("pk", "status")
        ),
    ]
    return [Violation("not_final", f"{kind} {pk} is still {status}") for kind, pk, status in stale]


def _history_append_only() -> list[Violation]:
    return [
        Violation("history_mutable", f"{table} has no append-only trigger")
        for table in append_only.unprotected_tables()
    ]

"""`manage.py check_invariants`: every broken rule of the market (marketplace.invariants), one per
line, then `invariant_violations=N`; exits 1 when N > 0."""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from marketplace import invariants


class Command(BaseCommand):
    help = "Check the market's invariants (ledger, payables, trades, consent, access, notices, history)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--deadline-seconds",
            type=int,
            default=1800,
            help="trades, payments and payouts older than this must be final (default 1800)",
        )
        parser.add_argument(
            "--expiry-lag-seconds",
            type=int,
            default=300,
            help="how late the consent expiry sweep may revoke access (default 300)",
        )
        parser.add_argument(
            "--with-stripe",
            action="store_true",
            help="also reconcile the Stripe sandbox's objects with our rows (records a run)",
        )

    def handle(
        self, *args, deadline_seconds: int, expiry_lag_seconds: int, with_stripe: bool, **options
    ) -> None:
        found = invariants.violations(
            deadline=timedelta(seconds=deadline_seconds),
            expiry_lag=timedelta(seconds=expiry_lag_seconds),
            with_stripe=with_stripe,
        )
        for violation in found:
            self.stdout.write(str(violation))
        self.stdout.write(f"invariant_violations={len(found)}")
        if found:
            raise CommandError(f"{len(found)} invariant violations", returncode=1)

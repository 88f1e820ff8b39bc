"""`manage.py seed_demo`: demo data for `make run`, a living market that every page and endpoint
can show. The parts live in marketplace/demo/ (the one app that may use every other app's
services); see its package docstring for what is created and how a second run adds nothing."""

from __future__ import annotations

import random
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection

from marketplace.demo.data import BUYER_EMAIL, ORGANISATION, PENDING_BUYER_EMAIL, PENDING_ORGANISATION
from marketplace.demo.files import write_logins
from marketplace.demo.listings import ListingSeeder
from marketplace.demo.market import MarketSeeder, stripe_answers
from marketplace.demo.people import PeopleSeeder


class Command(PeopleSeeder, ListingSeeder, MarketSeeder, BaseCommand):
    help = "Create a living demo market (idempotent): sellers, listings, buyers, trades, payouts."

    def add_arguments(self, parser):
        parser.add_argument("--sellers", type=int, default=300, help="crowd sellers (default 300)")
        parser.add_argument("--seed", type=int, default=2024, help="random seed (default 2024)")
        parser.add_argument("--no-files", action="store_true", help="do not write into the run dir")
        parser.add_argument("--no-market", action="store_true", help="skip what needs Stripe")

    def handle(self, *args, sellers: int, seed: int, no_files: bool, no_market: bool, **options):
        started = time.monotonic()
        self.write_files = not no_files
        self.rng = random.Random(seed)
        if connection.vendor == "sqlite":
            # Demo data only, this connection only: no fsync per transaction.
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA synchronous=OFF")
        moderator = self.moderator()
        demo_seller = self.demo_seller()
        crowd = self.crowd(sellers)
        buyer_org = self.organisation(ORGANISATION, BUYER_EMAIL, "Claire Martin", moderator, verify=True)
        pending_org = self.organisation(
            PENDING_ORGANISATION, PENDING_BUYER_EMAIL, "Hugo Petit", moderator, verify=False
        )
        api_key = self.ensure_api_key(buyer_org, BUYER_EMAIL, "demo-api-key.txt")
        pending_key = self.ensure_api_key(pending_org, PENDING_BUYER_EMAIL, "demo-api-key-pending.txt")
        self.listings(demo_seller, crowd, moderator)
        if no_market:
            self.stdout.write("Market: skipped (--no-market).")
        elif not stripe_answers():
            self.stdout.write(
                "Market: skipped, Stripe does not answer at "
                f"{settings.STRIPE_API_BASE} (make run starts the sandboxes, then seeds)."
            )
        else:
            self.market(buyer_org, demo_seller, api_key)
        write_logins(
            self.stdout, self.stderr, api_key=api_key, pending_key=pending_key, write_files=self.write_files
        )
        self.stdout.write(f"Demo data ready in {time.monotonic() - started:.1f} s.")

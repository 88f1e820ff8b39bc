"""Demo data for `make run`: a living market that every page and endpoint can show.

- a moderator; the demo seller (verified badge, listings, sales, reads, payouts);
- a crowd of sellers (default 300) with realistic attributes (age bands, regions weighted by
  population, OS and operator shares, interests), consents and audience opt-ins, so common
  segments exceed K (SEGMENT_MIN_SIZE);
- fixed-price and auction listings, a few auctions ending minutes after start-up (with sealed
  bids: the beat sweep closes them and the worker settles them while you watch);
- a verified buyer organisation with an API key and a test card saved at the Stripe sandbox, and
  one awaiting verification (its own API key);
- settled trades (buy-now and an audience bundle), reads of the records through the buyer API,
  a revocation with its deletion notice, payouts paid, in transit and pending.

Every write goes through the services (accounts, listings, marketplace, payments) except the
crowd's accounts, profiles and consents, which are written in bulk (`_crowd_create`, the same
rows and receipts as the services write, then one `audience_refresh`): through the services
they cost ~35 ms a seller, ten seconds for 300.

The market part (card, trades, settlement, payouts) needs Stripe: `make run` (scripts/run.py)
runs this command once the sandboxes answer; without them it is skipped with a message. Trades
are settled here, synchronously, with marketplace.settlement (the worker is not running yet).

Idempotent: each part checks its own state (the crowd by email, listings per seller, the market
by the demo buyer's trades, reads, notices and payouts), so a second run adds nothing; a saved
card the sandbox no longer knows (a fresh run dir, the same database) is saved again. Writes the
logins to <run dir>/demo-logins.json and the API keys to <run dir>/demo-api-key.txt and
demo-api-key-pending.txt so scripts/run.py can print them.
"""

from __future__ import annotations

import json
import random
import time
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import timedelta
from pathlib import Path

import stripe
from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from accounts import crypto, receipts, services, taxonomy
from accounts.models import (
    BuyerOrganisation,
    ConsentEvent,
    ConsentGrant,
    LifeEvent,
    SellerDataKey,
    SellerProfile,
    User,
)
from accounts.taxonomy import DataCategory, LifeEventKind, Purpose

MODERATOR_EMAIL = "moderator@courtier.localhost"
MODERATOR_PASSWORD = "moderator-demo"
SELLER_EMAIL = "seller@courtier.localhost"
SELLER_PASSWORD = "seller-demo"
BUYER_EMAIL = "buyer@courtier.localhost"
ORGANISATION = {
    "legal_name": "Annonceur Démo SAS",
    "registration_number": "912345678",
    "country": "FR",
    "website": "https://annonceur-demo.example",
    "contact_name": "Claire Martin",
    "contact_email": BUYER_EMAIL,
}
API_KEY_NAME = "demo"
PENDING_BUYER_EMAIL = "buyer-pending@courtier.localhost"
PENDING_ORGANISATION = {
    "legal_name": "Régie Nouvelle SARL",
    "registration_number": "923456789",
    "country": "FR",
    "website": "https://regie-nouvelle.example",
    "contact_name": "Hugo Petit",
    "contact_email": PENDING_BUYER_EMAIL,
}

LOGINS = {
    "moderator": {"email": MODERATOR_EMAIL, "password": MODERATOR_PASSWORD, "where": "/admin/"},
    "seller": {"email": SELLER_EMAIL, "password": SELLER_PASSWORD, "where": "/"},
    "buyer": {"email": BUYER_EMAIL, "password": None, "where": "/api/docs/ (API key)"},
    "buyer-pending": {
        "email": PENDING_BUYER_EMAIL,
        "password": None,
        "where": "/api/docs/ (API key, organisation awaiting verification)",
    },
}

FIRST_NAMES = (
    "Camille Léa Manon Chloé Inès Jade Louise Emma Sarah Zoé Nathalie Isabelle Sophie Aïcha Mélanie "
    "Hélène Margaux Juliette Yasmine Anaïs Lucas Hugo Louis Gabriel Arthur Nathan Thomas Théo Mathis "
    "Karim Julien Nicolas Antoine Mehdi Pierre Olivier Éric Quentin Romain Bastien"
).split()
LAST_NAMES = (
    "Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy Moreau Simon Laurent Lefèvre "
    "Michel Garcia David Bertrand Roux Vincent Fournier Morel Girard André Mercier Dupont Lambert "
    "Bonnet François Martinez Legrand Garnier Faure Rousseau Blanc Guérin Muller Henry Roussel "
    "Nicolas Perrin Benali Nguyen"
).split()

# Region -> (weight ~ population in millions, postcode prefixes of its departments).
REGIONS: dict[str, tuple[float, tuple[str, ...]]] = {
    taxonomy.Region.IDF: (12.3, ("75", "77", "78", "91", "92", "93", "94", "95")),
    taxonomy.Region.ARA: (8.1, ("69", "38", "42", "63", "73", "74", "01", "26")),
    taxonomy.Region.HDF: (6.0, ("59", "62", "80", "60", "02")),
    taxonomy.Region.NAQ: (6.0, ("33", "87", "64", "17", "86", "24")),
    taxonomy.Region.OCC: (6.0, ("31", "34", "30", "66", "11", "81")),
    taxonomy.Region.GES: (5.5, ("67", "68", "57", "54", "51", "10")),
    taxonomy.Region.PAC: (5.1, ("13", "06", "83", "84", "04")),
    taxonomy.Region.PDL: (3.9, ("44", "49", "72", "85", "53")),
    taxonomy.Region.BRE: (3.4, ("35", "29", "56", "22")),
    taxonomy.Region.NOR: (3.3, ("76", "14", "50", "27", "61")),
    taxonomy.Region.BFC: (2.8, ("21", "25", "71", "89", "39", "90")),
    taxonomy.Region.CVL: (2.6, ("37", "45", "18", "28", "36", "41")),
    taxonomy.Region.COR: (0.35, ("20",)),
    taxonomy.Region.GP: (0.38, ("971",)),
    taxonomy.Region.MQ: (0.36, ("972",)),
    taxonomy.Region.GF: (0.29, ("973",)),
    taxonomy.Region.RE: (0.87, ("974",)),
    taxonomy.Region.YT: (0.3, ("976",)),
}
OPERATORS = {"orange": 40, "sfr": 22, "bouygues": 18, "free": 15, "mvno": 5}
OS_WEIGHTS = {"android": 68, "ios": 30, "other": 2}
GENDER_WEIGHTS = {"female": 48, "male": 47, "non_binary": 2, "undisclosed": 3}
# Purposes a seller is most likely to accept first.
PURPOSE_WEIGHTS = {
    Purpose.TARGETED_ADVERTISING: 40,
    Purpose.MARKET_RESEARCH: 20,
    Purpose.AUDIENCE_MEASUREMENT: 15,
    Purpose.AD_MEASUREMENT: 10,
    Purpose.PERSONALISED_CONTENT: 10,
    Purpose.PRODUCT_DEVELOPMENT: 5,
}
LIFE_EVENT_DETAILS = {
    LifeEventKind.NEW_LOAN: "Prêt immobilier de 220 000 € sur 25 ans, signé ce trimestre.",
    LifeEventKind.EXPECTING_CHILD: "Naissance prévue au printemps.",
    LifeEventKind.MOVING_HOUSE: "Déménagement vers Nantes dans deux mois.",
    LifeEventKind.NEW_JOB: "Nouveau poste de cheffe de projet, prise de fonction en septembre.",
    LifeEventKind.MARRIAGE: "Mariage prévu en juin.",
    LifeEventKind.RETIREMENT: "Départ à la retraite à la fin de l'année.",
    LifeEventKind.NEW_CAR: "Recherche d'une voiture électrique d'occasion.",
    LifeEventKind.GRADUATION: "Master obtenu cette année.",
}
AGE_RANGES = [(18, 24), (25, 34), (35, 44), (45, 54), (55, 64), (65, 79)]
AGE_WEIGHTS = [14, 22, 21, 18, 14, 11]
NON_SENSITIVE = [c for c in DataCategory.values if c not in taxonomy.SENSITIVE_CATEGORIES]


CROWD_DOMAIN = "demo.courtier.localhost"
SANDBOX_KEY = "sk_test_courtier_local"
# Listings of the demo seller: (categories, purposes, licence days, mode, floor cents).
DEMO_LISTINGS = [
    (["demographics", "location", "interests"], ["targeted_advertising"], 365, "fixed", 1150),
    (["device", "telecom"], ["market_research"], 365, "fixed", 900),
    (["content_affinity"], ["targeted_advertising"], 90, "fixed", 140),
    (["interests", "content_affinity"], ["targeted_advertising", "market_research"], 90, "auction", 260),
]
CLOSING_SOON_MINUTES = (3, 5, 8, 12, 20)
AUDIENCE_CRITERIA = {"categories": ["demographics", "location"], "purpose": "targeted_advertising"}


def run_dir() -> Path:
    return Path(getattr(settings, "RUN_DIR", Path(settings.BASE_DIR) / ".run"))


def ascii_slug(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in text.lower() if ch.isalnum())


def weighted(rng: random.Random, weights: dict) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def uses_sandbox() -> bool:
    return settings.STRIPE_API_KEY == SANDBOX_KEY


def stripe_answers() -> bool:
    from payments.stripe_client import client

    try:
        client().v1.customers.list({"limit": 1})
    except stripe.StripeError:
        return False
    return True


def sandbox_post(path: str, data: dict) -> dict:
    """A control of the Connect sandbox (devtools/stripe_sandbox): here, the seller's bank."""
    request = urllib.request.Request(
        settings.STRIPE_CONNECT_API_BASE.rstrip("/") + path,
        data=urllib.parse.urlencode(data).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {settings.STRIPE_API_KEY}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        raw = response.read()
    return json.loads(raw) if raw.startswith(b"{") else {}


class Command(BaseCommand):
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
        self.write_logins(api_key, pending_key)
        self.stdout.write(f"Demo data ready in {time.monotonic() - started:.1f} s.")

    # --- people -----------------------------------------------------------------------------

    def moderator(self) -> User:
        moderator = User.objects.filter(email=MODERATOR_EMAIL).first()
        if moderator is None:
            moderator = User.objects.create_superuser(
                MODERATOR_EMAIL, MODERATOR_PASSWORD, full_name="Modération Courtier"
            )
            services.email_verify(token=services.email_verification_token(moderator))
        return moderator

    def demo_seller(self) -> User:
        """Camille: complete profile, email and phone verified (the badge), consents to every
        non-sensitive category for two purposes, two life events with their explicit consent."""
        seller = User.objects.filter(email=SELLER_EMAIL).first()
        if seller is not None:
            return seller
        seller = services.seller_create(
            email=SELLER_EMAIL, password=SELLER_PASSWORD, full_name="Camille Laurent", language="fr"
        )
        services.seller_profile_update(
            seller=seller,
            gender="female",
            region=taxonomy.Region.PDL,
            birth_date=timezone.localdate() - timedelta(days=34 * 365 + 120),
            interests=list(taxonomy.INTEREST_CODES[:4]),
            mobile_os="android",
            mobile_operator="orange",
            affinities=list(taxonomy.AFFINITY_CODES[:2]),
            postcode="44000",
            phone="+33612345678",
        )
        services.email_verify(token=services.email_verification_token(seller))
        services.phone_verify(seller=seller, code=services.phone_verification_code(seller=seller))
        seller.refresh_from_db()  # verified now: her listings are approved automatically
        for category in NON_SENSITIVE:
            for purpose in (Purpose.TARGETED_ADVERTISING, Purpose.MARKET_RESEARCH):
                services.consent_grant(seller=seller, category=category, purpose=purpose, window_days=365)
        for kind in (LifeEventKind.MOVING_HOUSE, LifeEventKind.NEW_JOB):
            services.life_event_set(seller=seller, kind=kind, details=LIFE_EVENT_DETAILS[kind])
        services.consent_grant(
            seller=seller,
            category=DataCategory.LIFE_EVENTS,
            purpose=Purpose.TARGETED_ADVERTISING,
            window_days=90,
            explicit_sensitive=True,
        )
        from listings import services as listing_services

        listing_services.audience_optin_update(seller=seller, categories=["demographics", "location"])
        return seller

    def crowd(self, count: int) -> list[User]:
        """The crowd, by email: the missing ones are created in bulk."""
        rng = random.Random(self.rng.random())
        specs = []
        for n in range(1, count + 1):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            specs.append(
                (f"{ascii_slug(first)}.{ascii_slug(last)}.{n:03d}@{CROWD_DOMAIN}", f"{first} {last}")
            )
        emails = [email for email, _name in specs]
        existing = set(User.objects.filter(email__in=emails).values_list("email", flat=True))
        missing = [spec for spec in specs if spec[0] not in existing]
        if missing:
            with transaction.atomic():
                self._crowd_create(rng, missing)
        self.stdout.write(f"Sellers: {len(missing)} created, {count} in the crowd, plus {SELLER_EMAIL}.")
        return list(User.objects.filter(email__in=emails).order_by("pk"))

    def _crowd_create(self, rng: random.Random, specs: list[tuple[str, str]]) -> None:
        """The rows seller_create, seller_profile_update, life_event_set, consent_grant and
        audience_optin_update write, in bulk, then one audience_refresh for all of them."""
        from listings import services as listing_services

        now = timezone.now()
        today = timezone.localdate()
        users = []
        for email, name in specs:
            user = User(
                email=email,
                full_name=name,
                role=User.Role.SELLER,
                preferred_language="fr" if rng.random() < 0.75 else "en",
                date_joined=now - timedelta(days=rng.randint(1, 400)),
            )
            user.set_unusable_password()  # demo sellers cannot log in
            users.append(user)
        users = User.objects.bulk_create(users)
        wrapped = {u.pk: crypto.new_wrapped_data_key() for u in users}
        SellerDataKey.objects.bulk_create(SellerDataKey(seller=u, wrapped_key=wrapped[u.pk]) for u in users)
        profiles, life_events, grants, verified = [], [], [], {"email": [], "phone": []}
        for user in users:
            fernet = crypto.data_fernet(wrapped[user.pk])
            region = rng.choices(list(REGIONS), weights=[w for w, _ in REGIONS.values()])[0]
            prefix = rng.choice(REGIONS[region][1])
            low, high = rng.choices(AGE_RANGES, weights=AGE_WEIGHTS)[0]
            birth_date = today - timedelta(days=rng.randint(low, high) * 365 + rng.randint(30, 330))
            complete = rng.random() < 0.85
            profile = SellerProfile(
                seller=user,
                gender=weighted(rng, GENDER_WEIGHTS),
                region=region,
                age_band=taxonomy.age_band_for(birth_date, today),
                interests_mask=taxonomy.mask_of(
                    rng.sample(taxonomy.INTEREST_CODES, k=rng.randint(2, 6)), taxonomy.INTEREST_CODES
                ),
                birth_date_encrypted=crypto.encrypt(fernet, birth_date.isoformat()),
            )
            if complete:
                postcode = prefix + "".join(str(rng.randint(0, 9)) for _ in range(5 - len(prefix)))
                profile.mobile_os = weighted(rng, OS_WEIGHTS)
                profile.mobile_operator = weighted(rng, OPERATORS)
                profile.affinities_mask = taxonomy.mask_of(
                    rng.sample(taxonomy.AFFINITY_CODES, k=rng.randint(1, 4)), taxonomy.AFFINITY_CODES
                )
                profile.postcode_encrypted = crypto.encrypt(fernet, postcode)
                profile.phone_encrypted = crypto.encrypt(
                    fernet, f"+33{rng.choice('67')}{rng.randint(0, 99_999_999):08d}"
                )
            if rng.random() < 0.9:
                verified["email"].append(user.pk)
                if complete and rng.random() < 0.8:
                    verified["phone"].append(user.pk)
            profiles.append(profile)
            kinds = rng.sample(list(LifeEventKind.values), k=rng.randint(1, 2)) if rng.random() < 0.2 else []
            for kind in kinds:
                life_events.append(
                    LifeEvent(
                        seller=user,
                        kind=kind,
                        details_encrypted=crypto.encrypt(fernet, LIFE_EVENT_DETAILS[kind]),
                    )
                )
            if not complete and rng.random() < 0.5:
                continue  # a new sign-up who has not consented to anything yet
            # Most accept targeted advertising for their demographics and location first.
            purposes = {Purpose.TARGETED_ADVERTISING} if rng.random() < 0.8 else set()
            while len(purposes) < rng.randint(1, 3):
                purposes.add(weighted(rng, PURPOSE_WEIGHTS))
            categories = set(rng.sample(NON_SENSITIVE, k=rng.randint(2, 6)))
            if rng.random() < 0.75:
                categories |= {DataCategory.DEMOGRAPHICS, DataCategory.LOCATION}
            window = rng.choice(taxonomy.CONSENT_WINDOW_DAYS)
            granted_at = now - timedelta(
                days=rng.randint(0, min(window, 30) - 1), minutes=rng.randint(1, 600)
            )
            pairs = [(c, p) for c in sorted(categories) for p in sorted(purposes) if rng.random() < 0.9]
            if kinds and rng.random() < 0.7:  # sensitive: only with its own explicit consent
                pairs.append((DataCategory.LIFE_EVENTS, Purpose.TARGETED_ADVERTISING))
            for category, purpose in pairs:
                days = window if category != DataCategory.LIFE_EVENTS else 90
                grants.append(
                    ConsentGrant(
                        seller=user,
                        category=category,
                        purpose=purpose,
                        window_days=days,
                        granted_at=granted_at,
                        expires_at=granted_at + timedelta(days=days),
                    )
                )
            if rng.random() < 0.7:
                optin = [c for c in categories if rng.random() < 0.8]
                profile.audience_optin_mask = taxonomy.mask_of(optin, taxonomy.CATEGORY_CODES)
        SellerProfile.objects.bulk_create(profiles)
        LifeEvent.objects.bulk_create(life_events)
        User.objects.filter(pk__in=verified["email"]).update(email_verified_at=now)
        User.objects.filter(pk__in=verified["phone"]).update(phone_verified_at=now)
        grants = ConsentGrant.objects.bulk_create(grants)
        by_pk = {u.pk: u for u in users}
        specs_ = [
            (
                ConsentEvent.Kind.GRANTED,
                g.category,
                g.purpose,
                None,
                receipts.receipt_language(by_pk[g.seller_id].preferred_language),
            )
            for g in grants
        ]
        distinct = list(dict.fromkeys(specs_))
        template_of = dict(zip(distinct, receipts.template_ids(distinct), strict=True))
        events = []
        for grant, spec in zip(grants, specs_, strict=True):
            fields = receipts.event_fields(
                subject_pseudonym=by_pk[grant.seller_id].pseudonym,
                grant_id=grant.pk,
                at=grant.granted_at,
                window_start=grant.granted_at,
                window_end=grant.expires_at,
            )
            events.append(
                ConsentEvent(
                    grant=grant,
                    seller_id=grant.seller_id,
                    kind=ConsentEvent.Kind.GRANTED,
                    occurred_at=grant.granted_at,
                    receipt_id=uuid.UUID(fields["consentReceiptID"]),
                    template_id=template_of[spec],
                    receipt=fields,
                )
            )
        ConsentEvent.objects.bulk_create(events)
        listing_services.audience_refresh(seller_ids=[u.pk for u in users])

    def organisation(
        self, data: dict, email: str, contact: str, moderator: User, *, verify: bool
    ) -> BuyerOrganisation:
        organisation = BuyerOrganisation.objects.filter(
            country=data["country"], registration_number=data["registration_number"]
        ).first()
        if organisation is None:
            organisation = services.organisation_create(**data)
        V = BuyerOrganisation.Verification
        if organisation.verification_status in (V.UNVERIFIED, V.REJECTED):
            organisation = services.organisation_set_verification(
                organisation_id=organisation.pk, to_status=V.PENDING, actor=None
            )
        if verify and organisation.verification_status == V.PENDING:
            organisation = services.organisation_set_verification(
                organisation_id=organisation.pk,
                to_status=V.VERIFIED,
                actor=moderator,
                reason="Demo: Kbis and VAT number checked.",
            )
        if not User.objects.filter(email=email).exists():
            member = services.buyer_member_create(
                organisation=organisation, email=email, password=None, full_name=contact
            )
            services.email_verify(token=services.email_verification_token(member))
        self.stdout.write(
            f"Buyer organisation: {organisation.legal_name} ({organisation.verification_status})."
        )
        return organisation

    def ensure_api_key(self, organisation: BuyerOrganisation, email: str, filename: str) -> str:
        """The key on file if it still works here, else a new one (shown once)."""
        path = run_dir() / filename
        try:
            on_file = path.read_text().strip()
        except OSError:
            on_file = ""
        if on_file:
            key = services.api_key_authenticate(plaintext=on_file)
            if key is not None and key.organisation_id == organisation.pk:
                return on_file
        member = User.objects.filter(email=email).first()
        _key, plaintext = services.api_key_create(
            organisation=organisation, name=API_KEY_NAME, created_by=member
        )
        self.stdout.write(f"API key of {organisation.legal_name} (shown once): {plaintext}")
        if self.write_files:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(plaintext + "\n")
                path.chmod(0o600)
            except OSError as exc:
                self.stderr.write(f"  could not save it to {path}: {exc}")
        return plaintext

    # --- listings ---------------------------------------------------------------------------

    def listings(self, demo_seller: User, crowd: list[User], moderator: User) -> None:
        """The demo seller's listings, and one listing for about a third of the crowd: fixed
        price or auction, some of those ending minutes from now. Once per seller."""
        from listings import services as listing_services
        from listings.models import Listing

        rng = random.Random(self.rng.random())
        listed = set(Listing.objects.values_list("seller_id", flat=True).distinct())
        now = timezone.now()
        created: list[Listing] = []
        if demo_seller.pk not in listed:
            for categories, purposes, days, mode, floor in DEMO_LISTINGS:
                created.append(
                    listing_services.listing_create(
                        seller=demo_seller,
                        categories=categories,
                        purposes=purposes,
                        licence_days=days,
                        pricing_mode=mode,
                        floor_price_cents=floor,
                        auction_ends_at=now + timedelta(days=3) if mode == "auction" else None,
                    )
                )
        consented: dict[int, dict[str, list[str]]] = {}
        for seller_id, category, purpose in (
            ConsentGrant.objects.filter(seller__in=crowd, status=ConsentGrant.Status.ACTIVE)
            .exclude(category=DataCategory.LIFE_EVENTS)
            .values_list("seller_id", "category", "purpose")
        ):
            consented.setdefault(seller_id, {}).setdefault(purpose, []).append(category)
        sellers = [s for s in crowd if s.pk in consented]
        if listed & {s.pk for s in crowd}:
            sellers = []  # the crowd listed on an earlier run
        sellers = rng.sample(sellers, k=len(sellers) // 3) if len(sellers) >= 30 else sellers
        closing_soon = list(CLOSING_SOON_MINUTES)
        pending = 0
        for index, seller in enumerate(sorted(sellers, key=lambda s: s.pk)):
            purpose = rng.choice(sorted(consented[seller.pk]))
            options = sorted(consented[seller.pk][purpose])
            categories = rng.sample(options, k=min(len(options), rng.randint(1, 3)))
            days = rng.choice((30, 30, 90, 90, 365))
            mode = "auction" if index % 3 == 0 else "fixed"
            base = sum(
                {"demographics": 40, "location": 50, "device": 20, "telecom": 30}.get(c, 55)
                for c in categories
            )
            premium = rng.uniform(0.8, 1.3) if days < 365 else rng.uniform(1.2, 1.8)
            floor = max(10, round(base * {30: 1, 90: 2.4, 365: 7}[days] * premium))
            ends = now + timedelta(hours=rng.randint(2, 72)) if mode == "auction" else None
            listing = listing_services.listing_create(
                seller=seller,
                categories=categories,
                purposes=[purpose],
                licence_days=days,
                pricing_mode=mode,
                floor_price_cents=floor,
                auction_ends_at=ends,
            )
            if listing.status == Listing.Status.PENDING_REVIEW:
                if pending < 4:
                    pending += 1  # left for the moderator to review in the admin
                    continue
                listing = listing_services.listing_moderate(
                    listing_id=listing.pk, moderator=moderator, approve=True
                )
            if mode == "auction" and closing_soon and listing.status == Listing.Status.ACTIVE:
                # The one shortcut: listing_create rightly refuses an auction shorter than an
                # hour; these end minutes after start-up so the beat sweep closes them on screen.
                minutes = closing_soon.pop(0)
                Listing.objects.filter(pk=listing.pk, status=Listing.Status.ACTIVE).update(
                    auction_ends_at=timezone.now() + timedelta(minutes=minutes)
                )
            created.append(listing)
        if created or sellers:
            self.stdout.write(f"Listings: {len(created)} created ({pending} left pending review).")

    # --- the market (needs Stripe) ------------------------------------------------------------

    def market(self, organisation: BuyerOrganisation, demo_seller: User, api_key: str) -> None:
        from listings.models import Listing
        from marketplace.models import AccessLog, DeletionNotice, Trade
        from payments.models import Payout

        self.ensure_card(organisation)
        if not Trade.objects.filter(organisation=organisation).exists():
            self.trade(organisation, demo_seller)
        self.settle(organisation)
        trades = list(Trade.objects.filter(organisation=organisation, status=Trade.Status.SETTLED))
        if trades and not AccessLog.objects.filter(grant__organisation=organisation).exists():
            self.read(trades, api_key)
        if trades and not DeletionNotice.objects.filter(organisation=organisation).exists():
            self.revoke(organisation, demo_seller)
        if trades and not Payout.objects.exists():
            self.payouts(demo_seller)
        open_auctions = Listing.objects.filter(
            status=Listing.Status.ACTIVE,
            pricing_mode=Listing.PricingMode.AUCTION,
            auction_ends_at__lte=timezone.now() + timedelta(minutes=30),
        ).count()
        self.stdout.write(
            f"Market: {Trade.objects.filter(status=Trade.Status.SETTLED).count()} settled trades, "
            f"{AccessLog.objects.count()} reads, {DeletionNotice.objects.count()} deletion notices, "
            f"{Payout.objects.count()} payouts; {open_auctions} auctions end within 30 minutes."
        )

    def ensure_card(self, organisation: BuyerOrganisation) -> None:
        """pm_card_visa as the buyer's default card, saved again if Stripe no longer knows the
        customer (the sandbox's state lives in the run dir; the database may outlive it)."""
        from payments import services as payment_services
        from payments.models import StripeCustomer
        from payments.stripe_client import client

        customer = StripeCustomer.objects.filter(organisation=organisation).first()
        if customer and customer.stripe_customer_id and customer.default_payment_method_id:
            try:
                client().v1.customers.retrieve(customer.stripe_customer_id)
                return
            except stripe.InvalidRequestError as exc:
                if exc.http_status != 404:
                    raise
            # Stripe lost it: forget the ids (the next call creates the customer again).
            StripeCustomer.objects.filter(pk=customer.pk).update(
                stripe_customer_id=None, default_payment_method_id="", updated_at=timezone.now()
            )
            self.stdout.write("Stripe no longer knows the demo buyer: saving its card again.")
        payment_services.payment_method_save(
            organisation_id=organisation.pk, payment_method_id="pm_card_visa"
        )
        self.stdout.write("Demo buyer: test card pm_card_visa saved as its default.")

    def trade(self, organisation: BuyerOrganisation, demo_seller: User) -> None:
        """What the buyer does through the API: buy now, sealed bids, an audience bundle."""
        from listings.models import Listing
        from listings.selectors import SegmentCriteria
        from marketplace import services as market

        active = Listing.objects.filter(status=Listing.Status.ACTIVE)
        fixed = list(active.filter(pricing_mode=Listing.PricingMode.FIXED).order_by("pk"))
        demo_fixed = [listing for listing in fixed if listing.seller_id == demo_seller.pk][:2]
        # the dearest crowd listings (their sellers reach the payout threshold), then a few more
        crowd_fixed = sorted(
            (listing for listing in fixed if listing.seller_id != demo_seller.pk),
            key=lambda listing: (-listing.floor_price_cents, listing.pk),
        )
        to_buy = list(
            {listing.pk: listing for listing in demo_fixed + crowd_fixed[:6] + crowd_fixed[-4:]}.values()
        )
        for listing in to_buy:
            market.bid_place(organisation=organisation, listing_public_id=listing.public_id)
        auctions = list(active.filter(pricing_mode=Listing.PricingMode.AUCTION).order_by("auction_ends_at"))
        bid_on = list({listing.pk: listing for listing in auctions[:3] + auctions[-2:]}.values())
        for listing in bid_on:
            market.bid_place(
                organisation=organisation,
                listing_public_id=listing.public_id,
                amount_cents=listing.floor_price_cents + 25,
            )
        bid = market.audience_bid_place(
            organisation=organisation,
            criteria=SegmentCriteria(**AUDIENCE_CRITERIA),
            max_price_cents=150,
            max_records=40,
            expires_at=timezone.now() + timedelta(days=7),
        )
        market.audience_bid_clear(bid_id=bid.pk)
        self.stdout.write(f"Trades: {len(to_buy)} bought now, {len(bid_on)} sealed bids, an audience bundle.")

    def settle(self, organisation: BuyerOrganisation) -> None:
        from marketplace import settlement
        from marketplace.models import Trade

        due = list(
            Trade.objects.filter(organisation=organisation, status__in=settlement.IN_PROGRESS).values_list(
                "pk", flat=True
            )
        )
        if due:
            settled = settlement.trades_settle(trade_ids=due)
            self.stdout.write(f"Settlement: {settled} of {len(due)} trades settled.")

    def read(self, trades, api_key: str) -> None:
        """The buyer reads its records through the API (each read logged and shown to sellers)."""
        client = Client(HTTP_AUTHORIZATION=f"Api-Key {api_key}")
        for trade in trades:
            for _ in range(1 if trade.listing_id is None else 2):
                response = client.get(f"/api/v1/trades/{trade.public_id}/records/")
                if response.status_code != 200:
                    self.stderr.write(f"reading trade {trade.public_id}: HTTP {response.status_code}")

    def revoke(self, organisation: BuyerOrganisation, demo_seller: User) -> None:
        """A seller of the audience bundle withdraws their location consent: the buyer's access
        ends and it gets a deletion notice."""
        from marketplace.models import AccessGrant

        grant = (
            AccessGrant.objects.filter(
                organisation=organisation, status=AccessGrant.Status.ACTIVE, trade_line__trade__listing=None
            )
            .exclude(seller=demo_seller)
            .order_by("pk")
            .first()
        )
        if grant is None:
            return
        consent = ConsentGrant.objects.filter(
            seller_id=grant.seller_id,
            category=DataCategory.LOCATION,
            purpose=grant.purpose,
            status=ConsentGrant.Status.ACTIVE,
        ).first()
        if consent is not None:
            services.consent_revoke(seller=grant.seller, grant_id=consent.pk)
            self.stdout.write("Revocation: one seller withdrew location; the buyer has a deletion notice.")

    def payouts(self, demo_seller: User) -> None:
        """Sellers who earned past the threshold set up payouts (the hosted onboarding, in the
        sandbox), then: the demo seller and one more are paid to their bank, one payout is in
        transit, one pending (the worker sends its transfer when it starts)."""
        from payments import services as payment_services
        from payments.postings import SellerBooks

        if not uses_sandbox():
            self.stdout.write("Payouts: skipped (onboarding needs a person outside the sandbox).")
            return
        from marketplace.models import TradeLine

        sellers = sorted(
            set(
                TradeLine.objects.filter(
                    trade__status="settled", status=TradeLine.Status.DELIVERED
                ).values_list("seller_id", flat=True)
            )
        )
        books = SellerBooks(sellers, "EUR")
        earners = [demo_seller.pk] + [
            s
            for s in sellers
            if s != demo_seller.pk and books.available[s] >= settings.PAYOUT_THRESHOLD_CENTS
        ]
        site = settings.SITE_URL.rstrip("/")
        outcomes = ["paid", "in_transit", "pending", "paid", "paid"]
        for seller_id, outcome in zip(earners, outcomes, strict=False):
            url = payment_services.connect_onboarding_link_create(
                seller_id=seller_id, refresh_url=f"{site}/payouts/", return_url=f"{site}/payouts/"
            )
            # what the seller does on Stripe's hosted page
            request = urllib.request.Request(
                url,
                data=b"outcome=complete",
                method="POST",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )

            class NoRedirect(urllib.request.HTTPRedirectHandler):
                def redirect_request(self, *args, **kwargs):
                    return None

            try:
                urllib.request.build_opener(NoRedirect).open(request, timeout=10)
            except urllib.error.HTTPError as exc:
                if exc.code != 302:
                    raise
            account = payment_services.connect_account_ensure(seller_id=seller_id)
            payment_services.connect_account_sync(stripe_account_id=account.stripe_account_id)
            payout = payment_services.payout_create(seller_id=seller_id)
            if payout is None or outcome == "pending":
                continue
            payout = payment_services.payout_transfer(payout_id=payout.pk)
            if outcome == "paid":
                bank_payout = sandbox_post(
                    f"/_config/accounts/{account.stripe_account_id}/payouts", {"status": "paid"}
                )
                payment_services.payout_bank_outcome(
                    stripe_account_id=account.stripe_account_id, bank_payout=bank_payout
                )
        self.stdout.write(f"Payouts: {min(len(earners), len(outcomes))} sellers set up payouts.")

    # --- files ------------------------------------------------------------------------------

    def write_logins(self, api_key: str, pending_key: str) -> None:
        self.stdout.write("Demo logins:")
        for role, entry in LOGINS.items():
            password = entry["password"] or "(no password)"
            self.stdout.write(f"  {role:<13} {entry['email']:<34} {password:<16} {entry['where']}")
        self.stdout.write(f"  buyer API key          Api-Key {api_key}")
        self.stdout.write(f"  pending buyer API key  Api-Key {pending_key}")
        if self.write_files:
            try:
                path = run_dir() / "demo-logins.json"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(LOGINS, indent=2) + "\n")
            except OSError as exc:
                self.stderr.write(f"could not write the demo logins: {exc}")

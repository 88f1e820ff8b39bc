"""Demo data for `make run`: a moderator, ~40 sellers with profiles and consents, a verified buyer.

Idempotent: when the demo moderator, the verified demo organisation and its member exist, it
only makes sure a working demo API key is on file. Every write goes through accounts.services.
Writes the logins to <run dir>/demo-logins.json and the API key to <run dir>/demo-api-key.txt
so scripts/run.py can print them.
"""

from __future__ import annotations

import json
import random
import unicodedata
from datetime import date, timedelta
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection
from django.utils import timezone

from accounts import services, taxonomy
from accounts.errors import Conflict
from accounts.models import BuyerOrganisation, User
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

LOGINS = {
    "moderator": {"email": MODERATOR_EMAIL, "password": MODERATOR_PASSWORD, "where": "/admin/"},
    "seller": {"email": SELLER_EMAIL, "password": SELLER_PASSWORD, "where": "/"},
    "buyer": {"email": BUYER_EMAIL, "password": None, "where": "/api/docs/ (API key)"},
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


def run_dir() -> Path:
    return Path(getattr(settings, "RUN_DIR", Path(settings.BASE_DIR) / ".run"))


def ascii_slug(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in text.lower() if ch.isalnum())


def weighted(rng: random.Random, weights: dict) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


class Command(BaseCommand):
    help = "Create demo users, a verified buyer organisation with an API key, sellers and consents."

    def add_arguments(self, parser):
        parser.add_argument("--sellers", type=int, default=40, help="random demo sellers (default 40)")
        parser.add_argument("--seed", type=int, default=2024, help="random seed (default 2024)")
        parser.add_argument("--no-files", action="store_true", help="do not write into the run dir")

    def handle(self, *args, sellers: int, seed: int, no_files: bool, **options):
        self.write_files = not no_files
        organisation = BuyerOrganisation.objects.filter(
            country=ORGANISATION["country"], registration_number=ORGANISATION["registration_number"]
        ).first()
        seeded = (
            User.objects.filter(email=MODERATOR_EMAIL).exists()
            and organisation is not None
            and organisation.is_verified
            and User.objects.filter(email=BUYER_EMAIL).exists()
        )
        if seeded:
            self.stdout.write("Demo data already present: nothing to seed.")
            api_key = self.ensure_api_key(organisation) if self.write_files else ""
        else:
            if connection.vendor == "sqlite":
                # Hundreds of small durable transactions: don't fsync each one (demo data only;
                # this connection only, for the length of this command).
                with connection.cursor() as cursor:
                    cursor.execute("PRAGMA synchronous=OFF")
            api_key = self.seed(sellers, seed)
        self.write_logins(api_key)

    # --- seeding ---------------------------------------------------------------------------

    def seed(self, count: int, seed: int) -> str:
        rng = random.Random(seed)
        today = timezone.localdate()
        known = self.seller(
            rng,
            today,
            email=SELLER_EMAIL,
            password=SELLER_PASSWORD,
            full_name="Camille Laurent",
            language="fr",
            complete=True,
            life_events=[LifeEventKind.MOVING_HOUSE, LifeEventKind.NEW_JOB],
        )
        created = 1 if known else 0
        used = {SELLER_EMAIL}
        for n in range(1, count + 1):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            email = f"{ascii_slug(first)}.{ascii_slug(last)}.{n:02d}@demo.courtier.localhost"
            used.add(email)
            life_events = []
            if rng.random() < 0.2:
                life_events = rng.sample(list(LifeEventKind.values), k=rng.randint(1, 2))
            if self.seller(
                rng,
                today,
                email=email,
                password=None,  # demo sellers cannot log in; no slow password hashing either
                full_name=f"{first} {last}",
                language="fr" if rng.random() < 0.75 else "en",
                complete=rng.random() < 0.85,
                life_events=life_events,
            ):
                created += 1
        self.stdout.write(f"Sellers: {created} created ({len(used)} in the demo set).")

        moderator = User.objects.filter(email=MODERATOR_EMAIL).first()
        if moderator is None:
            moderator = User.objects.create_superuser(
                MODERATOR_EMAIL, MODERATOR_PASSWORD, full_name="Modération Courtier"
            )
            User.objects.filter(pk=moderator.pk).update(email_verified_at=timezone.now())
        organisation = self.organisation(moderator)
        if not User.objects.filter(email=BUYER_EMAIL).exists():
            member = services.buyer_member_create(
                organisation=organisation, email=BUYER_EMAIL, password=None, full_name="Claire Martin"
            )
            User.objects.filter(pk=member.pk).update(email_verified_at=timezone.now())
        return self.ensure_api_key(organisation)

    def seller(
        self,
        rng: random.Random,
        today: date,
        *,
        email: str,
        password: str | None,
        full_name: str,
        language: str,
        complete: bool,
        life_events: list[str],
    ) -> bool:
        try:
            user = services.seller_create(
                email=email, password=password, full_name=full_name, language=language
            )
        except Conflict:
            return False  # created by an earlier (possibly interrupted) run
        if rng.random() < 0.9 or password:
            User.objects.filter(pk=user.pk).update(email_verified_at=timezone.now())

        region = rng.choices(list(REGIONS), weights=[w for w, _ in REGIONS.values()])[0]
        prefix = rng.choice(REGIONS[region][1])
        postcode = prefix + "".join(str(rng.randint(0, 9)) for _ in range(5 - len(prefix)))
        low, high = rng.choices(AGE_RANGES, weights=AGE_WEIGHTS)[0]
        age = rng.randint(low, high)
        birth_date = today - timedelta(days=age * 365 + rng.randint(30, 330))
        profile: dict = {
            "gender": weighted(rng, GENDER_WEIGHTS),
            "region": region,
            "birth_date": birth_date,
            "interests": rng.sample(taxonomy.INTEREST_CODES, k=rng.randint(2, 6)),
        }
        if complete:
            profile.update(
                mobile_os=weighted(rng, OS_WEIGHTS),
                mobile_operator=weighted(rng, OPERATORS),
                affinities=rng.sample(taxonomy.AFFINITY_CODES, k=rng.randint(1, 4)),
                postcode=postcode,
                phone=f"+33{rng.choice('67')}{rng.randint(0, 99_999_999):08d}",
            )
        services.seller_profile_update(seller=user, today=today, **profile)

        if not complete and not password and rng.random() < 0.5:
            return True  # a new sign-up who has not consented to anything yet
        categories = NON_SENSITIVE if password else rng.sample(NON_SENSITIVE, k=rng.randint(2, 6))
        purposes = {Purpose.TARGETED_ADVERTISING, Purpose.MARKET_RESEARCH} if password else set()
        wanted_purposes = rng.randint(1, 3)
        while len(purposes) < wanted_purposes:
            purposes.add(weighted(rng, PURPOSE_WEIGHTS))
        window = rng.choice(taxonomy.CONSENT_WINDOW_DAYS)
        grants = []
        for category in categories:
            for purpose in sorted(purposes):
                if rng.random() < 0.85 or password:
                    grants.append(
                        services.consent_grant(
                            seller=user,
                            category=category,
                            purpose=purpose,
                            window_days=rng.choice((window, window, *taxonomy.CONSENT_WINDOW_DAYS)),
                        )
                    )
        for kind in life_events:
            services.life_event_set(seller=user, kind=kind, details=LIFE_EVENT_DETAILS[kind])
        if life_events and (password or rng.random() < 0.7):
            # Sensitive: only with the separate, explicit consent the seller ticked.
            services.consent_grant(
                seller=user,
                category=DataCategory.LIFE_EVENTS,
                purpose=Purpose.TARGETED_ADVERTISING,
                window_days=90,
                explicit_sensitive=True,
            )
        if grants and not password and rng.random() < 0.1:
            services.consent_revoke(seller=user, grant_id=rng.choice(grants).pk)  # some history
        return True

    def organisation(self, moderator: User) -> BuyerOrganisation:
        organisation = BuyerOrganisation.objects.filter(
            country=ORGANISATION["country"], registration_number=ORGANISATION["registration_number"]
        ).first()
        if organisation is None:
            organisation = services.organisation_create(**ORGANISATION)
        V = BuyerOrganisation.Verification
        if organisation.verification_status in (V.UNVERIFIED, V.REJECTED):
            organisation = services.organisation_set_verification(
                organisation_id=organisation.pk, to_status=V.PENDING, actor=None
            )
        if organisation.verification_status == V.PENDING:
            organisation = services.organisation_set_verification(
                organisation_id=organisation.pk,
                to_status=V.VERIFIED,
                actor=moderator,
                reason="Demo: Kbis and VAT number checked.",
            )
        self.stdout.write(
            f"Buyer organisation: {organisation.legal_name} ({organisation.verification_status})."
        )
        return organisation

    def ensure_api_key(self, organisation: BuyerOrganisation) -> str:
        """The demo key on file if it still works here, else a new one (shown once)."""
        path = run_dir() / "demo-api-key.txt"
        try:
            on_file = path.read_text().strip()
        except OSError:
            on_file = ""
        if on_file:
            key = services.api_key_authenticate(plaintext=on_file)
            if key is not None and key.organisation_id == organisation.pk:
                return on_file
        member = User.objects.filter(email=BUYER_EMAIL).first()
        _key, plaintext = services.api_key_create(
            organisation=organisation, name=API_KEY_NAME, created_by=member
        )
        self.stdout.write(f"Buyer API key (shown once): {plaintext}")
        if self.write_files:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(plaintext + "\n")
                path.chmod(0o600)
                self.stdout.write(f"  saved to {path}")
            except OSError as exc:
                self.stderr.write(f"  could not save it to {path}: {exc}")
        return plaintext

    def write_logins(self, api_key: str) -> None:
        self.stdout.write("Demo logins:")
        for role, entry in LOGINS.items():
            password = entry["password"] or "(no password)"
            self.stdout.write(f"  {role:<10} {entry['email']:<30} {password:<16} {entry['where']}")
        if self.write_files:
            try:
                path = run_dir() / "demo-logins.json"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(LOGINS, indent=2) + "\n")
            except OSError as exc:
                self.stderr.write(f"could not write the demo logins: {exc}")

"""The demo's people: the moderator, the demo seller, the crowd of sellers (in bulk), the buyer
organisations and their API keys."""

from __future__ import annotations

import random
import unicodedata
import uuid
from datetime import timedelta

from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticToken

from accounts import crypto, receipts, roles, taxonomy
from accounts import services as account_services
from accounts.models import (
    BuyerOrganisation,
    ConsentEvent,
    ConsentGrant,
    LifeEvent,
    SellerDataKey,
    SellerProfile,
    User,
)
from accounts.services import second_factor
from accounts.taxonomy import DataCategory, LifeEventKind, Purpose
from listings import services as listing_services
from marketplace.demo.data import (
    AGE_RANGES,
    AGE_WEIGHTS,
    API_KEY_NAME,
    BUYER_EMAIL,
    BUYER_PASSWORD,
    CROWD_DOMAIN,
    DPO_EMAIL,
    DPO_PASSWORD,
    DPO_RECOVERY_CODES,
    FIRST_NAMES,
    GENDER_WEIGHTS,
    LAST_NAMES,
    LIFE_EVENT_DETAILS,
    MODERATOR_EMAIL,
    MODERATOR_PASSWORD,
    MODERATOR_RECOVERY_CODES,
    NON_SENSITIVE,
    OPERATORS,
    OS_WEIGHTS,
    PURPOSE_WEIGHTS,
    REGIONS,
    SELLER_EMAIL,
    SELLER_PASSWORD,
    STAFF_TOTP_SECRET,
)
from marketplace.demo.files import run_dir


def ascii_slug(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in text.lower() if ch.isalnum())


def weighted(rng: random.Random, weights: dict) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


class PeopleSeeder:
    """Part of the seed_demo command: uses its stdout, stderr, rng and write_files."""

    def moderator(self) -> User:
        self.staff(
            DPO_EMAIL,
            DPO_PASSWORD,
            "Délégué à la protection des données",
            roles.DATA_PROTECTION_OFFICERS,
            DPO_RECOVERY_CODES,
        )
        return self.staff(
            MODERATOR_EMAIL,
            MODERATOR_PASSWORD,
            "Modération Courtier",
            roles.MODERATORS,
            MODERATOR_RECOVERY_CODES,
        )

    def staff(self, email: str, password: str, full_name: str, group: str, codes: list[str]) -> User:
        """Staff (not superuser) in their group (accounts.roles), with the second factor the
        start banner prints: the authenticator secret and recovery codes of demo.data (the
        codes used since the last run come back)."""
        user = User.objects.filter(email=email).first()
        if user is None:
            user = User.objects.create_user(
                email, password, full_name=full_name, role=User.Role.MODERATOR, is_staff=True
            )
            account_services.email_verify(token=account_services.email_verification_token(user))
        if user.is_superuser or list(user.groups.values_list("name", flat=True)) != [group]:
            # (demo databases seeded before roles had a superuser moderator)
            User.objects.filter(pk=user.pk).update(is_superuser=False, is_staff=True)
            user.groups.set([Group.objects.get(name=group)])
        if sorted(StaticToken.objects.filter(device__user=user).values_list("token", flat=True)) != sorted(
            codes
        ):
            second_factor.second_factor_set(user=user, totp_secret=STAFF_TOTP_SECRET, recovery_codes=codes)
        return user

    def demo_seller(self) -> User:
        """Camille: complete profile, email and phone verified (the badge), consents to every
        non-sensitive category for two purposes, two life events with their explicit consent."""
        seller = User.objects.filter(email=SELLER_EMAIL).first()
        if seller is not None:
            return seller
        seller = account_services.seller_create(
            email=SELLER_EMAIL, password=SELLER_PASSWORD, full_name="Camille Laurent", language="fr"
        )
        account_services.seller_profile_update(
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
        account_services.email_verify(token=account_services.email_verification_token(seller))
        account_services.phone_verify(
            seller=seller, code=account_services.phone_verification_code(seller=seller)
        )
        seller.refresh_from_db()  # verified now: her listings are approved automatically
        for category in NON_SENSITIVE:
            for purpose in (Purpose.TARGETED_ADVERTISING, Purpose.MARKET_RESEARCH):
                account_services.consent_grant(
                    seller=seller, category=category, purpose=purpose, window_days=365
                )
        for kind in (LifeEventKind.MOVING_HOUSE, LifeEventKind.NEW_JOB):
            account_services.life_event_set(seller=seller, kind=kind, details=LIFE_EVENT_DETAILS[kind])
        account_services.consent_grant(
            seller=seller,
            category=DataCategory.LIFE_EVENTS,
            purpose=Purpose.TARGETED_ADVERTISING,
            window_days=90,
            explicit_sensitive=True,
        )

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
            organisation = account_services.organisation_create(**data)
            # the demo's contacts answered the emailed link and the SMS code
            account_services.organisation_contact_email_verify(
                token=account_services.organisation_contact_email_token(organisation)
            )
            account_services.organisation_contact_phone_verify(
                organisation=organisation,
                code=account_services.organisation_contact_phone_code(organisation=organisation),
            )
        V = BuyerOrganisation.Verification
        if organisation.verification_status in (V.UNVERIFIED, V.REJECTED):
            organisation = account_services.organisation_set_verification(
                organisation_id=organisation.pk, to_status=V.PENDING, actor=None
            )
        if verify and organisation.verification_status == V.PENDING:
            organisation = account_services.organisation_set_verification(
                organisation_id=organisation.pk,
                to_status=V.VERIFIED,
                actor=moderator,
                reason="Demo: Kbis and VAT number checked.",
            )
        if not User.objects.filter(email=email).exists():
            member = account_services.buyer_member_create(
                organisation=organisation,
                email=email,
                password=BUYER_PASSWORD if email == BUYER_EMAIL else None,
                full_name=contact,
            )
            account_services.email_verify(token=account_services.email_verification_token(member))
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
            key = account_services.api_key_authenticate(plaintext=on_file)
            if key is not None and key.organisation_id == organisation.pk:
                return on_file
        member = User.objects.filter(email=email).first()
        _key, plaintext = account_services.api_key_create(
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

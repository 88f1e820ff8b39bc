from __future__ import annotations

import uuid
from datetime import datetime
from typing import ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts import taxonomy
from accounts.taxonomy import CONSENT_WINDOW_DAYS, DataCategory, Purpose
from core import admin_display
from core.models import Suspendable


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields) -> User:
        if not email:
            raise ValueError("email is required")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields) -> User:
        fields.update(is_staff=True, is_superuser=True, role=User.Role.MODERATOR)
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin, Suspendable):
    """Suspended (services.user_suspend): no sign-in, listings withdrawn, payouts held."""

    class Role(models.TextChoices):
        SELLER = "seller", _("Seller")
        BUYER = "buyer", _("Buyer organisation member")
        MODERATOR = "moderator", _("Moderator")

    email = models.EmailField(_("email"), unique=True)
    full_name = models.CharField(_("full name"), max_length=200, blank=True)

    class OrganisationRole(models.TextChoices):
        OWNER = "owner", _("Owner")
        DEVELOPER = "developer", _("Developer")
        FINANCE = "finance", _("Finance")

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.SELLER)
    # A buyer member's role in their organisation (the console enforces it); blank for others.
    organisation_role = models.CharField(
        _("role in the organisation"), max_length=16, choices=OrganisationRole.choices, blank=True
    )
    organisation = models.ForeignKey(
        "accounts.BuyerOrganisation",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="members",
    )
    # Stable pseudonym: what consent receipts and erased history refer to, never the email.
    pseudonym = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    preferred_language = models.CharField(max_length=8, choices=settings.LANGUAGES, default="en")
    email_verified_at = models.DateTimeField(null=True, blank=True)
    phone_verified_at = models.DateTimeField(null=True, blank=True)
    erased_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        permissions = [
            # the Data protection officers group (accounts.roles): a seller's precise values,
            # opened one seller at a time with a reason that the audit trail keeps
            ("view_precise_values", "Can view a seller's precise personal values"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(role="buyer", organisation__isnull=False)
                | (~Q(role="buyer") & Q(organisation__isnull=True)),
                name="user_buyer_has_organisation",
            )
        ]

    def __str__(self) -> str:
        if self.role == self.Role.SELLER and admin_display.is_pseudonymous():
            return self.pseudonymous_name
        return self.email

    @property
    def pseudonymous_name(self) -> str:
        """How the admin names a seller: their pseudonym, never their email or name."""
        return f"seller {self.pseudonym}"


class BuyerOrganisation(Suspendable):
    """Suspended (services.organisation_suspend): bids cancelled, access revoked, no new bid."""

    class Verification(models.TextChoices):
        UNVERIFIED = "unverified", _("Unverified")
        PENDING = "pending", _("Pending review")
        VERIFIED = "verified", _("Verified")
        REJECTED = "rejected", _("Rejected")

    TRANSITIONS: dict[str, frozenset[str]] = {
        Verification.UNVERIFIED: frozenset({Verification.PENDING}),
        Verification.PENDING: frozenset({Verification.VERIFIED, Verification.REJECTED}),
        Verification.REJECTED: frozenset({Verification.PENDING}),
        Verification.VERIFIED: frozenset({Verification.REJECTED}),
    }
    # What a moderator may decide, whatever the organisation asked: an organisation added in the
    # admin (unverified) can be verified once its details are complete, a rejection reconsidered.
    MODERATOR_TRANSITIONS: dict[str, frozenset[str]] = {
        Verification.UNVERIFIED: frozenset({Verification.VERIFIED, Verification.REJECTED}),
        Verification.PENDING: frozenset({Verification.VERIFIED, Verification.REJECTED}),
        Verification.REJECTED: frozenset({Verification.VERIFIED}),
        Verification.VERIFIED: frozenset({Verification.REJECTED}),
    }

    legal_name = models.CharField(_("legal name"), max_length=200)
    registration_number = models.CharField(
        _("registration number"), max_length=64, help_text=_("SIREN, VAT or company number")
    )
    country = models.CharField(max_length=2, help_text=_("ISO 3166-1 alpha-2"))
    website = models.URLField()
    contact_name = models.CharField(max_length=200)
    contact_email = models.EmailField()
    contact_phone = models.CharField(max_length=32, blank=True, help_text=_("E.164, e.g. +33612345678"))
    # Set by the console's email link and SMS code; a change of the address or number clears them.
    contact_email_verified_at = models.DateTimeField(null=True, blank=True)
    contact_phone_verified_at = models.DateTimeField(null=True, blank=True)
    verification_status = models.CharField(
        _("verification"),
        max_length=16,
        choices=Verification.choices,
        default=Verification.UNVERIFIED,
        db_index=True,
    )
    verification_reason = models.TextField(blank=True)
    verification_decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    verification_decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    # A moderator lifted the bidding block of overdue deletion notices at this time: notices whose
    # deadline had passed by then no longer block (DELETION_OVERDUE_BID_LIMIT; later ones do).
    deletion_duty_cleared_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("buyer organisation")
        verbose_name_plural = _("buyer organisations")
        constraints = [
            models.UniqueConstraint(
                fields=["country", "registration_number"], name="organisation_unique_registration"
            )
        ]

    def __str__(self) -> str:
        return self.legal_name

    @property
    def is_verified(self) -> bool:
        return self.verification_status == self.Verification.VERIFIED


class OrganisationVerificationEvent(models.Model):
    """Audit trail of an organisation's verification status; appended by the one service."""

    organisation = models.ForeignKey(
        BuyerOrganisation, on_delete=models.PROTECT, related_name="verification_events"
    )
    from_status = models.CharField(max_length=16, choices=BuyerOrganisation.Verification.choices)
    to_status = models.CharField(max_length=16, choices=BuyerOrganisation.Verification.choices)
    reason = models.TextField(blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    occurred_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-occurred_at", "-id"]

    def __str__(self) -> str:
        return f"{self.organisation_id}: {self.from_status} → {self.to_status}"


class DeletionDutyClearance(models.Model):
    """Audit of a moderator lifting an organisation's bidding block for overdue deletion notices."""

    organisation = models.ForeignKey(
        BuyerOrganisation, on_delete=models.PROTECT, related_name="deletion_duty_clearances"
    )
    overdue_notices = models.PositiveIntegerField(help_text=_("overdue notices that blocked bidding then"))
    reason = models.TextField()
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    cleared_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-cleared_at", "-id"]

    def __str__(self) -> str:
        return f"{self.organisation_id}: bidding cleared at {self.cleared_at:%Y-%m-%d %H:%M}"


class ApiUsageDay(models.Model):
    """API requests and 429s of one organisation on one day (UTC), flushed from Redis's counters
    by `accounts.services.api_usage_flush`; `accounts.selectors.api_usage` adds what is unflushed."""

    organisation = models.ForeignKey(BuyerOrganisation, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    requests = models.BigIntegerField(default=0)
    throttled = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organisation", "day"], name="api_usage_day_unique")]

    def __str__(self) -> str:
        return f"{self.organisation_id} {self.day}: {self.requests} requests, {self.throttled} throttled"


class ApiScope(models.TextChoices):
    """What an API key may do; each API operation names the one scope it needs."""

    SEGMENTS_READ = "segments:read", _("Size audience segments")
    LISTINGS_READ = "listings:read", _("Browse listings")
    BIDS_WRITE = (
        "bids:write",
        _("Place, raise and cancel bids, save the card they are paid with; read bids and trades"),
    )
    DATA_READ = "data:read", _("Read purchased records and access grants")
    NOTICES_WRITE = "notices:write", _("Read and acknowledge deletion notices")
    WEBHOOKS_MANAGE = "webhooks:manage", _("Manage webhook endpoints and deliveries")
    BILLING_READ = "billing:read", _("Read the saved card, payments and invoices")


def all_api_scopes() -> list[str]:
    return list(ApiScope.values)


class ApiKey(models.Model):
    """A buyer organisation's API key. The secret is shown once; only its SHA-256 is stored."""

    organisation = models.ForeignKey(BuyerOrganisation, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    # ApiScope values this key grants (a list, so SQLite and PostgreSQL store it alike)
    scopes = models.JSONField(default=all_api_scopes)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    def is_usable(self, at: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or at < self.expires_at)


class SellerDataKey(models.Model):
    """The seller's data key, wrapped by the master key. Deleting the key material erases."""

    seller = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, primary_key=True, related_name="data_key"
    )
    wrapped_key = models.TextField(null=True)
    created_at = models.DateTimeField(default=timezone.now)
    rotated_at = models.DateTimeField(null=True, blank=True)
    destroyed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"data key of seller {self.seller_id}"


class SellerProfile(models.Model):
    """Coarse targeting attributes in clear (indexed); precise values encrypted (`*_encrypted`)."""

    seller = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, primary_key=True, related_name="profile"
    )
    age_band = models.CharField(max_length=8, choices=taxonomy.AgeBand.choices, blank=True)
    gender = models.CharField(max_length=16, choices=taxonomy.Gender.choices, blank=True)
    region = models.CharField(max_length=8, choices=taxonomy.Region.choices, blank=True)
    mobile_os = models.CharField(max_length=16, choices=taxonomy.MobileOS.choices, blank=True)
    mobile_operator = models.CharField(max_length=16, choices=taxonomy.MobileOperator.choices, blank=True)
    interests_mask = models.BigIntegerField(default=0)
    affinities_mask = models.BigIntegerField(default=0)
    # Categories the seller offers to audience bundles (sensitive ones only by their own opt-in).
    audience_optin_mask = models.BigIntegerField(default=0)
    # Derived, kept by listings.services.audience_refresh: the (category, purpose) pairs the
    # seller both consents to and offers, and the earliest end of the consents behind them.
    # Segment sizing reads only this table, through the covering index below.
    sellable_mask = models.BigIntegerField(default=0)
    sellable_until = models.DateTimeField(null=True, blank=True)
    birth_date_encrypted = models.TextField(null=True, blank=True)
    postcode_encrypted = models.TextField(null=True, blank=True)
    phone_encrypted = models.TextField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # Segment sizing lists these vocabularies in full (listings.selectors): unknown values
        # would silently drop out of counts, so the database refuses them.
        constraints = [
            models.CheckConstraint(
                condition=Q(**{f"{field}__in": [*choices.values, ""]}), name=f"profile_{field}_known"
            )
            for field, choices in (
                ("age_band", taxonomy.AgeBand),
                ("gender", taxonomy.Gender),
                ("region", taxonomy.Region),
                ("mobile_os", taxonomy.MobileOS),
                ("mobile_operator", taxonomy.MobileOperator),
            )
        ]
        indexes = [
            models.Index(fields=["age_band"], name="profile_age_band"),
            models.Index(fields=["gender"], name="profile_gender"),
            models.Index(fields=["region"], name="profile_region"),
            models.Index(fields=["mobile_os"], name="profile_mobile_os"),
            models.Index(fields=["mobile_operator"], name="profile_operator"),
            models.Index(
                fields=["region", "age_band", "gender", "mobile_os", "mobile_operator"],
                include=["interests_mask", "affinities_mask", "sellable_mask", "sellable_until"],
                condition=Q(sellable_mask__gt=0),
                name="profile_audience_covering",
            ),
        ]

    def __str__(self) -> str:
        return f"profile of seller {self.seller_id}"

    @property
    def interests(self) -> list[str]:
        return taxonomy.codes_of(self.interests_mask, taxonomy.INTEREST_CODES)

    @property
    def affinities(self) -> list[str]:
        return taxonomy.codes_of(self.affinities_mask, taxonomy.AFFINITY_CODES)

    @property
    def is_complete(self) -> bool:
        return all(
            (
                self.age_band,
                self.gender,
                self.region,
                self.mobile_os,
                self.mobile_operator,
                self.interests_mask,
                self.postcode_encrypted,
            )
        )


class LifeEvent(models.Model):
    """A sensitive life event. The kind is a coarse attribute; the details are encrypted."""

    seller = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="life_events")
    kind = models.CharField(max_length=32, choices=taxonomy.LifeEventKind.choices)
    details_encrypted = models.TextField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["seller", "kind"], name="life_event_one_per_kind")]

    def __str__(self) -> str:
        return f"{self.kind} of seller {self.seller_id}"


class ConsentGrant(models.Model):
    """A seller's consent for one data category and one purpose over a time window.

    Valid at t iff granted_at <= t < expires_at and (ended_at is null or t < ended_at). `ended_at`
    is set when a grant stops early (revoked, renewed) or by the expiry sweep (= expires_at), so
    validity never depends on whether the sweep has run yet.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        EXPIRED = "expired", _("Expired")
        REVOKED = "revoked", _("Revoked")

    # Terminal once ended: renewing creates a new grant (the old one ends as expired).
    TRANSITIONS: dict[str, frozenset[str]] = {
        Status.ACTIVE: frozenset({Status.EXPIRED, Status.REVOKED}),
        Status.EXPIRED: frozenset(),
        Status.REVOKED: frozenset(),
    }

    seller = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="consent_grants"
    )
    category = models.CharField(max_length=32, choices=DataCategory.choices)
    purpose = models.CharField(max_length=32, choices=Purpose.choices)
    window_days = models.PositiveSmallIntegerField()
    granted_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE)
    # taxonomy.pair_bit(category, purpose), computed by the database: a category's bit times a
    # purpose's. A seller's valid pairs are then SUM(DISTINCT pair_bit) in any query.
    pair_bit = models.GeneratedField(
        expression=models.Case(
            *(
                models.When(
                    category=code, then=models.Value(taxonomy.pair_bit(code, taxonomy.PURPOSE_CODES[0]))
                )
                for code in taxonomy.CATEGORY_CODES
            ),
            output_field=models.BigIntegerField(),
        )
        * models.Case(
            *(
                models.When(purpose=code, then=models.Value(1 << i))
                for i, code in enumerate(taxonomy.PURPOSE_CODES)
            ),
            output_field=models.BigIntegerField(),
        ),
        output_field=models.BigIntegerField(),
        db_persist=True,
    )
    renewed_from = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="renewed_by"
    )
    reminder_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["seller", "category", "purpose"],
                condition=Q(status="active"),
                name="consent_one_active_per_seller_category_purpose",
            ),
            # the target of the events' (grant, seller) foreign key
            models.UniqueConstraint(fields=["id", "seller"], name="consent_grant_id_seller"),
            models.CheckConstraint(
                condition=Q(window_days__in=CONSENT_WINDOW_DAYS), name="consent_window_days_allowed"
            ),
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("granted_at")), name="consent_window_positive"
            ),
            models.CheckConstraint(
                condition=Q(status="active", ended_at__isnull=True)
                | (~Q(status="active") & Q(ended_at__isnull=False)),
                name="consent_ended_iff_not_active",
            ),
            models.CheckConstraint(
                condition=Q(category__in=DataCategory.values), name="consent_category_known"
            ),
            models.CheckConstraint(condition=Q(purpose__in=Purpose.values), name="consent_purpose_known"),
        ]
        indexes = [
            # The expiry sweep and the reminder sweep walk active grants by due date.
            models.Index(fields=["expires_at"], condition=Q(status="active"), name="consent_active_due"),
            models.Index(fields=["seller", "category", "purpose"], name="consent_lookup"),
        ]

    def __str__(self) -> str:
        return f"{self.category}/{self.purpose} ({self.status})"

    def is_valid_at(self, at: datetime) -> bool:
        return self.granted_at <= at < self.expires_at and (self.ended_at is None or at < self.ended_at)


class ReceiptTemplate(models.Model):
    """What consent receipts of one kind, category, purpose and language share under one wording
    and one controller (about 1.1 kB of the 1.4 kB of a receipt): stored once, referenced by
    events. Append-only like the events: new wording, another language (the body's `language`)
    or new settings make a new row (`digest` is the SHA-256 of the body, so it keys the language
    too), and every receipt keeps reading exactly as it was issued, older formats included."""

    APPEND_ONLY = True  # the database refuses UPDATE and DELETE (core.append_only)

    digest = models.CharField(max_length=64, unique=True)
    body = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"receipt template {self.digest[:12]}"


class ConsentEvent(models.Model):
    """Append-only consent history. The database refuses UPDATE and DELETE (see migration 0002).

    The receipt is `template.body` followed by `receipt`, the per-event fields (receipt id,
    timestamp, data subject, grant, window): see `full_receipt`. Events written before templates
    existed hold their whole receipt in `receipt` and no template.
    """

    APPEND_ONLY = True  # the database refuses UPDATE and DELETE (core.append_only)

    class Kind(models.TextChoices):
        GRANTED = "granted", _("Granted")
        RENEWED = "renewed", _("Renewed")
        REVOKED = "revoked", _("Revoked")
        EXPIRED = "expired", _("Expired")

    # One foreign key in the database for both: (grant, seller) -> the grant's (id, seller), added
    # by migration 0005 on PostgreSQL. An event's seller is its grant's seller, and each event
    # pays for one check instead of two.
    grant = models.ForeignKey(
        ConsentGrant, on_delete=models.PROTECT, related_name="events", db_constraint=False
    )
    seller = models.ForeignKey(  # indexed by consent_event_seller's leading column
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="consent_events",
        db_index=False,
        db_constraint=False,
    )
    kind = models.CharField(max_length=8, choices=Kind.choices)
    occurred_at = models.DateTimeField()
    receipt_id = models.UUIDField(unique=True)
    template = models.ForeignKey(
        ReceiptTemplate, on_delete=models.PROTECT, null=True, related_name="+", db_index=False
    )
    receipt = models.JSONField()

    class Meta:
        ordering = ["occurred_at", "id"]
        indexes = [models.Index(fields=["seller", "occurred_at"], name="consent_event_seller")]

    def __str__(self) -> str:
        return f"{self.kind} {self.receipt_id}"

    @property
    def full_receipt(self) -> dict:
        """The receipt as issued (Kantara CR v1.1 / ISO/IEC TS 27560 fields)."""
        if self.template_id is None or self.template is None:
            return self.receipt
        return {**self.template.body, **self.receipt}


from accounts.models_sessions import LoginSession  # noqa: E402, F401 - its own module (size)

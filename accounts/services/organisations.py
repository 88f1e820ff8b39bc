"""Buyer organisations: registration and the one place their verification status changes."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from django.core import signing
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import lock_objects
from accounts.models import BuyerOrganisation, OrganisationVerificationEvent, User
from accounts.selectors import organisation_verification_missing
from accounts.services.identity import (
    EMAIL_VERIFICATION_MAX_AGE,
    buyer_member_create,
    phone_code,
    phone_code_matches,
    phone_code_step,
)
from accounts.services.seller_data import PHONE_RE
from core.errors import Conflict, Forbidden, InvalidInput, NotFound


def organisation_create(
    *,
    legal_name: str,
    registration_number: str,
    country: str,
    website: str,
    contact_name: str,
    contact_email: str,
    contact_phone: str = "",
) -> BuyerOrganisation:
    country = country.upper()
    phone = normalise_phone(contact_phone) if contact_phone else ""
    if not re.fullmatch(r"[A-Z]{2}", country):
        raise InvalidInput("country_invalid", "Use an ISO 3166-1 alpha-2 country code.", field="country")
    try:
        with transaction.atomic():
            return BuyerOrganisation.objects.create(
                legal_name=legal_name,
                registration_number=registration_number.strip(),
                country=country,
                website=website,
                contact_name=contact_name,
                contact_email=contact_email,
                contact_phone=phone,
            )
    except IntegrityError:
        raise Conflict(
            "organisation_exists",
            "An organisation with this registration number already exists in this country.",
            field="registration_number",
        ) from None


def organisation_set_verification(
    *, organisation_id: int, to_status: str, actor: User | None, reason: str = ""
) -> BuyerOrganisation:
    """The one place an organisation's verification status changes: locked, checked, audited."""
    if to_status not in BuyerOrganisation.Verification.values:
        raise InvalidInput("status_unknown", f"Unknown verification status {to_status!r}.")
    if to_status in (BuyerOrganisation.Verification.VERIFIED, BuyerOrganisation.Verification.REJECTED) and (
        actor is None or actor.role != User.Role.MODERATOR
    ):
        raise Forbidden("moderator_required", "Only a moderator can verify or reject an organisation.")
    if to_status == BuyerOrganisation.Verification.REJECTED and not reason.strip():
        raise InvalidInput("reason_required", "Give a reason for the rejection.", field="reason")
    with transaction.atomic():
        organisation = lock_objects.buyer_organisation(organisation_id)
        if organisation is None:
            raise NotFound("not_found", "No such organisation.")
        from_status = organisation.verification_status
        if to_status not in BuyerOrganisation.TRANSITIONS[from_status]:
            raise Conflict(
                "transition_not_allowed",
                f"An organisation that is {from_status} cannot become {to_status}.",
            )
        now = timezone.now()
        organisation.verification_status = to_status
        organisation.verification_reason = reason.strip()
        if to_status in (BuyerOrganisation.Verification.VERIFIED, BuyerOrganisation.Verification.REJECTED):
            organisation.verification_decided_by = actor
            organisation.verification_decided_at = now
        organisation.save(
            update_fields=[
                "verification_status",
                "verification_reason",
                "verification_decided_by",
                "verification_decided_at",
            ]
        )
        OrganisationVerificationEvent.objects.create(
            organisation=organisation,
            from_status=from_status,
            to_status=to_status,
            reason=reason.strip(),
            actor=actor,
            occurred_at=now,
        )
    return organisation


# --- Self-service sign-up (the advertiser console) ----------------------------------------------


def organisation_signup(
    *,
    email: str,
    password: str,
    full_name: str,
    legal_name: str,
    registration_number: str,
    country: str,
    website: str,
    contact_name: str,
    contact_email: str,
    contact_phone: str,
    language: str = "en",
) -> User:
    """A new advertiser: the organisation with its verification details and its first member, an
    owner. Both or neither are stored. The contact email and phone start unverified."""
    normalise_phone(contact_phone)  # a bad number is refused before anything is written
    with transaction.atomic(durable=True):
        organisation = organisation_create(
            legal_name=legal_name,
            registration_number=registration_number,
            country=country,
            website=website,
            contact_name=contact_name,
            contact_email=contact_email,
            contact_phone=contact_phone,
        )
        return buyer_member_create(
            organisation=organisation,
            email=email,
            password=password,
            full_name=full_name,
            organisation_role=User.OrganisationRole.OWNER,
            language=language,
        )


def normalise_phone(phone: str) -> str:
    """E.164 (+33612345678); a French national number (06 12 34 56 78) becomes +33…"""
    compact = re.sub(r"[\s.\-()]", "", phone or "")
    if re.fullmatch(r"0[1-9]\d{8}", compact):
        compact = "+33" + compact[1:]
    if not PHONE_RE.fullmatch(compact):
        raise InvalidInput(
            "phone_invalid", "Use an international number such as +33612345678.", field="contact_phone"
        )
    return compact


CONTACT_EMAIL_SALT = "courtier.organisation-contact-email"


def organisation_contact_email_token(organisation: BuyerOrganisation) -> str:
    """The signed link's token: it names the address, so changing the address voids it."""
    return signing.dumps({"o": organisation.pk, "e": organisation.contact_email}, salt=CONTACT_EMAIL_SALT)


def organisation_contact_email_verify(*, token: str) -> BuyerOrganisation:
    try:
        data = signing.loads(token, salt=CONTACT_EMAIL_SALT, max_age=EMAIL_VERIFICATION_MAX_AGE)
    except signing.BadSignature:
        raise InvalidInput("token_invalid", "This verification link is invalid or expired.") from None
    updated = BuyerOrganisation.objects.filter(
        pk=data["o"], contact_email=data["e"], contact_email_verified_at=None
    ).update(contact_email_verified_at=timezone.now())
    organisation = BuyerOrganisation.objects.filter(pk=data["o"], contact_email=data["e"]).first()
    if organisation is None or (not updated and organisation.contact_email_verified_at is None):
        raise InvalidInput("token_invalid", "This verification link is invalid or expired.")
    return organisation


def _contact_phone_subject(organisation: BuyerOrganisation) -> str:
    return f"organisation:{organisation.pk}"


def organisation_contact_phone_code(*, organisation: BuyerOrganisation, at: datetime | None = None) -> str:
    """The code to send by SMS to the contact phone (derived as the sellers' codes are)."""
    if not organisation.contact_phone:
        raise InvalidInput("phone_missing", "Add a phone number first.", field="contact_phone")
    return phone_code(_contact_phone_subject(organisation), organisation.contact_phone, phone_code_step(at))


def organisation_contact_phone_verify(
    *, organisation: BuyerOrganisation, code: str, at: datetime | None = None
) -> None:
    if not organisation.contact_phone:
        raise InvalidInput("phone_missing", "Add a phone number first.", field="contact_phone")
    if not phone_code_matches(_contact_phone_subject(organisation), organisation.contact_phone, code, at):
        raise InvalidInput("code_invalid", "This code is wrong or expired.", field="code")
    BuyerOrganisation.objects.filter(pk=organisation.pk, contact_phone=organisation.contact_phone).update(
        contact_phone_verified_at=timezone.now()
    )


class VerificationIncomplete(InvalidInput):
    """422 `verification_incomplete`; its problem details list what is missing (`missing`: the
    codes of accounts.selectors.organisation_verification_missing)."""

    def __init__(self, *, missing: list[str]) -> None:
        super().__init__("verification_incomplete", f"Complete these first: {', '.join(missing)}.")
        self.missing = missing

    def as_problem(self, instance: str, *, in_query: bool = False) -> dict[str, Any]:
        return {**super().as_problem(instance, in_query=in_query), "missing": self.missing}


def organisation_request_verification(*, organisation_id: int, actor: User | None) -> BuyerOrganisation:
    """Ask a moderator to verify the organisation: refused while a detail or a check is missing."""
    organisation = BuyerOrganisation.objects.filter(pk=organisation_id).first()
    if organisation is None:
        raise NotFound("not_found", "No such organisation.")
    missing = organisation_verification_missing(organisation)
    if missing:
        raise VerificationIncomplete(missing=missing)
    return organisation_set_verification(
        organisation_id=organisation_id, to_status=BuyerOrganisation.Verification.PENDING, actor=actor
    )


# --- Members: invitations, roles, removal ---------------------------------------------------------

INVITATION_SALT = "courtier.organisation-invitation"
INVITATION_MAX_AGE = timedelta(days=7)


def organisation_invitation_token(
    *, organisation: BuyerOrganisation, email: str, organisation_role: str, invited_by: User
) -> str:
    """A signed invitation (nothing stored): accepting it creates the member with this role."""
    if (
        invited_by.organisation_id != organisation.pk
        or invited_by.organisation_role != User.OrganisationRole.OWNER
    ):
        raise Forbidden("owner_required", "Only an owner can invite members.")
    if organisation_role not in User.OrganisationRole.values:
        raise InvalidInput("role_unknown", "Choose owner, developer or finance.", field="role")
    email = User.objects.normalize_email(email).lower()
    if User.objects.filter(email=email).exists():
        raise Conflict("email_taken", "An account with this email already exists.", field="email")
    return signing.dumps({"o": organisation.pk, "e": email, "r": organisation_role}, salt=INVITATION_SALT)


def organisation_invitation_read(*, token: str) -> dict:
    """{"organisation": …, "email": …, "role": …} of a valid invitation."""
    try:
        data = signing.loads(token, salt=INVITATION_SALT, max_age=INVITATION_MAX_AGE)
    except signing.BadSignature:
        raise InvalidInput("invitation_invalid", "This invitation is invalid or expired.") from None
    organisation = BuyerOrganisation.objects.filter(pk=data["o"]).first()
    if organisation is None:
        raise InvalidInput("invitation_invalid", "This invitation is invalid or expired.")
    return {"organisation": organisation, "email": data["e"], "role": data["r"]}


def organisation_invitation_accept(
    *, token: str, password: str, full_name: str, language: str = "en"
) -> User:
    invitation = organisation_invitation_read(token=token)
    return buyer_member_create(
        organisation=invitation["organisation"],
        email=invitation["email"],
        password=password,
        full_name=full_name,
        organisation_role=invitation["role"],
        language=language,
    )


def _member_change(*, organisation: BuyerOrganisation, member_id: int, actor: User, change) -> User:
    """Lock the organisation (so two owners cannot demote each other at once), check, change."""
    if actor.organisation_id != organisation.pk or actor.organisation_role != User.OrganisationRole.OWNER:
        raise Forbidden("owner_required", "Only an owner can manage members.")
    with transaction.atomic(durable=True):
        lock_objects.buyer_organisation(organisation.pk)
        # re-read under the lock: another owner may have demoted or removed the actor meanwhile
        owners = User.objects.filter(
            organisation=organisation, is_active=True, organisation_role=User.OrganisationRole.OWNER
        )
        if not owners.filter(pk=actor.pk).exists():
            raise Forbidden("owner_required", "Only an owner can manage members.")
        member = User.objects.filter(pk=member_id, organisation=organisation, is_active=True).first()
        if member is None:
            raise NotFound("not_found", "No such member.")
        change(member)
        if not owners.exists():
            raise Conflict("last_owner", "An organisation keeps at least one owner.")
    return member


def organisation_member_set_role(
    *, organisation: BuyerOrganisation, member_id: int, organisation_role: str, actor: User
) -> User:
    if organisation_role not in User.OrganisationRole.values:
        raise InvalidInput("role_unknown", "Choose owner, developer or finance.", field="role")

    def change(member: User) -> None:
        member.organisation_role = organisation_role
        member.save(update_fields=["organisation_role"])

    return _member_change(organisation=organisation, member_id=member_id, actor=actor, change=change)


def organisation_member_remove(*, organisation: BuyerOrganisation, member_id: int, actor: User) -> User:
    """The member can no longer log in (the account stays, as the keys they created name them)."""

    def change(member: User) -> None:
        member.is_active = False
        member.save(update_fields=["is_active"])

    return _member_change(organisation=organisation, member_id=member_id, actor=actor, change=change)

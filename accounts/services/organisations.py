"""Buyer organisations: registration and the one place their verification status changes."""

from __future__ import annotations

import re

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import lock_objects
from accounts.models import BuyerOrganisation, OrganisationVerificationEvent, User
from core.errors import Conflict, Forbidden, InvalidInput, NotFound


def organisation_create(
    *,
    legal_name: str,
    registration_number: str,
    country: str,
    website: str,
    contact_name: str,
    contact_email: str,
) -> BuyerOrganisation:
    country = country.upper()
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

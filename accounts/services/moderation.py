"""What moderators decide about accounts and organisations (issue 14): verify or reject an
organisation in any sensible state, suspend and reinstate a seller (any non-staff account) or a
buyer organisation. Each decision needs a reason, is locked, audited (core.audit) and undoable;
nothing is deleted.

A suspension's effects outside accounts (listings withdrawn, bids cancelled, access revoked) are
run by the apps that own them, through accounts.hooks, inside the same transaction.
"""

from __future__ import annotations

from django.contrib.sessions.models import Session
from django.db import transaction
from django.utils import timezone

from accounts import hooks, lock_objects
from accounts.models import BuyerOrganisation, LoginSession, OrganisationVerificationEvent, User
from accounts.selectors import organisation_verification_missing
from accounts.services.organisations import VerificationIncomplete
from core import audit
from core.errors import Conflict, Forbidden, InvalidInput, NotFound

V = BuyerOrganisation.Verification


def _check_moderator(moderator: User | None, reason: str) -> str:
    if moderator is None or moderator.role != User.Role.MODERATOR:
        raise Forbidden("moderator_required", "Only a moderator can do this.")
    reason = reason.strip()
    if not reason:
        raise InvalidInput(
            "reason_required", "Give a reason: every moderator action records why.", field="reason"
        )
    return reason


# --- Verification ------------------------------------------------------------------------------


def organisation_decide_verification(
    *, organisation_id: int, to_status: str, moderator: User, reason: str
) -> BuyerOrganisation:
    """A moderator verifies (from unverified, pending or rejected, once nothing is missing:
    accounts.selectors.organisation_verification_missing) or rejects (from unverified, pending or
    verified) an organisation. The organisation's own request (unverified → pending) stays
    organisations.organisation_request_verification."""
    reason = _check_moderator(moderator, reason)
    if to_status not in (V.VERIFIED, V.REJECTED):
        raise InvalidInput("status_unknown", f"A moderator verifies or rejects, not {to_status!r}.")
    with transaction.atomic(durable=True):
        organisation = lock_objects.buyer_organisation(organisation_id)
        if organisation is None:
            raise NotFound("not_found", "No such organisation.")
        from_status = organisation.verification_status
        if to_status not in BuyerOrganisation.MODERATOR_TRANSITIONS[from_status]:
            raise Conflict(
                "transition_not_allowed", f"An organisation that is {from_status} cannot become {to_status}."
            )
        if to_status == V.VERIFIED:
            missing = organisation_verification_missing(organisation)
            if missing:
                raise VerificationIncomplete(missing=missing)
        now = timezone.now()
        organisation.verification_status = to_status
        organisation.verification_reason = reason
        organisation.verification_decided_by = moderator
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
            reason=reason,
            actor=moderator,
            occurred_at=now,
        )
        audit.record(
            f"organisation.{to_status}",
            organisation,
            reason=reason,
            changes={"verification_status": [from_status, to_status]},
            actor=moderator,
            at=now,
        )
    return organisation


# --- Suspension of an account ------------------------------------------------------------------


def user_suspend(*, user_id: int, moderator: User, reason: str) -> User:
    """Suspend an account: it cannot sign in (is_active cleared, every session closed). For a
    seller, the hooks withdraw their listings (and cancel the bids on them); payouts skip
    suspended sellers (payments.services.payout_sweep) until reinstated. Consent is untouched."""
    reason = _check_moderator(moderator, reason)
    with transaction.atomic(durable=True):
        # the seller's consent grants first: the lock order (core.locks) puts them before listings
        lock_objects.consent_grants_active_of_sellers([user_id])
        user = User.objects.filter(pk=user_id).first()
        if user is None:
            raise NotFound("not_found", "No such account.")
        user = lock_objects.user(user_id)
        if user.is_superuser or user.is_staff or user.role == User.Role.MODERATOR:
            raise Conflict(
                "account_not_suspendable", "Staff accounts are not suspended: remove their staff role."
            )
        if user.erased_at is not None:
            raise Conflict("already_erased", "This account was already erased.")
        if user.suspended_at is not None:
            raise Conflict("already_suspended", "This account is already suspended.")
        now = timezone.now()
        user.suspended_at, user.suspended_reason, user.suspended_by = now, reason, moderator
        user.is_active = False
        user.save(update_fields=["suspended_at", "suspended_reason", "suspended_by", "is_active"])
        session_keys = LoginSession.objects.filter(user=user).values("session_key")
        Session.objects.filter(session_key__in=session_keys).delete()
        LoginSession.objects.filter(user=user).delete()
        audit.record(
            "user.suspended",
            user,
            reason=reason,
            changes={"is_active": [True, False]},
            actor=moderator,
            at=now,
        )
        if user.role == User.Role.SELLER:
            hooks.run_suspension_handlers(hooks.SUSPENDED_SELLER, user.pk, reason)
    return user


def user_reinstate(*, user_id: int, moderator: User, reason: str) -> User:
    """Lift a suspension: the account can sign in again and payouts resume. Withdrawn listings
    stay withdrawn (the seller lists again)."""
    reason = _check_moderator(moderator, reason)
    with transaction.atomic(durable=True):
        user = User.objects.filter(pk=user_id).first()
        if user is None:
            raise NotFound("not_found", "No such account.")
        user = lock_objects.user(user_id)
        if user.suspended_at is None:
            raise Conflict("not_suspended", "This account is not suspended.")
        user.suspended_at, user.suspended_reason, user.suspended_by = None, "", None
        user.is_active = user.erased_at is None
        user.save(update_fields=["suspended_at", "suspended_reason", "suspended_by", "is_active"])
        audit.record(
            "user.reinstated",
            user,
            reason=reason,
            changes={"is_active": [False, user.is_active]},
            actor=moderator,
        )
    return user


# --- Suspension of a buyer organisation ----------------------------------------------------------


def organisation_suspend(*, organisation_id: int, moderator: User, reason: str) -> BuyerOrganisation:
    """Suspend a buyer organisation: it may not bid (403 `organisation_suspended`); the hooks
    cancel its open bids and revoke its access grants, each with a deletion notice. Its members
    can still sign in and its keys still read what it has (to wind down, acknowledge notices)."""
    reason = _check_moderator(moderator, reason)
    with transaction.atomic(durable=True):
        organisation = lock_objects.buyer_organisation(organisation_id)
        if organisation is None:
            raise NotFound("not_found", "No such organisation.")
        if organisation.suspended_at is not None:
            raise Conflict("already_suspended", "This organisation is already suspended.")
        now = timezone.now()
        organisation.suspended_at = now
        organisation.suspended_reason = reason
        organisation.suspended_by = moderator
        organisation.save(update_fields=["suspended_at", "suspended_reason", "suspended_by"])
        audit.record("organisation.suspended", organisation, reason=reason, actor=moderator, at=now)
        hooks.run_suspension_handlers(hooks.SUSPENDED_ORGANISATION, organisation.pk, reason)
    return organisation


def organisation_reinstate(*, organisation_id: int, moderator: User, reason: str) -> BuyerOrganisation:
    """Lift the suspension: it may bid again. Cancelled bids and revoked grants stay so."""
    reason = _check_moderator(moderator, reason)
    with transaction.atomic(durable=True):
        organisation = lock_objects.buyer_organisation(organisation_id)
        if organisation is None:
            raise NotFound("not_found", "No such organisation.")
        if organisation.suspended_at is None:
            raise Conflict("not_suspended", "This organisation is not suspended.")
        organisation.suspended_at, organisation.suspended_reason, organisation.suspended_by = None, "", None
        organisation.save(update_fields=["suspended_at", "suspended_reason", "suspended_by"])
        audit.record("organisation.reinstated", organisation, reason=reason, actor=moderator)
    return organisation

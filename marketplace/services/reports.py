"""Reports (issue 14): a seller reports a buyer organisation that holds their data, a buyer
reports a listing; each keeps a snapshot of what the reporter saw. A moderator resolves or
dismisses a report with a note (audited). Reports are never deleted."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import ApiKey, BuyerOrganisation, User
from core import audit
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from core.lifecycles import transition_rows
from core.locks import lock_row
from listings.models import Listing
from marketplace.models import AccessGrant, DeletionNotice, Report, ReportEvent, TradeLine

# Listings a buyer never saw (not yet offered) answer 404, like unknown ones.
UNSEEN_LISTING_STATUSES = (Listing.Status.DRAFT, Listing.Status.PENDING_REVIEW)


def _checked(reason: str, details: str) -> str:
    if reason not in Report.Reason.values:
        raise InvalidInput(
            "report_reason_unknown",
            f"Choose one of: {', '.join(Report.Reason.values)}.",
            field="reason",
        )
    details = (details or "").strip()
    if len(details) > Report.DETAILS_MAX_LENGTH:
        raise InvalidInput(
            "details_too_long", f"Keep details under {Report.DETAILS_MAX_LENGTH} characters.", field="details"
        )
    return details


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _seller_context(seller: User, organisation: BuyerOrganisation) -> dict[str, Any]:
    """What the seller's "who bought my data" page shows about this organisation, as of now."""
    lines = TradeLine.objects.filter(seller=seller, trade__organisation=organisation).select_related("trade")
    grants = AccessGrant.objects.filter(seller=seller, organisation=organisation)
    notices = DeletionNotice.objects.filter(seller=seller, organisation=organisation)
    return {
        "trades": [
            {
                "trade": str(line.trade.public_id),
                "purpose": line.trade.purpose,
                "categories": line.categories,
                "line_status": line.status,
                "sold_at": _iso(line.trade.created_at),
            }
            for line in lines.order_by("pk")[:100]
        ],
        "access_grants": [
            {
                "grant": str(grant.public_id),
                "purpose": grant.purpose,
                "categories": grant.categories,
                "status": grant.status,
                "ends_at": _iso(grant.ends_at),
                "reads": grant.reads.count(),
            }
            for grant in grants.order_by("pk")[:100]
        ],
        "deletion_notices": [
            {"notice": str(notice.public_id), "status": notice.status, "deadline": _iso(notice.deadline)}
            for notice in notices.order_by("pk")[:100]
        ],
    }


def _listing_context(listing: Listing) -> dict[str, Any]:
    return {
        "listing": {
            "public_id": str(listing.public_id),
            "status": listing.status,
            "categories": listing.categories,
            "purposes": listing.purposes,
            "pricing_mode": listing.pricing_mode,
            "floor_price_cents": listing.floor_price_cents,
            "currency": listing.currency,
            "licence_days": listing.licence_days,
            "auction_ends_at": _iso(listing.auction_ends_at),
        }
    }


def report_organisation(*, seller: User, organisation_id: int, reason: str, details: str = "") -> Report:
    """A seller reports a buyer organisation that bought their data (or was told to delete it);
    any other organisation answers 404."""
    if seller.role != User.Role.SELLER or not seller.is_active:
        raise Forbidden("not_a_seller", "Only an active seller can do this.")
    details = _checked(reason, details)
    organisation = BuyerOrganisation.objects.filter(pk=organisation_id).first()
    known = organisation is not None and (
        TradeLine.objects.filter(seller=seller, trade__organisation=organisation).exists()
        or DeletionNotice.objects.filter(seller=seller, organisation=organisation).exists()
    )
    if organisation is None or not known:
        raise NotFound("not_found", "No such organisation.")
    return Report.objects.create(
        reporter=seller,
        organisation=organisation,
        reason=reason,
        details=details,
        context=_seller_context(seller, organisation),
    )


def report_listing(
    *,
    organisation: BuyerOrganisation,
    listing_public_id,
    reason: str,
    details: str = "",
    api_key: ApiKey | None = None,
) -> Report:
    """A buyer organisation reports a listing (through the API); its reporter is the member who
    created the key, when known."""
    details = _checked(reason, details)
    listing = (
        Listing.objects.filter(public_id=listing_public_id)
        .exclude(status__in=UNSEEN_LISTING_STATUSES)
        .first()
    )
    if listing is None:
        raise NotFound("not_found", "No such listing.")
    return Report.objects.create(
        reporter_id=api_key.created_by_id if api_key is not None else None,
        reporter_organisation=organisation,
        listing=listing,
        reason=reason,
        details=details,
        context=_listing_context(listing),
    )


def report_close(*, report_id: int, moderator: User, note: str, dismiss: bool = False) -> Report:
    """Resolve (or dismiss) an open report with the moderator's note, which is required."""
    if moderator is None or moderator.role != User.Role.MODERATOR:
        raise Forbidden("moderator_required", "Only a moderator can do this.")
    note = (note or "").strip()
    if not note:
        raise InvalidInput(
            "reason_required", "Give a reason: every moderator action records why.", field="reason"
        )
    to_status = Report.Status.DISMISSED if dismiss else Report.Status.RESOLVED
    with transaction.atomic(durable=True):
        report = lock_row(Report.objects.filter(pk=report_id))
        if report is None:
            raise NotFound("not_found", "No such report.")
        if report.status != Report.Status.OPEN:
            raise Conflict("report_not_open", f"This report is already {report.status}.")
        now = timezone.now()
        from_status = report.status
        transition_rows(
            [report],
            to_status,
            event_model=ReportEvent,
            reason=note,
            at=now,
            changes={"resolution_note": note, "resolved_by_id": moderator.pk, "resolved_at": now},
        )
        audit.record(
            f"report.{to_status}",
            report,
            reason=note,
            changes={"status": [from_status, to_status]},
            actor=moderator,
            at=now,
        )
    return report

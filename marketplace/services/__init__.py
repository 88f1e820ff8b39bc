"""Every write to the marketplace, one module per domain, re-exported here:
`from marketplace import services`.

bids (bids on listings, trade transitions), auctions (auction close, held listings whose sale
failed), audience (audience-bundle bids and clearing), access (trade line, access grant and
deletion notice transitions, reading purchased records with their access log, access
revocation with its notices, the licence and notice sweeps), deletion_duty (the bidding block of overdue deletion notices), revocation (the consent
hook), webhooks (outbound events and their endpoints) and webhook_delivery (attempts, retries,
the sweep). Settlement is in marketplace.settlement.
"""

from marketplace.services._common import MAX_BID_CENTS  # the one public name there
from marketplace.services.access import (
    access_grants_expire,
    access_revoke,
    deletion_notice_acknowledge,
    deletion_notices_flag_overdue,
    records_read,
    trade_lines_transition,
)
from marketplace.services.auctions import auctions_close_due, listings_release
from marketplace.services.audience import (
    MAX_AUDIENCE_BID_DAYS,
    MAX_AUDIENCE_RECORDS,
    audience_bid_clear,
    audience_bid_place,
    audience_bids_sweep,
)
from marketplace.services.bids import bid_cancel, bid_place, bid_raise, trade_transition, trades_transition
from marketplace.services.deletion_duty import deletion_duty_clear
from marketplace.services.moderation import webhook_delivery_retry
from marketplace.services.reports import report_close, report_listing, report_organisation
from marketplace.services.revocation import on_consent_change
from marketplace.services.suspension import on_suspension
from marketplace.services.webhook_delivery import webhook_deliveries_queue_due, webhook_delivery_attempt
from marketplace.services.webhooks import (
    webhook_delivery_redeliver,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_disable,
    webhook_endpoint_enable,
    webhook_endpoint_roll_secret,
    webhook_endpoint_update,
    webhook_events_emit,
    webhook_events_emit_for,
)

__all__ = [
    # bids
    "MAX_BID_CENTS",
    "bid_cancel",
    "bid_place",
    "bid_raise",
    "trade_transition",
    "trades_transition",
    # auctions
    "auctions_close_due",
    "listings_release",
    # audience
    "MAX_AUDIENCE_BID_DAYS",
    "MAX_AUDIENCE_RECORDS",
    "audience_bid_clear",
    "audience_bid_place",
    "audience_bids_sweep",
    # access: trade lines, access grants, deletion notices
    "access_grants_expire",
    "access_revoke",
    "deletion_notice_acknowledge",
    "deletion_notices_flag_overdue",
    "records_read",
    "trade_lines_transition",
    # deletion duty
    "deletion_duty_clear",
    # revocation
    "on_consent_change",
    # moderation: reports, retries (issue 14)
    "report_close",
    "report_listing",
    "report_organisation",
    "webhook_delivery_retry",
    # suspension (the accounts hook)
    "on_suspension",
    # webhooks
    "webhook_deliveries_queue_due",
    "webhook_delivery_attempt",
    "webhook_delivery_redeliver",
    "webhook_endpoint_create",
    "webhook_endpoint_delete",
    "webhook_endpoint_disable",
    "webhook_endpoint_enable",
    "webhook_endpoint_roll_secret",
    "webhook_endpoint_update",
    "webhook_events_emit",
    "webhook_events_emit_for",
]

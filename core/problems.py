"""Every machine-readable error code, in one place: its usual HTTP status, a short fixed title
and what it means. API errors are RFC 9457 problem details (core.api_errors) whose `type` is the
page documenting the code, `/api/problems/<code>/` (core.views); services raise the codes through
core.errors. tests/core/test_problem_details.py checks that every code raised is listed here.

One code per condition: a missing object is always `not_found` (its `detail` names the object).
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from django.conf import settings

PROBLEM_CONTENT_TYPE = "application/problem+json"


@dataclass(frozen=True)
class ProblemType:
    code: str
    status: int
    title: str
    description: str


_TYPES: tuple[tuple[str, int, str, str], ...] = (
    # --- The request itself ------------------------------------------------------------------
    ("invalid", 400, "Invalid request", "Some fields of the body (or query parameters) are invalid: `errors` lists each with a pointer to it."),
    ("parse_error", 400, "Malformed request body", "The body could not be parsed as the declared content type (e.g. broken JSON)."),
    ("invalid_cursor", 400, "Invalid pagination cursor", "The `cursor` query parameter was not one this API handed out: follow the `next`/`previous` links as given."),
    ("authentication_failed", 401, "Authentication failed", "The API key is invalid, expired or revoked. The `WWW-Authenticate` header names the scheme."),
    ("not_authenticated", 401, "Authentication required", "Send `Authorization: Api-Key crt_<prefix>_<secret>`. The `WWW-Authenticate` header names the scheme."),
    ("permission_denied", 403, "Permission denied", "The key is valid but may not do this."),
    ("insufficient_scope", 403, "Insufficient scope", "The API key lacks the scope this operation needs; `detail` and `scope` name it."),
    ("deletion_overdue", 403, "Deletion overdue", "Your organisation has deletion notices past their deadline: acknowledge them (GET /api/v1/deletion-notices/?status=overdue) or ask a moderator; until then it cannot bid."),
    ("organisation_not_verified", 403, "Organisation not verified", "Only verified organisations may bid or receive data: request verification first."),
    ("organisation_suspended", 403, "Organisation suspended", "A moderator suspended your organisation: it cannot bid (its open bids were cancelled and its access grants revoked) until reinstated. Reading what it has and acknowledging deletion notices still work."),
    ("not_found", 404, "Not found", "No such object for your organisation, or no such path. `detail` names what was looked for. Objects of other organisations are not found either."),
    ("method_not_allowed", 405, "Method not allowed", "This path does not accept this HTTP method; the `Allow` header lists those it does."),
    ("not_acceptable", 406, "Not acceptable", "The API answers `application/json` (errors `application/problem+json`): adjust the `Accept` header."),
    ("gone", 410, "Gone", "The licence has ended or the seller withdrew consent: delete this data."),
    # --- Organisations, members and API keys (the advertiser console) -----------------------------
    ("verification_incomplete", 422, "Verification details incomplete", "Complete the organisation's details and verify its contact email and phone before asking for verification."),
    ("owner_required", 403, "Owner required", "Only an owner of the organisation can do this."),
    ("last_owner", 409, "Last owner", "An organisation keeps at least one owner."),
    ("role_unknown", 422, "Unknown role", "A member's role is owner, developer or finance."),
    ("invitation_invalid", 422, "Invitation invalid", "The invitation link is invalid, already used or expired."),
    ("api_key_not_usable", 409, "API key not usable", "The API key is revoked or expired: create a new one."),
    ("unsupported_media_type", 415, "Unsupported media type", "Send request bodies as `application/json`."),
    ("rate_limited", 429, "Too many requests", "Slow down: retry after the number of seconds in the `Retry-After` header."),
    ("server_error", 500, "Internal server error", "Something failed on our side; it was logged. Retrying later is safe with an `Idempotency-Key`."),
    # --- Idempotency ---------------------------------------------------------------------------
    ("idempotency_key_invalid", 400, "Invalid idempotency key", "An `Idempotency-Key` is 1 to 255 characters."),
    ("idempotency_key_in_flight", 409, "Request in flight", "The first request with this `Idempotency-Key` is still running: retry shortly."),
    ("idempotency_key_reused", 422, "Idempotency key reused", "This `Idempotency-Key` was used with another body or on another endpoint."),
    # --- Accounts and organisations ----------------------------------------------------------
    ("account_erased", 410, "Account erased", "The account was erased: no data is left."),
    ("already_erased", 409, "Already erased", "This account was already erased."),
    ("not_a_seller", 403, "Not a seller", "Only an active seller account can do this."),
    ("moderator_required", 403, "Moderator required", "Only a moderator can do this."),
    ("email_taken", 409, "Email taken", "An account with this email already exists."),
    ("token_invalid", 422, "Invalid link", "The verification link is invalid or expired."),
    ("code_invalid", 422, "Invalid code", "The verification code is wrong or expired."),
    ("phone_missing", 422, "Phone missing", "Add a phone number first."),
    ("phone_invalid", 422, "Invalid phone number", "Use an international number such as +33612345678."),
    ("birth_date_invalid", 422, "Invalid birth date", "Enter a real birth date."),
    ("under_age", 422, "Under age", "Sellers must be 18 or older."),
    ("postcode_invalid", 422, "Invalid postcode", "A French postcode has five digits."),
    ("details_too_long", 422, "Details too long", "Keep details under 1,000 characters."),
    ("value_unknown", 422, "Unknown value", "The value is not one of the allowed choices."),
    ("country_invalid", 422, "Invalid country", "Use an ISO 3166-1 alpha-2 country code."),
    ("organisation_exists", 409, "Organisation exists", "An organisation with this registration number already exists in this country."),
    ("status_unknown", 422, "Unknown status", "The requested status does not exist."),
    ("reason_required", 422, "Reason required", "Give a reason."),
    ("already_suspended", 409, "Already suspended", "This account or organisation is already suspended."),
    ("not_suspended", 409, "Not suspended", "This account or organisation is not suspended."),
    ("account_not_suspendable", 409, "Account not suspendable", "Staff accounts are not suspended: remove their staff role."),
    ("scope_invalid", 422, "Invalid scopes", "Name one or more known API key scopes."),
    ("name_required", 422, "Name required", "Name the API key."),
    ("expiry_in_past", 422, "Expiry in the past", "The expiry must be in the future."),
    ("api_key_already_revoked", 409, "API key already revoked", "This API key is already revoked."),
    # --- Consent -------------------------------------------------------------------------------
    ("category_unknown", 422, "Unknown data category", "The value is not a data category."),
    ("purpose_unknown", 422, "Unknown purpose", "The value is not a purpose."),
    ("window_invalid", 422, "Invalid window", "Consent lasts one of the offered windows (in days)."),
    ("explicit_consent_required", 422, "Explicit consent required", "Life events are sensitive: they need their own explicit opt-in."),
    ("consent_already_active", 409, "Consent already active", "Consent for this category and purpose is already active: renew or revoke it."),
    ("consent_already_revoked", 409, "Consent already revoked", "This consent was already revoked."),
    ("consent_expired", 409, "Consent expired", "This consent has expired: grant it again."),
    ("consent_not_active", 409, "Consent not active", "Only an active consent can change this way."),
    ("consent_missing", 409, "Consent missing", "The seller has not consented to every category and purpose of the listing (422 when creating one)."),
    # --- Listings ------------------------------------------------------------------------------
    ("categories_required", 422, "Categories required", "Name at least one data category."),
    ("purposes_required", 422, "Purposes required", "Allow at least one purpose."),
    ("licence_invalid", 422, "Invalid licence", "A licence lasts 30, 90 or 365 days."),
    ("pricing_mode_unknown", 422, "Unknown pricing mode", "Choose fixed or auction."),
    ("price_invalid", 422, "Invalid price", "Prices are whole cents."),
    ("price_out_of_range", 422, "Price out of range", "The floor price is between 1 cent and 100,000 €."),
    ("auction_end_invalid", 422, "Invalid auction end", "An auction ends between one hour and 30 days from now."),
    ("auction_end_not_allowed", 422, "Auction end not allowed", "Only auctions have an end time."),
    ("action_not_allowed", 403, "Action not allowed", "Sellers can pause, resume, resubmit or withdraw a listing."),
    ("not_pending", 409, "Not pending review", "Only listings pending review can be approved or rejected."),
    ("listing_closed", 409, "Listing closed", "This listing can no longer be changed."),
    ("transition_not_allowed", 409, "Transition not allowed", "The object's current status does not allow this change."),
    # --- Bids, trades and data -----------------------------------------------------------------
    ("listing_not_open", 409, "Listing not open", "This listing is not open for bids."),
    ("own_data", 403, "Own data", "An organisation cannot buy its own members' data."),
    ("bid_exists", 409, "Bid exists", "Your organisation already has an open bid here: raise or cancel it."),
    ("bid_not_open", 409, "Bid not open", "The bid is no longer open."),
    ("not_an_auction_bid", 409, "Not an auction bid", "Only auction bids can be raised."),
    ("auction_closed", 409, "Auction closed", "This auction has ended."),
    ("amount_required", 422, "Amount required", "A sealed bid needs an amount."),
    ("below_floor", 422, "Below floor price", "Bids start at the listing's floor price."),
    ("raise_too_low", 422, "Raise too low", "A raise must be above your current bid."),
    ("price_mismatch", 422, "Price mismatch", "Buy now pays exactly the listed price."),
    ("purpose_not_offered", 422, "Purpose not offered", "The listing is not offered for this purpose."),
    ("expiry_invalid", 422, "Invalid expiry", "The bid's expiry is out of the allowed range."),
    ("max_records_invalid", 422, "Invalid record count", "Ask for a number of records within the allowed range (small bundles would identify people)."),
    ("amount_invalid", 422, "Invalid amount", "Amounts are positive whole cents within the allowed range."),
    ("amount_out_of_range", 422, "Amount out of range", "The amount is outside the allowed range."),
    ("trade_not_delivered", 409, "Trade not delivered", "The trade has no data yet."),
    ("already_acknowledged", 409, "Already acknowledged", "This deletion notice was already acknowledged."),
    # --- Reports ---------------------------------------------------------------------------------
    ("report_reason_unknown", 422, "Unknown report reason", "A report's reason is one of misuse_of_data, unwanted_contact, inaccurate_listing, suspected_fraud or other."),
    ("report_not_open", 409, "Report not open", "This report was already resolved or dismissed."),
    ("nothing_to_retry", 409, "Nothing to retry", "The object is not in a state a moderator can retry."),
    # --- Outbound webhooks ----------------------------------------------------------------------
    ("webhook_url_forbidden", 422, "Webhook URL forbidden", "Webhook URLs must be https and their host must resolve only to public addresses: private, loopback, link-local, multicast, reserved and unspecified addresses are refused."),
    ("webhook_url_invalid", 422, "Invalid webhook URL", "A webhook URL is at most 2000 characters."),
    ("webhook_event_types_invalid", 422, "Invalid event types", "Subscribe to one or more known event types, or \"*\" for all."),
    ("webhook_endpoint_limit", 409, "Too many webhook endpoints", "Your organisation has as many webhook endpoints as allowed: delete one first."),
    ("webhook_endpoint_disabled", 409, "Webhook endpoint disabled", "The delivery's endpoint is disabled: enable it first."),
    # --- Payments ------------------------------------------------------------------------------
    ("payment_method_required", 422, "Payment method required", "Save a payment method first, or give either a payment_method or a setup_intent."),
    ("payment_method_missing", 422, "Payment method missing", "Save a card before paying."),
    ("payment_method_unknown", 422, "Unknown payment method", "No such payment method."),
    ("payment_method_invalid", 422, "Invalid payment method", "Stripe refused the payment method; `detail` says why."),
    ("payment_method_unsupported", 422, "Unsupported payment method", "Only cards are accepted."),
    ("setup_intent_unknown", 422, "Unknown SetupIntent", "No such SetupIntent."),
    ("setup_intent_not_succeeded", 409, "SetupIntent not succeeded", "Confirm the SetupIntent with Stripe first."),
    ("card_declined", 422, "Card declined", "The card was declined; `detail` says why."),
    ("reference_invalid", 422, "Invalid reference", "A reference is 1 to 80 characters."),
    ("reference_mismatch", 422, "Reference mismatch", "This payment is for another reference."),
    ("reference_reused", 409, "Reference reused", "This reference is already paid with other terms."),
    ("amount_too_large", 422, "Amount too large", "The amount exceeds what can be captured or refunded."),
    ("already_captured", 409, "Already captured", "The payment was already captured."),
    ("capture_in_flight", 409, "Capture in flight", "A capture of this payment is in flight."),
    ("payment_not_authorised", 409, "Payment not authorised", "The payment is not authorised."),
    ("payment_not_cancelable", 409, "Payment not cancelable", "The payment can no longer be cancelled: refund it instead."),
    ("payment_not_refundable", 409, "Payment not refundable", "The payment cannot be refunded in its status."),
    ("payment_not_settleable", 409, "Payment not settleable", "Only a captured payment can be settled."),
    ("refund_refused", 409, "Refund refused", "Stripe refused the refund; `detail` says why."),
    ("stripe_unavailable", 503, "Payment provider unavailable", "Stripe could not be reached or failed: nothing was decided, try again later."),
    ("stripe_in_flight", 503, "Payment provider busy", "Stripe is still handling the same request: try again later."),
    ("stripe_idempotency_error", 503, "Payment provider refused a retry", "Stripe refused our retry of a request: nothing was decided, try again later."),
    ("stripe_rate_limited", 503, "Payment provider rate limited", "Stripe limited our rate: try again later."),
    # --- Internal (back office, Stripe events): never an API answer ---------------------------
    ("already_settled", 409, "Already settled", "The payment was settled with other shares."),
    ("fee_invalid", 422, "Invalid fee", "The fee is 0 to 10,000 basis points."),
    ("shares_required", 422, "Shares required", "At least one seller share is needed."),
    ("shares_duplicate", 422, "Duplicate share", "A seller appears twice."),
    ("shares_mismatch", 422, "Shares mismatch", "Shares must add up to the captured amount."),
    ("seller_unknown", 422, "Unknown seller", "Some shares name accounts that are not sellers."),
    ("resolution_required", 422, "Resolution required", "Say how the issue was resolved."),
    ("kind_unknown", 422, "Unknown kind", "Nothing of this kind is parked."),
    ("currency_unsupported", 422, "Unsupported currency", "The currency is not supported."),
    ("currency_mismatch", 422, "Currency mismatch", "A Stripe object is in another currency than expected."),
    ("amount_mismatch", 422, "Amount mismatch", "A Stripe object is for another amount than expected."),
    ("charge_missing", 422, "Charge missing", "A PaymentIntent succeeded without a charge."),
    ("charge_mismatch", 409, "Charge mismatch", "The payment already has another charge."),
    ("payment_intent_mismatch", 409, "PaymentIntent mismatch", "The payment belongs to another PaymentIntent."),
    ("refund_mismatch", 409, "Refund mismatch", "The refund belongs to another payment."),
    ("refund_too_large", 422, "Refund too large", "The refund exceeds what was captured."),
    ("dispute_mismatch", 409, "Dispute mismatch", "The dispute belongs to another payment."),
    ("transfer_mismatch", 409, "Transfer mismatch", "The transfer went to another account or payout."),
    ("api_version_mismatch", 422, "API version mismatch", "A Stripe event is at another API version than ours."),
    ("stripe_payload_invalid", 502, "Unexpected Stripe payload", "Stripe sent an object without a field it always sends."),
    ("account_purpose_unknown", 422, "Unknown ledger account purpose", "Unknown ledger account purpose."),
    ("account_owner_invalid", 422, "Invalid ledger account owner", "Seller accounts need a seller; platform accounts none."),
    ("ledger_kind_unknown", 422, "Unknown ledger transaction kind", "Unknown ledger transaction kind."),
    ("ledger_unbalanced", 422, "Unbalanced ledger transaction", "Ledger entries must balance, with at least two."),
    ("ledger_amount_invalid", 422, "Invalid ledger amount", "Ledger entries are non-zero whole minor units."),
    ("ledger_key_reused", 409, "Ledger key reused", "This idempotency key was used for another ledger transaction."),
    ("signature_missing", 400, "Signature missing", "The Stripe-Signature header is missing."),
    ("signature_invalid", 400, "Invalid signature", "The Stripe signature did not verify."),
    ("payload_invalid", 400, "Invalid webhook payload", "The body is not a Stripe event."),
    ("livemode_mismatch", 400, "Live mode mismatch", "A live event was sent to a test endpoint (or the reverse)."),
    ("webhooks_not_configured", 400, "Webhooks not configured", "No Stripe webhook secret is configured."),
)  # fmt: skip

PROBLEM_TYPES: dict[str, ProblemType] = {row[0]: ProblemType(*row) for row in _TYPES}


def problem_type_url(code: str) -> str:
    """The absolute URL of the page documenting `code`, or about:blank for an unlisted one."""
    if code not in PROBLEM_TYPES:
        return "about:blank"
    return f"{settings.SITE_URL.rstrip('/')}/api/problems/{code}/"


def field_pointer(path: list[str | int], in_query: bool = False) -> str:
    """Where an error is: a JSON Pointer (RFC 6901) into the request body, e.g. `/criteria/categories/0`
    (`""` is the whole body), or `#/query/<name>` for a query parameter."""
    if in_query and path:
        return f"#/query/{path[0]}"
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def problem_body(
    *, status: int, code: str, detail: str, instance: str, errors: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    """An RFC 9457 problem details document, plus our `code` and (validation only) `errors`."""
    known = PROBLEM_TYPES.get(code)
    title = known.title if known else HTTPStatus(status).phrase
    body: dict[str, Any] = {
        "type": problem_type_url(code),
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        "code": code,
    }
    if errors is not None:
        body["errors"] = errors
    return body

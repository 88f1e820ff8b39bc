"""The seller web UI, one module per page domain. Thin views: forms check the input, services
write, selectors read.

Every page is for sellers only (`seller_required`, which the other apps' seller pages use too).
Every write is a POST; a `ServiceError` becomes a form error (status 200) or, for per-grant
actions, an error on the page with the error's status, and nothing is stored.
"""

from accounts.views.access import SellerRequest, seller_required

__all__ = ["SellerRequest", "seller_required"]

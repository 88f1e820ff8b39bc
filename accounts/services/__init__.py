"""Every write to accounts, one module per domain, re-exported here: `from accounts import services`.

identity (accounts, verification, API keys), organisations (buyer organisations), seller_data
(profile, life events, data keys, age bands), consent (grants, expiry sweep, reminders,
receipts), erasure (Art. 17). The decryption reads live in accounts.selectors and are
re-exported for callers.
"""

from accounts.selectors import life_event_details, seller_precise_values
from accounts.services.api_usage import api_usage_flush
from accounts.services.consent import (
    consent_expire_due,
    consent_grant,
    consent_remind_expiring,
    consent_reminder_email,
    consent_renew,
    consent_revoke,
)
from accounts.services.erasure import seller_erase
from accounts.services.identity import (
    API_KEY_PREFIX,
    EMAIL_VERIFICATION_MAX_AGE,
    EMAIL_VERIFICATION_SALT,
    PHONE_CODE_STEP,
    api_key_authenticate,
    api_key_create,
    api_key_revoke,
    api_key_rotate,
    buyer_member_create,
    email_verification_send,
    email_verification_token,
    email_verify,
    phone_verification_code,
    phone_verify,
    seller_create,
)
from accounts.services.moderation import (
    organisation_decide_verification,
    organisation_reinstate,
    organisation_suspend,
    user_reinstate,
    user_suspend,
)
from accounts.services.organisations import (
    normalise_phone,
    organisation_contact_email_token,
    organisation_contact_email_verify,
    organisation_contact_phone_code,
    organisation_contact_phone_verify,
    organisation_create,
    organisation_invitation_accept,
    organisation_invitation_read,
    organisation_invitation_token,
    organisation_member_remove,
    organisation_member_set_role,
    organisation_request_verification,
    organisation_set_verification,
    organisation_signup,
)
from accounts.services.precise_values import seller_precise_values_open
from accounts.services.seller_data import (
    PHONE_RE,
    POSTCODE_RE,
    encryption_keys_rotate,
    life_event_remove,
    life_event_set,
    seller_age_bands_refresh,
    seller_profile_update,
)
from accounts.services.sessions import (
    login_session_close,
    login_session_forget,
    login_session_record,
    login_session_touch,
    login_sessions_prune,
)

__all__ = [
    # precise values (data protection officers)
    "seller_precise_values_open",
    # identity
    "API_KEY_PREFIX",
    "EMAIL_VERIFICATION_MAX_AGE",
    "EMAIL_VERIFICATION_SALT",
    "PHONE_CODE_STEP",
    "api_key_authenticate",
    "api_key_create",
    "api_key_revoke",
    "api_key_rotate",
    "buyer_member_create",
    "email_verification_send",
    "email_verification_token",
    "email_verify",
    "phone_verification_code",
    "phone_verify",
    "seller_create",
    # organisations
    "normalise_phone",
    "organisation_contact_email_token",
    "organisation_contact_email_verify",
    "organisation_contact_phone_code",
    "organisation_contact_phone_verify",
    "organisation_create",
    "organisation_invitation_accept",
    "organisation_invitation_read",
    "organisation_invitation_token",
    "organisation_member_remove",
    "organisation_member_set_role",
    "organisation_request_verification",
    "organisation_set_verification",
    "organisation_signup",
    # moderation (issue 14)
    "organisation_decide_verification",
    "organisation_reinstate",
    "organisation_suspend",
    "user_reinstate",
    "user_suspend",
    # seller data (and the decryption reads, from accounts.selectors)
    "PHONE_RE",
    "POSTCODE_RE",
    "encryption_keys_rotate",
    "life_event_details",
    "life_event_remove",
    "life_event_set",
    "seller_age_bands_refresh",
    "seller_precise_values",
    "seller_profile_update",
    # consent (the private names are used by tests and bench/consent.py)
    "consent_expire_due",
    "consent_grant",
    "consent_remind_expiring",
    "consent_reminder_email",
    "consent_renew",
    "consent_revoke",
    # erasure
    "seller_erase",
    # the logins a user sees and closes
    "login_session_close",
    "login_session_forget",
    "login_session_record",
    "login_session_touch",
    "login_sessions_prune",
    # API usage (the rate limiter's counters)
    "api_usage_flush",
]

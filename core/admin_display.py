"""Whose names the admin shows (issue 14): inside an admin request, a seller is shown by their
pseudonym, never by their email or name.

Every admin page names rows through `str()` (list columns, foreign keys, filters, breadcrumbs,
page titles, the recent-actions box, LogEntry.object_repr, the audit trail's target_repr), and
`User.__str__` returns the email that the rest of the code relies on. Rather than rewrite each
ModelAdmin (and every one added later), the admin site marks its requests with this context
variable and `User.__str__` reads it: the precise values stay out of every admin page by
construction, and code outside the admin is unchanged.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_pseudonymous: contextvars.ContextVar[bool] = contextvars.ContextVar("admin_pseudonymous", default=False)


@contextmanager
def pseudonymous() -> Iterator[None]:
    """Within the block, people with precise values (sellers) are named by their pseudonym."""
    token = _pseudonymous.set(True)
    try:
        yield
    finally:
        _pseudonymous.reset(token)


def is_pseudonymous() -> bool:
    return _pseudonymous.get()


# Keys under which third-party payloads (Stripe's events) carry a person's details: the Connect
# account of a seller holds their email and, once onboarded, their name, phone, birth date and
# address. The admin shows these payloads with the values replaced.
PERSONAL_KEYS = frozenset(
    {"email", "name", "first_name", "last_name", "phone", "dob", "address", "individual", "ssn_last_4"}
)
REDACTED = "[redacted]"


def redacted(value: Any) -> Any:
    """`value` (decoded JSON) with every PERSONAL_KEYS entry's value, at any depth, replaced."""
    if isinstance(value, dict):
        return {
            k: REDACTED if k in PERSONAL_KEYS and v not in (None, "") else redacted(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redacted(item) for item in value]
    return value

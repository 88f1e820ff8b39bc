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

"""How one call to Stripe fails, and what each failure means for the row that made it.

Stripe's idempotency (its documentation on idempotent requests): the first result of a request
that began executing is saved for its key, 5xx included, and replayed for 24 hours; a concurrent
request with the same key gets 409 `idempotency_error`; the same key with other parameters gets
400 `idempotency_error`; a request refused before executing (429 `rate_limit`) saves nothing.
So, for a call made for one of our rows (payments.models.StripeSteps):

| Stripe answered                                  | the work          | what we do                    |
|--------------------------------------------------|-------------------|-------------------------------|
| 409 idempotency_error (same key in flight)       | being done        | retry later, same key         |
| 429 rate_limit                                   | not done          | back off with jitter (a few   |
|                                                  |                   | times), then retry later      |
| 5xx, a timeout, a lost connection                | maybe done        | spend the key: the next call  |
| 400 idempotency_error (the key answered another) | not done by this  | looks the object up by our    |
|                                                  |                   | reference first, and creates  |
|                                                  |                   | it with a new key only if     |
|                                                  |                   | nothing exists                |
Every other error (a decline, an invalid request) is an answer, raised to the caller.

stripe-python retries network errors, 409 and 5xx itself (`max_network_retries`, with our key),
which turns most blips into the saved answer; what reaches us here is what it gave up on.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, TypeAlias, TypeVar, cast

import stripe
from django.conf import settings
from django.core.cache import cache
from django.db.models import F
from django.utils import timezone

from core.errors import ServiceError
from payments.models import StripeSteps

logger = logging.getLogger(__name__)
T = TypeVar("T")
# A Stripe object as the services read it, obj["field"]: one of stripe-python's objects (which are
# not Mappings) or a plain dict (an event's data.object, a sandbox fixture).
StripeData: TypeAlias = stripe.StripeObject | Mapping[str, Any]
RATE_LIMITED_COUNTER = "payments:stripe_rate_limited"
# what Stripe answers when it decided nothing we can act on: retry later
UNDECIDED = (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError, stripe.IdempotencyError)
# Objects are looked up from a little before our row was written (clocks differ).
LOOKUP_SKEW = timedelta(minutes=5)


class StripeUnavailable(ServiceError):
    """Stripe could not be reached, failed, was busy with the same request or limited our rate:
    nothing was decided here; the step is retried later."""

    status_code = 503


def _message(exc: stripe.StripeError) -> str:
    return (exc.user_message or str(exc) or exc.__class__.__name__)[:500]


def _record(row: StripeSteps | None, message: str, *, spend_key: bool) -> None:
    if row is None:
        return
    changes: dict[str, Any] = {"last_error": message, "updated_at": timezone.now()}
    if spend_key:
        changes["key_generation"] = F("key_generation") + 1
    type(row)._default_manager.filter(pk=row.pk).update(**changes)
    if spend_key:
        row.refresh_from_db(fields=["key_generation"])
    row.last_error = message


def rate_limited_count() -> int:
    """429s Stripe answered since the cache was last cleared (for operators and benchmarks)."""
    return int(cache.get(RATE_LIMITED_COUNTER, 0))


def _count_rate_limited() -> None:
    try:
        cache.incr(RATE_LIMITED_COUNTER)
    except ValueError:
        cache.set(RATE_LIMITED_COUNTER, 1, timeout=None)


def stripe_call(call: Callable[[], T], row: StripeSteps | None = None) -> T:
    """Make one Stripe call for `row` (module docstring); raise StripeUnavailable when nothing
    was decided. A failure is recorded on the row as its last_error."""
    retries = settings.STRIPE_RATE_LIMIT_RETRIES
    for attempt in range(retries + 1):
        try:
            return call()
        except stripe.RateLimitError as exc:
            _count_rate_limited()
            if attempt < retries:
                base = settings.STRIPE_RATE_LIMIT_BACKOFF_SECONDS * 2**attempt
                time.sleep(base * random.uniform(0.5, 1.5))
                continue
            _record(row, _message(exc), spend_key=False)
            raise StripeUnavailable("stripe_rate_limited", _message(exc)) from exc
        except (stripe.IdempotencyError, stripe.APIError) as exc:
            # stripe-python raises a v1 409 as APIError, a 400 idempotency_error as IdempotencyError
            if exc.http_status == 409:  # the same request is still executing at Stripe
                _record(row, _message(exc), spend_key=False)
                raise StripeUnavailable("stripe_in_flight", _message(exc)) from exc
            _record(row, _message(exc), spend_key=True)
            code = (
                "stripe_idempotency_error"
                if isinstance(exc, stripe.IdempotencyError)
                else "stripe_unavailable"
            )
            raise StripeUnavailable(code, _message(exc)) from exc
        except stripe.APIConnectionError as exc:
            _record(row, _message(exc), spend_key=True)
            raise StripeUnavailable("stripe_unavailable", _message(exc)) from exc
    raise AssertionError("unreachable")


@contextmanager
def stripe_reachable() -> Iterator[None]:
    """For reads (retrieve, list) and requests replayed with the same key: safe to repeat, so a
    failure that decided nothing becomes StripeUnavailable; answers (404, declines) pass."""
    try:
        yield
    except UNDECIDED as exc:
        raise StripeUnavailable("stripe_unavailable", _message(exc)) from exc


def create_once(
    row: StripeSteps,
    create: Callable[[], T],
    *,
    listed: Callable[[], Iterable[StripeData]],
    ours: tuple[str, int],
    since: Any = None,
) -> T | StripeData:
    """Create the row's object at Stripe (`create`, keyed by the row), once: when an earlier try
    may have created it (its key was spent), first look for it among `listed()` by our metadata
    `ours` = (key, id), and create with the new key only if it is not there."""
    if row.key_generation:
        with stripe_reachable():
            found = find_ours(listed(), *ours, since)
        if found is not None:
            return found
    return stripe_call(create, row)


def find_ours(
    objects: Iterable[StripeData], metadata_key: str, row_id: int, since: Any = None
) -> StripeData | None:
    """The object whose metadata names our row (the oldest one, if a crash left several: the
    others are strays that reconciliation releases). Lists are newest first; `since` (a datetime)
    stops the walk at objects older than the row."""
    cutoff = int((since - LOOKUP_SKEW).timestamp()) if since is not None else None
    found = None
    for obj in objects:
        if cutoff is not None and int(_field(obj, "created") or 0) < cutoff:
            break
        if str(_field(_field(obj, "metadata"), metadata_key)) == str(row_id):
            found = obj  # keep walking: the oldest match wins
    return found


def _field(obj: Any, key: str) -> Any:
    """obj[key], or None (Stripe objects are mappings without .get)."""
    try:
        return obj[key]
    except (KeyError, TypeError):
        return None


def created_since(row: StripeSteps) -> Any:  # stripe-python types it per resource (…ListParamsCreated)
    """A list filter for objects created since the row was (less the skew)."""
    return {"gte": int((row.created_at - LOOKUP_SKEW).timestamp())}


def stripe_id(value: str | None) -> str:
    """The Stripe id in a nullable column that is filled by this step (the object was created at
    Stripe first), typed as str for stripe-python's signatures. Not checked at run time."""
    return cast(str, value)

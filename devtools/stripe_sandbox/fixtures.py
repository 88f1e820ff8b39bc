"""Stripe's published fixtures (stripe/openapi `openapi/fixtures3.json`) and what we build from them."""

from __future__ import annotations

import copy
import functools
import json
import os
import re
import time
from pathlib import Path
from typing import Any

from devtools.stripe_sandbox.wire import new_id

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
VENDORED_FIXTURES = HERE / "stripe_fixtures.json"
# Every resource the product reads, from either sandbox.
FIXTURE_RESOURCES = (
    "account",
    "account_link",
    "balance_transaction",
    "charge",
    "customer",
    "dispute",
    "event",
    "payment_intent",
    "payment_method",
    "payout",
    "refund",
    "setup_intent",
    "transfer",
    "transfer_reversal",
)


def fixtures_path() -> Path:
    """$STRIPE_FIXTURES, else ../shared/stripe/fixtures3.json, else the extract shipped with us."""
    for candidate in (
        os.environ.get("STRIPE_FIXTURES", ""),
        str(ROOT.parent / "shared/stripe/fixtures3.json"),
    ):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return VENDORED_FIXTURES


@functools.lru_cache(maxsize=4)
def _load(path: Path) -> dict[str, dict[str, Any]]:
    resources = json.loads(path.read_text())["resources"]
    return {name: resources[name] for name in FIXTURE_RESOURCES}


def load_fixtures(path: Path | None = None) -> dict[str, dict[str, Any]]:
    """The fixtures of FIXTURE_RESOURCES (read once per process; callers get their own copy)."""
    return copy.deepcopy(_load((path or fixtures_path()).resolve()))


def extract_fixtures(source: Path, target: Path = VENDORED_FIXTURES) -> None:
    """Write the subset of fixtures3.json the sandbox uses (so CI needs no ../shared)."""
    resources = json.loads(source.read_text())["resources"]
    subset = {
        "_source": "stripe/openapi openapi/fixtures3.json (commit f6c2a48), MIT licence, (c) Stripe, Inc.",
        "resources": {name: resources[name] for name in FIXTURE_RESOURCES},
    }
    target.write_text(json.dumps(subset, indent=1, sort_keys=True) + "\n")


def build_event(
    fixtures: dict[str, dict[str, Any]],
    type_: str,
    obj: dict[str, Any],
    *,
    api_version: str,
    account: str | None = None,
    previous_attributes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A Stripe event (fixture `event`) carrying `obj` as data.object."""
    event = copy.deepcopy(fixtures["event"])
    event.update(
        id=new_id("evt_"),
        type=type_,
        created=int(time.time()),
        api_version=api_version,
        livemode=False,
        pending_webhooks=1,
        request={"id": new_id("req_"), "idempotency_key": None},
        data={"object": obj},
    )
    if previous_attributes:
        event["data"]["previous_attributes"] = previous_attributes
    if account:
        event["account"] = account
    return event


_ID = re.compile(r"^[a-z]{2,6}_[A-Za-z0-9]{6,}$")


def default_value(fixture_value: Any) -> Any:
    """What an object we build carries for a field we have no value for: Stripe's own value for
    descriptive fields, null for references to other objects, the empty value of the type else."""
    if fixture_value is None or isinstance(fixture_value, str) and _ID.match(fixture_value):
        return None
    if isinstance(fixture_value, dict) and fixture_value.get("object") == "list":
        return {**fixture_value, "data": [], "has_more": False, "total_count": 0}
    if isinstance(fixture_value, bool):
        return False
    if isinstance(fixture_value, int | float):
        return 0
    if isinstance(fixture_value, list):
        return []
    return copy.deepcopy(fixture_value)


def shape_like(obj: dict[str, Any], fixture: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """`obj` with exactly the fixture's keys: missing ones from `defaults` (else default_value),
    others dropped. Keys outside the fixture that `defaults` names are kept."""
    shaped = {}
    for key, fixture_value in fixture.items():
        if key in obj:
            shaped[key] = obj[key]
        elif key in defaults:
            value = defaults[key]
            shaped[key] = value(obj) if callable(value) else copy.deepcopy(value)
        else:
            shaped[key] = default_value(fixture_value)
    for key in defaults:
        if key not in fixture and key in obj:
            shaped[key] = obj[key]
    return shaped

"""Which fields the product reads from Stripe objects, and whether Stripe's fixtures have them.

    python -m devtools.stripe_sandbox.contract_report      (exit 1 if a field is unjustified)

A read is `_get(x, "field")` or `x["field"]` in payments/*.py. A field counts as Stripe's when it
is a key anywhere in a fixture of a resource the product reads (fixtures.FIXTURE_RESOURCES, nested
objects included). Reads that are not of Stripe objects, or of fields the fixture leaves out,
are listed in JUSTIFIED with the reason.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from devtools.stripe_sandbox.fixtures import ROOT, load_fixtures

# `_get(receiver, "field")` and `receiver["field"]`; a read counts when its receiver is a Stripe
# object by the product's naming (below), or is itself a read of one (`_get(_get(x, "a"), "b")`,
# `x["a"]["b"]`). Other dicts (aggregates, form data, our own rows) are not Stripe's.
READ = re.compile(
    r"""(?:_get\(\s*(?P<get_receiver>_get\(.*?\)|[\w.]+)\s*,\s*["'](?P<get_field>[A-Za-z_]\w*)["'])"""
    r"""|(?:(?P<receiver>\w+|\])\[\s*["'](?P<field>[A-Za-z_]\w*)["']\s*\])"""
)
STRIPE_OBJECT_NAMES = {
    "account", "bank_payout", "card", "charge", "created", "data", "dispute", "error", "event", "i",
    "intent", "link", "method", "obj", "payload", "r", "refund", "requirements", "reversal", "t",
    "transfer", "txn",
}  # fmt: skip
PRODUCT_FILES = "payments/*.py"

OUR_METADATA = "courtier_"  # metadata keys we write ourselves: Stripe only stores them
JUSTIFIED: dict[str, str] = {
    "code": "last_payment_error.code: part of Stripe's error object; the fixture's last_payment_error "
    "is a stub ({'type': ...})",
    "message": "last_payment_error.message: as code",
    "decline_code": "last_payment_error.decline_code: Stripe sets it on card declines; as code",
    "failure_reason": "refund.failure_reason: Stripe sets it only on failed refunds; the fixture "
    "refund succeeded",
    "account": "event.account: present on events from connected accounts (Connect), absent from the "
    "platform's fixture event",
    "previous_attributes": "event.data.previous_attributes: present on *.updated events only",
}


def stripe_keys(fixtures: dict[str, dict[str, Any]]) -> set[str]:
    keys: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            keys.update(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(fixtures)
    return keys


def product_reads(root: Path = ROOT) -> dict[str, list[str]]:
    """field → where (file:line) the product reads it."""
    reads: dict[str, list[str]] = {}
    for path in sorted(root.glob(PRODUCT_FILES)):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.lstrip().startswith("#"):
                continue
            for match in READ.finditer(line):
                receiver = match.group("get_receiver") or match.group("receiver")
                field = match.group("get_field") or match.group("field")
                name = receiver.rsplit(".", 1)[-1]
                if receiver.startswith("_get(") or name == "]" or name in STRIPE_OBJECT_NAMES:
                    reads.setdefault(field, []).append(f"{path.relative_to(root)}:{number}")
    return reads


def report(root: Path = ROOT) -> tuple[list[str], list[str]]:
    """(lines of the report, fields read that Stripe's fixtures lack and nothing justifies)."""
    known = stripe_keys(load_fixtures())
    lines, unjustified = [], []
    for field, where in sorted(product_reads(root).items()):
        if field in known:
            continue
        reason = JUSTIFIED.get(field) or ("our own metadata key" if field.startswith(OUR_METADATA) else None)
        if reason is None:
            unjustified.append(field)
        lines.append(
            f"{field:<24} {reason or 'NOT IN STRIPE FIXTURES, NOT JUSTIFIED'}  ({', '.join(where[:3])})"
        )
    return lines, unjustified


def main() -> int:
    lines, unjustified = report()
    print(f"Fields the product reads ({PRODUCT_FILES}) that Stripe's fixtures lack: {len(lines)}")
    print("\n".join(lines) or "(none)")
    return 1 if unjustified else 0


if __name__ == "__main__":
    sys.exit(main())

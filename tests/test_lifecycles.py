"""Every lifecycle is explicit (DESIGN.md §Lifecycles, STYLE.md 10): each concrete model with a
`status` field has a TRANSITIONS table over exactly its statuses, and no product code writes a
`status` outside the transition service module(s) of its model."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.apps import apps

from accounts.models import ConsentGrant
from core.errors import Conflict
from core.lifecycles import check_transition, transition_rows
from marketplace.models import AccessGrant, AccessGrantEvent, DeletionNotice, TradeLine, TradeLineEvent
from payments.models import Payment, PayoutReversal
from payments.services.payment_status import operation_transition

ROOT = Path(__file__).resolve().parent.parent
PRODUCT_APPS = ("accounts", "core", "listings", "marketplace", "payments")

# The modules allowed to write a `status`: each model's one transition service.
TRANSITION_MODULES = {
    "core/lifecycles.py": "transition_rows: TradeLine, AccessGrant, DeletionNotice (and any model using it)",
    "accounts/services/consent.py": "ConsentGrant: _consent_grants_end",
    "listings/services.py": "Listing: _transition_locked and listings_sold_locked",
    "marketplace/services/_common.py": "Bid: _bid_transition",
    "marketplace/services/bids.py": "Trade: trades_transition",
    "marketplace/services/webhooks.py": "WebhookEndpoint, WebhookDelivery: _endpoint_transition, _delivery_transition",
    "payments/services/payment_status.py": "Payment, Refund, Payout, PayoutReversal: operation_transition",
    "payments/services/refunds_disputes.py": "Dispute: its status follows Stripe's, checked against its table",
    "payments/webhooks.py": "StripeEvent: compare-and-set claims and outcomes of the raw event row",
}
WRITE_CALLS = {"update", "create", "bulk_create", "get_or_create", "update_or_create"}


def models_with_status():
    return [
        model
        for model in apps.get_models()
        if not model._meta.proxy and any(field.name == "status" for field in model._meta.concrete_fields)
    ]


@pytest.mark.parametrize("model", models_with_status(), ids=lambda model: model._meta.label)
def test_every_model_with_a_status_has_a_transitions_table_over_its_statuses(model):
    statuses = {value for value, _label in model._meta.get_field("status").choices}
    table = getattr(model, "TRANSITIONS", None)

    assert table is not None, f"{model._meta.label} has a status but no TRANSITIONS table"
    assert set(table) == statuses, f"{model._meta.label}: the table's keys are not its statuses"
    for from_status, targets in table.items():
        assert set(targets) <= statuses, (
            f"{model._meta.label}: {from_status} → unknown {set(targets) - statuses}"
        )


def test_the_lifecycles_of_the_design_are_all_there():
    labels = {model._meta.label for model in models_with_status()}
    assert {
        "accounts.ConsentGrant",
        "listings.Listing",
        "marketplace.Bid",
        "marketplace.Trade",
        "marketplace.TradeLine",
        "marketplace.AccessGrant",
        "marketplace.DeletionNotice",
        "payments.Payment",
        "payments.Refund",
        "payments.Payout",
    } <= labels


def status_writes(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, what) for every `x.status = …` (plain, tuple or augmented) and every `status=`
    keyword in an update/create call."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for element in ast.walk(target):
                    if isinstance(element, ast.Attribute) and element.attr == "status":
                        found.append((node.lineno, f"{ast.unparse(element)} ="))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in WRITE_CALLS and any(kw.arg == "status" for kw in node.keywords):
                found.append((node.lineno, f".{node.func.attr}(status=…)"))
    return found


def product_modules():
    for app in PRODUCT_APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if "/migrations/" not in relative and "/tests/" not in relative:
                yield relative, path


def test_the_scan_sees_every_kind_of_status_write():
    tree = ast.parse(
        "a.status = 1\n"
        "a.status, a.reason = 1, 2\n"
        "M.objects.filter(pk=1).update(status='x')\n"
        "M.objects.create(status='x')\n"
        "M.objects.filter(status='x').count()\n"
    )
    assert [line for line, _what in status_writes(tree)] == [1, 2, 3, 4]


def test_no_code_writes_a_status_outside_its_transition_service():
    outside = [
        f"{relative}:{line}: {what}"
        for relative, path in product_modules()
        if relative not in TRANSITION_MODULES
        for line, what in status_writes(ast.parse(path.read_text(), filename=relative))
    ]
    assert outside == []


def test_every_whitelisted_module_exists():
    assert [module for module in TRANSITION_MODULES if not (ROOT / module).exists()] == []


# --- illegal moves are refused -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "from_status", "to_status"),
    [
        (ConsentGrant, "revoked", "active"),
        (ConsentGrant, "expired", "revoked"),
        (TradeLine, "voided", "delivered"),
        (AccessGrant, "expired", "revoked"),
        (DeletionNotice, "acknowledged", "overdue"),
    ],
)
def test_an_illegal_transition_raises(model, from_status, to_status):
    with pytest.raises(Conflict):
        check_transition(model, from_status, to_status)


def test_the_generic_transition_refuses_before_writing_anything():
    """No database access: the check comes before the UPDATE and the events."""
    with pytest.raises(Conflict):
        transition_rows(
            [AccessGrant(pk=1, status="revoked")],
            AccessGrant.Status.EXPIRED,
            event_model=AccessGrantEvent,
            reason="",
            at=None,
        )
    with pytest.raises(Conflict):
        transition_rows(
            [TradeLine(pk=1, status="delivered")],
            TradeLine.Status.PENDING,
            event_model=TradeLineEvent,
            reason="",
            at=None,
        )


@pytest.mark.parametrize(
    ("row", "to_status"),
    [(Payment(pk=1, status="failed"), "captured"), (PayoutReversal(pk=1, status="succeeded"), "failed")],
)
def test_a_stripe_operation_ignores_a_move_its_table_refuses(row, to_status):
    """Stripe reports facts late and out of order: a refused move is logged and not applied."""
    assert operation_transition(row, to_status) is False
    assert row.status != to_status

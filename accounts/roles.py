"""Staff roles (issue 14): Django groups with their permissions, kept in step with the code.

- Moderators: staff (never superusers) who see every record of the product's apps and change
  what the admin's queues act on (organisations, listings, users, deletion notices, payments and
  payouts to retry, Stripe events, reconciliation issues). No delete permission on any model:
  records are suspended, rejected or erased by services, never deleted from the admin.
- Data protection officers: everything a moderator has, plus `accounts.view_precise_values`,
  which opens a seller's precise values (email, name, phone, birth date, postcode, life event
  details) one seller at a time, with a reason the audit trail keeps.

The groups are written by a post_migrate receiver (accounts.receivers), not a data migration:
permissions only exist once every app has migrated (Django creates them after migrate), and a
test database flushed between transactional tests gets its groups back the same way. Running
it again changes nothing when the groups already match.
"""

from __future__ import annotations

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission
from django.db import transaction

MODERATORS = "Moderators"
DATA_PROTECTION_OFFICERS = "Data protection officers"

# the apps whose every model a moderator may view
VIEWED_APPS = ("auth", "core", "accounts", "listings", "marketplace", "payments")
# "<app_label>.<model>": the rows the queue actions change
CHANGED_MODELS = (
    "accounts.user",
    "accounts.buyerorganisation",
    "listings.listing",
    "marketplace.deletionnotice",
    "marketplace.buyerdeletionoverdue",
    "payments.payment",
    "payments.payout",
    "payments.connectaccount",
    "payments.stripeevent",
    "payments.reconciliationissue",
)
PRECISE_VALUES_PERMISSION = "accounts.view_precise_values"


def _moderator_permissions() -> list[Permission]:
    changed = [label.split(".") for label in CHANGED_MODELS]
    view = Permission.objects.filter(content_type__app_label__in=VIEWED_APPS, codename__startswith="view_")
    change = [
        p
        for p in Permission.objects.filter(
            content_type__app_label__in={app for app, _model in changed}, codename__startswith="change_"
        ).select_related("content_type")
        if [p.content_type.app_label, p.content_type.model] in changed
    ]
    return [p for p in view if p.codename != "view_precise_values"] + change


def roles_sync(*, using: str = "default") -> None:
    """Create the groups and set their permissions to exactly the ones above (idempotent)."""
    for app_config in global_apps.get_app_configs():  # permissions of apps migrated after accounts
        create_permissions(app_config, verbosity=0, using=using)
    moderator_permissions = _moderator_permissions()
    app_label, codename = PRECISE_VALUES_PERMISSION.split(".")
    precise = Permission.objects.get(content_type__app_label=app_label, codename=codename)
    with transaction.atomic(using=using):
        moderators, _ = Group.objects.using(using).get_or_create(name=MODERATORS)
        moderators.permissions.set(moderator_permissions)
        officers, _ = Group.objects.using(using).get_or_create(name=DATA_PROTECTION_OFFICERS)
        officers.permissions.set([*moderator_permissions, precise])

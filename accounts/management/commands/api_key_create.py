"""Create an API key for an organisation and print its secret once.

manage.py api_key_create --organisation <id or legal name> --name "ci" [--scopes segments:read,bids:write]
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts import services
from accounts.models import ApiScope, BuyerOrganisation
from core.errors import ServiceError


class Command(BaseCommand):
    help = "Create an API key for a buyer organisation; the secret is printed once and never stored."

    def add_arguments(self, parser):
        parser.add_argument("--organisation", required=True, help="the organisation's id or exact legal name")
        parser.add_argument("--name", required=True, help="what the key is for")
        parser.add_argument(
            "--scopes", default="", help=f"comma-separated, among {', '.join(ApiScope.values)} (default: all)"
        )

    def handle(self, *args, organisation: str, name: str, scopes: str, **options):
        found = BuyerOrganisation.objects.filter(legal_name=organisation)
        if organisation.isdigit():
            found = BuyerOrganisation.objects.filter(pk=int(organisation)) or found
        matches = list(found[:2])
        if not matches:
            raise CommandError(f"No organisation {organisation!r}.")
        if len(matches) > 1:
            raise CommandError(f"Several organisations are named {organisation!r}: give the id.")
        chosen = [scope.strip() for scope in scopes.split(",") if scope.strip()] or None
        try:
            key, plaintext = services.api_key_create(organisation=matches[0], name=name, scopes=chosen)
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        self.stderr.write(
            f"Key {key.prefix} ({', '.join(key.scopes)}) for {matches[0].legal_name}: "
            "copy the secret below, it is not shown again."
        )
        self.stdout.write(plaintext)

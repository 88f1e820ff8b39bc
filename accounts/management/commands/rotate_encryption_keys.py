"""Re-wrap every seller data key under the primary master key (the first FIELD_ENCRYPTION_KEYS).

Rotation: put the new key first in FIELD_ENCRYPTION_KEYS, keep the old ones after it, deploy,
run this command, then drop the old keys. Idempotent; safe to run while the site is up.
"""

from django.core.management.base import BaseCommand

from accounts import services


class Command(BaseCommand):
    help = "Re-wrap every seller data key under the primary FIELD_ENCRYPTION_KEYS key; prints the count."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=1000)

    def handle(self, *args, batch_size: int, **options):
        count = services.encryption_keys_rotate(batch_size=batch_size)
        self.stdout.write(self.style.SUCCESS(f"Re-wrapped {count} seller data keys."))

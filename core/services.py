from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from core.models import IdempotencyRecord


def idempotency_records_purge(
    *, older_than: timedelta = timedelta(days=1), now: datetime | None = None
) -> int:
    """Forget Idempotency-Keys older than `older_than` (clients retry within minutes, not days)."""
    deleted, _ = IdempotencyRecord.objects.filter(
        created_at__lt=(now or timezone.now()) - older_than
    ).delete()
    return deleted

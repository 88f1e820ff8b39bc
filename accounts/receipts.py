"""Consent receipts: Kantara Consent Receipt v1.1 fields, with the ISO/IEC TS 27560 event terms.

`receipt_template` holds everything a receipt says that depends only on the event kind, the
category and the purpose; it is stored once per distinct body (`template_id`) and events keep
only `event_fields`. The expiry sweep writes the same fields in SQL and references the same
templates (accounts.services), so both paths issue the same receipts.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import translation

from accounts.taxonomy import SENSITIVE_CATEGORIES, TCF_PURPOSE_IDS, DataCategory, Purpose

RECEIPT_VERSION = "KI-CR-v1.1.0"
SERVICE_NAME = "Courtier personal-data marketplace"

COLLECTION_METHODS = {
    "granted": "web form: explicit opt-in by the data subject",
    "renewed": "web form: explicit renewal by the data subject",
    "revoked": "web form or API: withdrawal by the data subject",
    "expired": "automatic: the consent window ended",
    "erasure": "erasure request (GDPR Art. 17) by the data subject",
}
TERMINATIONS = {
    "granted": "Ends at the end of the chosen window, or at once when withdrawn in Courtier's "
    "consent page; buyers holding the data then receive a deletion notice.",
    "renewed": "Ends at the end of the renewed window, or at once when withdrawn.",
    "revoked": "Withdrawn: no further sale or delivery; buyers must delete the data.",
    "expired": "Window ended: no further sale or delivery; buyers must delete the data.",
}


def receipt_template(kind: str, category: str, purpose: str, method: str | None = None) -> dict[str, Any]:
    sensitive = category in SENSITIVE_CATEGORIES
    with translation.override("en"):  # receipts are records: always in English
        purpose_label, category_label = str(Purpose(purpose).label), str(DataCategory(category).label)
    return {
        "version": RECEIPT_VERSION,
        "jurisdiction": settings.CONSENT_JURISDICTION,
        "collectionMethod": COLLECTION_METHODS[method or kind],
        "language": "en",
        "piiControllers": [settings.CONSENT_CONTROLLER],
        "policyUrl": settings.CONSENT_POLICY_URL,
        "eventType": kind,
        "services": [
            {
                "service": SERVICE_NAME,
                "purposes": [
                    {
                        "purpose": purpose_label,
                        "purposeCode": purpose,
                        "tcfPurposeId": TCF_PURPOSE_IDS[purpose],
                        "consentType": "EXPLICIT",
                        "purposeCategory": [purpose],
                        "piiCategory": [category_label],
                        "piiCategoryCode": [category],
                        "primaryPurpose": True,
                        "termination": TERMINATIONS[kind],
                        "thirdPartyDisclosure": True,
                        "thirdPartyName": "Verified buyer organisations that license the data "
                        "through Courtier (listed on the seller's sales page)",
                    }
                ],
            }
        ],
        "sensitive": sensitive,
        "spiCat": [category_label] if sensitive else [],
    }


def event_fields(
    *,
    subject_pseudonym: uuid.UUID,
    grant_id: int,
    at: datetime,
    window_start: datetime,
    window_end: datetime,
    receipt_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """The per-event part of a receipt (the rest is its template)."""
    return {
        "consentReceiptID": str(receipt_id or uuid.uuid4()),
        "consentTimestamp": int(at.timestamp()),
        "piiPrincipalId": str(subject_pseudonym),
        "grantId": grant_id,
        "windowStart": window_start.isoformat(),
        "windowEnd": window_end.isoformat(),
    }


def receipt_for(
    *, kind: str, category: str, purpose: str, method: str | None = None, **fields
) -> dict[str, Any]:
    """A whole receipt: the template, then the per-event fields (see `event_fields`)."""
    return {**receipt_template(kind, category, purpose, method), **event_fields(**fields)}


def template_id(kind: str, category: str, purpose: str, method: str | None = None) -> int:
    """The stored template row for this receipt template, created on first use."""
    return template_ids([(kind, category, purpose, method)])[0]


def template_ids(specs: list[tuple[str, str, str, str | None]]) -> list[int]:
    """`template_id` for each (kind, category, purpose, method): one query for those stored."""
    from accounts.models import ReceiptTemplate

    bodies = [receipt_template(*spec) for spec in specs]
    digests = [hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest() for body in bodies]
    stored = dict(ReceiptTemplate.objects.filter(digest__in=digests).values_list("digest", "pk"))
    for digest, body in zip(digests, bodies, strict=True):
        if digest not in stored:
            template, _created = ReceiptTemplate.objects.get_or_create(digest=digest, defaults={"body": body})
            stored[digest] = template.pk
    return [stored[digest] for digest in digests]

"""Consent receipts: the Kantara Initiative Consent Receipt Specification v1.1.0 (KI-CR-v1.1.0),
with the ISO/IEC TS 27560 event terms and our own codes as extension fields.

`receipt_template` holds everything a receipt says that depends only on the event kind, the
category, the purpose and the seller's language; it is stored once per distinct body
(`template_ids`, keyed by the body's SHA-256, so each language has its own rows) and events keep
only `event_fields`. `consent_events` is the one builder of consent events and their receipts:
every consent service writes the events it builds. The expiry sweep on PostgreSQL inserts a
batch's events with one INSERT … SELECT, from the same parts: the template ids of
`consent_event_templates`, and the event's own fields as `event_fields_sql` writes EVENT_FIELDS
(the same fields, each value in the same form).

Kantara fields: version, jurisdiction, consentTimestamp, collectionMethod, consentReceiptID,
language, piiPrincipalId, piiControllers[] (address: a schema.org PostalAddress object),
policyUrl, services[].purposes[] (purpose, purposeCategory[], consentType, piiCategory[],
primaryPurpose, termination, thirdPartyDisclosure, thirdPartyName), sensitive, spiCat[]. The
category values are the specification's appendix vocabularies, written as its own example
receipt writes them ("6 - Marketing", "1 - Biographical"). Extensions: eventType (ISO/IEC TS
27560), grantId, windowStart, windowEnd, and per purpose purposeCode, tcfPurposeId,
piiCategoryCode, piiCategoryLabel. The JSON Schema is accounts/schemas/consent_receipt.schema.json.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from django.conf import settings
from django.urls import get_script_prefix, reverse
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from accounts.taxonomy import SENSITIVE_CATEGORIES, TCF_PURPOSE_IDS, DataCategory, Purpose

if TYPE_CHECKING:
    from accounts.models import ConsentEvent, ConsentGrant

RECEIPT_VERSION = "KI-CR-v1.1.0"
SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "consent_receipt.schema.json"

# Kantara CR v1.1, appendix of purpose categories (number - name, as the specification's example).
PURPOSE_CATEGORIES: tuple[str, ...] = (
    "1 - Core Function",
    "2 - Contracted Service",
    "3 - Delivery",
    "4 - Contact Requested",
    "5 - Personalized Experience",
    "6 - Marketing",
    "7 - Marketing Third Parties",
    "8 - Sharing for Delivery",
    "9 - Sharing for Marketing",
    "10 - 3rd Party Sharing for Core Function",
    # 11 (sharing so third parties serve others) is left out: we could not verify its wording.
    "12 - Legally Required Data Retention",
    "13 - Required by Law Enforcement or Government",
    "14 - Protecting Your Health",
    "15 - Protecting Our Interests",
    "16 - Improve Performance",
)
# Kantara CR v1.1, appendix of PII categories; spiCat names sensitive ones from the same list.
PII_CATEGORIES: tuple[str, ...] = (
    "1 - Biographical",
    "2 - Contact",
    "3 - Biometric",
    "4 - Communications/Social",
    "5 - Network/Service",
    "6 - Health",
    "7 - Financial",
    "8 - Official ID",
    "9 - Social Benefit Data",
    "10 - Judicial Data",
    "11 - Asset Data",
    "12 - HR Data",
    "13 - Mental Health",
    "14 - Membership",
    "15 - Behavioral",
    "16 - Profiling",
)

# Every purpose sells the data to buyer organisations (third parties) for their own use: to
# market their services to the seller, or to deliver or improve their own services.
PURPOSE_CATEGORY_OF: dict[str, tuple[str, ...]] = {
    Purpose.TARGETED_ADVERTISING: ("9 - Sharing for Marketing",),
    Purpose.AD_MEASUREMENT: ("9 - Sharing for Marketing",),
    Purpose.AUDIENCE_MEASUREMENT: ("9 - Sharing for Marketing",),
    Purpose.MARKET_RESEARCH: ("9 - Sharing for Marketing",),
    Purpose.PRODUCT_DEVELOPMENT: ("10 - 3rd Party Sharing for Core Function",),
    Purpose.PERSONALISED_CONTENT: ("10 - 3rd Party Sharing for Core Function",),
}
PII_CATEGORY_OF: dict[str, tuple[str, ...]] = {
    DataCategory.DEMOGRAPHICS: ("1 - Biographical",),  # age band, gender, birth date
    DataCategory.LOCATION: ("2 - Contact",),  # region, postcode: part of the home address
    DataCategory.DEVICE: ("5 - Network/Service",),  # mobile OS
    DataCategory.TELECOM: ("2 - Contact", "5 - Network/Service"),  # phone number, operator
    DataCategory.INTERESTS: ("15 - Behavioral",),  # habits and tastes the seller declares
    DataCategory.CONTENT_AFFINITY: ("15 - Behavioral",),
    # new loan, car (financial), expecting a child (health), job, retirement (HR), marriage,
    # moving, graduation (biographical)
    DataCategory.LIFE_EVENTS: ("1 - Biographical", "6 - Health", "7 - Financial", "12 - HR Data"),
}
# What of a sensitive category is sensitive: pregnancy is health data (GDPR Art. 9), loans are
# financial data.
SENSITIVE_PII_CATEGORY_OF: dict[str, tuple[str, ...]] = {
    DataCategory.LIFE_EVENTS: ("6 - Health", "7 - Financial"),
}

SERVICE_NAME = _("Courtier personal-data marketplace")
THIRD_PARTY_NAME = _(
    "Verified buyer organisations that license the data through Courtier (listed on the seller's sales page)"
)
COLLECTION_METHODS = {
    "granted": _("web form: explicit opt-in by the data subject"),
    "renewed": _("web form: explicit renewal by the data subject"),
    "revoked": _("web form or API: withdrawal by the data subject"),
    "expired": _("automatic: the consent window ended"),
    "erasure": _("erasure request (GDPR Art. 17) by the data subject"),
}
TERMINATIONS = {
    "granted": _(
        "Ends at the end of the chosen window, or at once when withdrawn in Courtier's consent "
        "page; buyers holding the data then receive a deletion notice."
    ),
    "renewed": _("Ends at the end of the renewed window, or at once when withdrawn."),
    "revoked": _("Withdrawn: no further sale or delivery; buyers must delete the data."),
    "expired": _("Window ended: no further sale or delivery; buyers must delete the data."),
}


def receipt_languages() -> list[str]:
    return [code for code, _name in settings.LANGUAGES]


def receipt_language(preferred: str | None) -> str:
    """The language a receipt is written in: the seller's, if the site offers it."""
    return preferred if preferred in receipt_languages() else settings.LANGUAGE_CODE


def policy_url() -> str:
    # Without the request's script prefix: receipts built in a request, a task or the sweep match.
    path = reverse("privacy-notice")[len(get_script_prefix()) :]
    return f"{settings.SITE_URL.rstrip('/')}/{path}"


def controller() -> dict[str, Any]:
    return {**settings.CONSENT_CONTROLLER, "piiControllerUrl": settings.SITE_URL.rstrip("/") + "/"}


def receipt_template(
    kind: str, category: str, purpose: str, method: str | None = None, language: str = "en"
) -> dict[str, Any]:
    sensitive = category in SENSITIVE_CATEGORIES
    with translation.override(language):
        return {
            "version": RECEIPT_VERSION,
            "jurisdiction": settings.CONSENT_JURISDICTION,
            "collectionMethod": str(COLLECTION_METHODS[method or kind]),
            "language": language,
            "piiControllers": [controller()],
            "policyUrl": policy_url(),
            "eventType": kind,
            "services": [
                {
                    "service": str(SERVICE_NAME),
                    "purposes": [
                        {
                            "purpose": str(Purpose(purpose).label),
                            "purposeCode": purpose,
                            "tcfPurposeId": TCF_PURPOSE_IDS[purpose],
                            "purposeCategory": list(PURPOSE_CATEGORY_OF[purpose]),
                            "consentType": "EXPLICIT",
                            "piiCategory": list(PII_CATEGORY_OF[category]),
                            "piiCategoryCode": [category],
                            "piiCategoryLabel": [str(DataCategory(category).label)],
                            "primaryPurpose": True,
                            "termination": str(TERMINATIONS[kind]),
                            "thirdPartyDisclosure": True,
                            "thirdPartyName": str(THIRD_PARTY_NAME),
                        }
                    ],
                }
            ],
            "sensitive": sensitive,
            "spiCat": list(SENSITIVE_PII_CATEGORY_OF[category]) if sensitive else [],
        }


def iso_utc(at: datetime) -> str:
    """ISO 8601 in UTC with all six digits of microseconds (isoformat() drops them when zero)."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")  # …T…:…:….ffffff+00:00


# The per-event part of a receipt (the rest is its template): each field is one value of the
# event written in one form. `event_fields` writes them in Python; the expiry sweep's bulk insert
# on PostgreSQL writes the same forms in SQL (EVENT_FIELD_FORMS_SQL) for the rows it inserts.
EVENT_FIELDS: dict[str, tuple[str, str]] = {
    "consentReceiptID": ("receipt_id", "text"),
    "consentTimestamp": ("at", "epoch_seconds"),
    "piiPrincipalId": ("subject_pseudonym", "text"),
    "grantId": ("grant_id", "integer"),
    "windowStart": ("window_start", "iso_utc"),
    "windowEnd": ("window_end", "iso_utc"),
}
EVENT_FIELD_FORMS: dict[str, Callable[[Any], Any]] = {
    "text": str,
    "epoch_seconds": lambda at: int(at.timestamp()),
    "integer": int,
    "iso_utc": iso_utc,
}
# The same forms as PostgreSQL expressions of a value `{}` (uuid, timestamptz or bigint).
EVENT_FIELD_FORMS_SQL: dict[str, str] = {
    "text": "({})::text",
    "epoch_seconds": "floor(extract(epoch FROM {}))::bigint",
    "integer": "({})::bigint",
    "iso_utc": """to_char(({}) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')""",
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
    """The per-event part of a receipt (the rest is its template): EVENT_FIELDS."""
    values = {
        "receipt_id": receipt_id or uuid.uuid4(),
        "at": at,
        "subject_pseudonym": subject_pseudonym,
        "grant_id": grant_id,
        "window_start": window_start,
        "window_end": window_end,
    }
    return {name: EVENT_FIELD_FORMS[form](values[value]) for name, (value, form) in EVENT_FIELDS.items()}


def event_fields_sql(values: Mapping[str, str]) -> str:
    """EVENT_FIELDS as one PostgreSQL jsonb_build_object(…) expression, given an SQL expression
    for each value (`receipt_id`, `at`, `subject_pseudonym`, `grant_id`, `window_start`,
    `window_end`). Same fields, same forms as `event_fields`."""
    pairs = (
        f"'{name}', {EVENT_FIELD_FORMS_SQL[form].format(values[value])}"
        for name, (value, form) in EVENT_FIELDS.items()
    )
    return f"jsonb_build_object({', '.join(pairs)})"


TemplateSpec = tuple[str, str, str, str | None, str]  # kind, category, purpose, method, language


def template_id(
    kind: str, category: str, purpose: str, method: str | None = None, language: str = "en"
) -> int:
    """The stored template row for this receipt template, created on first use."""
    return template_ids([(kind, category, purpose, method, language)])[0]


def template_ids(specs: list[TemplateSpec]) -> list[int]:
    """`template_id` for each (kind, category, purpose, method, language): one query for those stored."""
    from accounts.models import ReceiptTemplate

    bodies = [receipt_template(*spec) for spec in specs]
    digests = [hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest() for body in bodies]
    stored = dict(ReceiptTemplate.objects.filter(digest__in=digests).values_list("digest", "pk"))
    for digest, body in zip(digests, bodies, strict=True):
        if digest not in stored:
            template, _created = ReceiptTemplate.objects.get_or_create(digest=digest, defaults={"body": body})
            stored[digest] = template.pk
    return [stored[digest] for digest in digests]


class Subject(NamedTuple):
    """Whom a receipt is about: the seller's pseudonym and preferred language."""

    pseudonym: uuid.UUID
    preferred_language: str | None


def consent_event_templates(
    grants: Sequence[ConsentGrant],
    kind: str,
    *,
    languages: Mapping[int, str | None],
    method: str | None = None,
    template_cache: dict[TemplateSpec, int] | None = None,
) -> list[int]:
    """The receipt template id of each grant's event of `kind`: the stored template of (kind,
    category, purpose, method, the seller's receipt language). `languages` maps each grant's
    seller id to the seller's preferred language; `template_cache` keeps template ids across the
    batches of one sweep."""
    cache = template_cache if template_cache is not None else {}
    receipt_language_of: dict[str | None, str] = {}  # receipt_language once per distinct preference
    specs = []
    for grant in grants:
        preferred = languages[grant.seller_id]
        if preferred not in receipt_language_of:
            receipt_language_of[preferred] = receipt_language(preferred)
        specs.append((kind, grant.category, grant.purpose, method, receipt_language_of[preferred]))
    missing = [spec for spec in dict.fromkeys(specs) if spec not in cache]
    cache.update(zip(missing, template_ids(missing), strict=True))
    return [cache[spec] for spec in specs]


def consent_events(
    grants: Sequence[ConsentGrant],
    kind: str,
    *,
    subjects: Mapping[int, Subject],
    at: datetime | None = None,
    method: str | None = None,
    template_cache: dict[TemplateSpec, int] | None = None,
) -> list[ConsentEvent]:
    """The one builder of consent events with their receipts: an unsaved event of `kind` for each
    grant, at `at` (for expiry, each grant's own `expires_at`), whose receipt is the stored
    template of (kind, category, purpose, method, the seller's receipt language) followed by
    `event_fields`. `subjects` maps each grant's seller id to its Subject; `template_cache`
    keeps template ids across the batches of one sweep."""
    from accounts.models import ConsentEvent

    languages = {seller_id: subject.preferred_language for seller_id, subject in subjects.items()}
    template_of = consent_event_templates(
        grants, kind, languages=languages, method=method, template_cache=template_cache
    )
    # Positional construction in the model's own field order: a sweep builds thousands a batch,
    # and keyword construction costs several times more per event.
    attnames = [field.attname for field in ConsentEvent._meta.concrete_fields]
    events = []
    for grant, template in zip(grants, template_of, strict=True):
        occurred_at = at or grant.expires_at
        receipt_id = uuid.uuid4()
        fields = event_fields(
            subject_pseudonym=subjects[grant.seller_id].pseudonym,
            grant_id=grant.pk,
            at=occurred_at,
            window_start=grant.granted_at,
            window_end=grant.expires_at,
            receipt_id=receipt_id,
        )
        values = {
            "id": None,
            "grant_id": grant.pk,
            "seller_id": grant.seller_id,
            "kind": kind,
            "occurred_at": occurred_at,
            "receipt_id": receipt_id,
            "template_id": template,
            "receipt": fields,
        }
        events.append(ConsentEvent(*[values[name] for name in attnames]))
    return events


def receipt_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) every receipt we issue conforms to."""
    return json.loads(SCHEMA_PATH.read_text())

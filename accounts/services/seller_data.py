"""Seller data: the profile (coarse attributes, encrypted precise values), life events, data keys, age bands."""

from __future__ import annotations

import re
from datetime import date
from typing import Any, cast

from django.db import models, transaction
from django.utils import timezone

from accounts import crypto, lock_objects, taxonomy
from accounts.models import LifeEvent, SellerDataKey, SellerProfile, User
from accounts.selectors import _data_fernet, seller_precise_values
from core.errors import Forbidden, InvalidInput, NotFound

POSTCODE_RE = re.compile(r"\d{5}")
PHONE_RE = re.compile(r"\+\d{8,15}")


def _check_choice(field: str, value: str, choices: type[models.TextChoices]) -> str:
    if value and value not in choices.values:
        raise InvalidInput("value_unknown", f"{value!r} is not a valid {field}.", field=field)
    return value


def _normalise_phone(phone: str) -> str:
    compact = re.sub(r"[\s.\-()]", "", phone)
    if compact.startswith("0") and len(compact) == 10:  # French national format
        compact = "+33" + compact[1:]
    if not PHONE_RE.fullmatch(compact):
        raise InvalidInput(
            "phone_invalid", "Use an international number such as +33612345678.", field="phone"
        )
    return compact


_UNSET: Any = object()


def seller_profile_update(
    *,
    seller: User,
    gender: str = _UNSET,
    region: str = _UNSET,
    mobile_os: str = _UNSET,
    mobile_operator: str = _UNSET,
    interests: list[str] = _UNSET,
    affinities: list[str] = _UNSET,
    birth_date: date | None = _UNSET,
    postcode: str = _UNSET,
    phone: str = _UNSET,
    today: date | None = None,
) -> SellerProfile:
    """Update the fields given (the others stay). Validates everything before writing anything."""
    if seller.role != User.Role.SELLER or seller.erased_at:
        raise Forbidden("not_a_seller", "Only an active seller has a data profile.")
    changes: dict[str, Any] = {}
    precise: dict[str, str | None] = {}
    choice_fields: dict[str, tuple[Any, type[models.TextChoices]]] = {
        "gender": (gender, taxonomy.Gender),
        "region": (region, taxonomy.Region),
        "mobile_os": (mobile_os, taxonomy.MobileOS),
        "mobile_operator": (mobile_operator, taxonomy.MobileOperator),
    }
    for field, (value, choices) in choice_fields.items():
        if value is not _UNSET:
            changes[field] = _check_choice(field, value or "", choices)
    for field, codes, vocabulary in (
        ("interests", interests, taxonomy.INTEREST_CODES),
        ("affinities", affinities, taxonomy.AFFINITY_CODES),
    ):
        if codes is not _UNSET:
            try:
                changes[f"{field}_mask"] = taxonomy.mask_of(codes or [], vocabulary)
            except ValueError as exc:
                raise InvalidInput(
                    "value_unknown", f"{exc} is not a known {field[:-1]}.", field=field
                ) from None
    if birth_date is not _UNSET:
        if birth_date is None:
            changes["age_band"], precise["birth_date"] = "", None
        else:
            today = today or timezone.localdate()
            if birth_date > today or taxonomy.age_on(birth_date, today) > 120:
                raise InvalidInput("birth_date_invalid", "Enter a real birth date.", field="birth_date")
            try:
                changes["age_band"] = taxonomy.age_band_for(birth_date, today)
            except ValueError:
                raise InvalidInput("under_age", "Sellers must be 18 or older.", field="birth_date") from None
            precise["birth_date"] = birth_date.isoformat()
    if postcode is not _UNSET:
        postcode = (postcode or "").strip()
        if postcode and not POSTCODE_RE.fullmatch(postcode):
            raise InvalidInput("postcode_invalid", "A French postcode has five digits.", field="postcode")
        precise["postcode"] = postcode or None
    if phone is not _UNSET:
        precise["phone"] = _normalise_phone(phone) if phone else None

    with transaction.atomic():
        profile = lock_objects.seller_profile(seller)
        if precise:
            fernet = _data_fernet(seller)
            for field, plain in precise.items():
                changes[f"{field}_encrypted"] = crypto.encrypt(fernet, plain) if plain else None
            if "phone" in precise:
                old_phone = seller_precise_values(seller=seller).get("phone")
                if old_phone != precise["phone"]:
                    User.objects.filter(pk=seller.pk).update(phone_verified_at=None)
        for field, value in changes.items():
            setattr(profile, field, value)
        profile.save()
    return profile


def life_event_set(*, seller: User, kind: str, details: str = "") -> LifeEvent:
    if kind not in taxonomy.LifeEventKind.values:
        raise InvalidInput("value_unknown", f"{kind!r} is not a known life event.", field="kind")
    if len(details) > 1000:
        raise InvalidInput("details_too_long", "Keep details under 1,000 characters.", field="details")
    fernet = _data_fernet(seller)
    encrypted = crypto.encrypt(fernet, details) if details else None
    event, _created = LifeEvent.objects.update_or_create(
        seller=seller, kind=kind, defaults={"details_encrypted": encrypted}
    )
    return event


def life_event_remove(*, seller: User, kind: str) -> None:
    deleted, _ = LifeEvent.objects.filter(seller=seller, kind=kind).delete()
    if not deleted:
        raise NotFound("not_found", "No such life event.")


def encryption_keys_rotate(*, batch_size: int = 1000) -> int:
    """Re-wrap every seller data key under the primary master key. Idempotent; returns the count."""
    done = 0
    last_pk = 0
    while True:
        with transaction.atomic():
            keys = lock_objects.seller_data_keys_to_rewrap(after_pk=last_pk, limit=batch_size)
            if not keys:
                return done
            now = timezone.now()
            for key in keys:
                key.wrapped_key = crypto.rewrap(cast(str, key.wrapped_key))  # filtered: not null
                key.rotated_at = now
            SellerDataKey.objects.bulk_update(keys, ["wrapped_key", "rotated_at"])
            done += len(keys)
            last_pk = keys[-1].pk


def seller_age_bands_refresh(*, today: date | None = None, batch_size: int = 2000) -> int:
    """Re-derive every seller's age band from their encrypted birth date, as of `today` (local
    date); returns how many bands changed. Idempotent: beat runs it just after every midnight
    (config/settings/base.py), and a run that was missed is caught up by the next one.

    Why every birth date is decrypted instead of only those whose band is due to change: the
    day a band changes is a birthday (the 25th, 35th, …), so storing it in clear, to let SQL
    pick the due rows, would store the birth date itself; storing its year and month would
    still give away the month and year of birth, and SQL cannot decrypt. So the clear columns
    keep only the band, and the sweep costs one pass a day over the sellers not yet 65+ (two
    Fernet decryptions each, no lock held; see README, Privacy). Bands are still derived at
    every save of the birth date (`seller_profile_update`), so a band is at most one sweep old.

    A changed band is written only if the birth date is still the one decrypted (same
    ciphertext: Fernet tokens are unique), so a concurrent profile update is never undone.
    """
    today = today or timezone.localdate()
    changed = 0
    last_pk = 0
    while True:
        rows = list(
            SellerProfile.objects.filter(seller_id__gt=last_pk, birth_date_encrypted__isnull=False)
            .exclude(age_band=taxonomy.AgeBand.A65_PLUS)  # the last band never changes
            .order_by("seller_id")
            .values_list("seller_id", "age_band", "birth_date_encrypted", "seller__data_key__wrapped_key")[
                :batch_size
            ]
        )
        if not rows:
            return changed
        last_pk = rows[-1][0]
        for seller_id, band, token, wrapped_key in rows:
            try:
                birth_date = date.fromisoformat(
                    crypto.decrypt(crypto.data_fernet(wrapped_key), cast(str, token))
                )
                new_band = taxonomy.age_band_for(birth_date, today)
            except (crypto.DataKeyDestroyed, ValueError):
                continue  # erased, or not a date we stored: nothing to derive
            if new_band != band:
                changed += SellerProfile.objects.filter(
                    seller_id=seller_id, birth_date_encrypted=token, age_band=band
                ).update(age_band=new_band, updated_at=timezone.now())

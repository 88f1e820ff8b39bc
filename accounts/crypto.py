"""Envelope encryption for a seller's precise values.

Each seller has a random data key (Fernet). It is stored only wrapped by the master keys from
`settings.FIELD_ENCRYPTION_KEYS` (a MultiFernet: the first key wraps, every key unwraps), so
rotating the master key re-wraps small data keys instead of re-encrypting every value, and
erasure destroys one data key, after which every value encrypted with it is unreadable
(crypto-shredding) wherever a copy of it survives, backups included.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class DataKeyDestroyed(Exception):
    """The seller's data key was destroyed by erasure: their precise values are gone."""


@lru_cache(maxsize=8)
def _master(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def master() -> MultiFernet:
    return _master(tuple(settings.FIELD_ENCRYPTION_KEYS))


def new_wrapped_data_key() -> str:
    return master().encrypt(Fernet.generate_key()).decode()


def rewrap(wrapped_key: str) -> str:
    """The same data key wrapped by the current primary master key."""
    return master().rotate(wrapped_key.encode()).decode()


def data_fernet(wrapped_key: str | None) -> Fernet:
    if not wrapped_key:
        raise DataKeyDestroyed
    return Fernet(master().decrypt(wrapped_key.encode()))


def encrypt(fernet: Fernet, plaintext: str) -> str:
    return fernet.encrypt(plaintext.encode()).decode()


def decrypt(fernet: Fernet, token: str) -> str:
    try:
        return fernet.decrypt(token.encode()).decode()
    except InvalidToken as exc:  # a token from another seller's key, or tampered
        raise DataKeyDestroyed from exc

"""Signatures of outbound webhooks, as Stripe signs its own (standard library only, so a client
can copy this module as it is).

    Courtier-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}.{body}")>[,v1=…]

After a secret is rolled, both the new and the previous secret sign (two `v1=`) until the
previous one expires: a receiver accepts the request if any `v1` matches the secret it holds.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable

SIGNATURE_HEADER = "Courtier-Signature"
DEFAULT_TOLERANCE_SECONDS = 300


class SignatureVerificationError(Exception):
    """The header is missing or malformed, no signature matches, or the timestamp is too old."""


def compute_signature(payload: bytes, secret: str, timestamp: int) -> str:
    signed = f"{timestamp}.".encode() + payload
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(payload: bytes, secrets: Iterable[str], timestamp: int | None = None) -> str:
    """The header value for `payload`, one `v1=` per secret (the current one first)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    parts = [f"t={timestamp}"] + [f"v1={compute_signature(payload, s, timestamp)}" for s in secrets]
    return ",".join(parts)


def verify_signature(
    payload: bytes | str, header: str | None, secret: str, tolerance: int = DEFAULT_TOLERANCE_SECONDS
) -> int:
    """Check a received webhook: `payload` is the raw request body, exactly as received.
    Returns the signed timestamp; raises SignatureVerificationError otherwise."""
    if isinstance(payload, str):
        payload = payload.encode()
    if not header:
        raise SignatureVerificationError("no signature header")
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        raise SignatureVerificationError("malformed signature header")
    expected = compute_signature(payload, secret, timestamp)
    if not any(hmac.compare_digest(expected, signature) for signature in signatures):
        raise SignatureVerificationError("no signature matches the secret")
    if tolerance and abs(time.time() - timestamp) > tolerance:
        raise SignatureVerificationError("timestamp outside the tolerance")
    return timestamp

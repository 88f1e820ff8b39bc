"""The one money module: integer minor units, ISO currencies, fees in basis points.

No floats anywhere near money. Every split of a price rounds exactly once, here.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import InvalidInput

CURRENCIES: frozenset[str] = frozenset({"EUR"})
BPS = 10_000
MAX_AMOUNT = 100_000_000_00  # one million euros in cents: above that, a human looks first


@dataclass(frozen=True)
class Split:
    price: int
    fee: int
    seller_share: int


def check_amount(amount: int, currency: str, *, field: str = "amount") -> None:
    if currency not in CURRENCIES:
        raise InvalidInput(
            "currency_unsupported", f"{currency!r} is not a supported currency.", field="currency"
        )
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise InvalidInput("amount_invalid", "Amounts are whole minor units (cents).", field=field)
    if not 0 < amount <= MAX_AMOUNT:
        raise InvalidInput(
            "amount_out_of_range", "Amounts must be positive and at most 1,000,000.", field=field
        )


def fee_split(price: int, fee_bps: int) -> Split:
    """Platform fee = price × bps / 10,000 rounded half up; the seller gets the rest, exactly."""
    if not isinstance(price, int) or price < 0:
        raise ValueError("price must be a non-negative integer of minor units")
    if not 0 <= fee_bps <= BPS:
        raise ValueError("fee_bps must be between 0 and 10,000")
    fee = (price * fee_bps + BPS // 2) // BPS
    return Split(price=price, fee=fee, seller_share=price - fee)


def allocate(total: int, weights: list[int]) -> list[int]:
    """Split `total` pro rata of `weights` exactly (largest remainder, ties to the first)."""
    weight_sum = sum(weights)
    if weight_sum <= 0:
        raise ValueError("weights must have a positive sum")
    shares = [total * w // weight_sum for w in weights]
    remainders = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % weight_sum), i))
    for i in remainders[: total - sum(shares)]:
        shares[i] += 1
    return shares

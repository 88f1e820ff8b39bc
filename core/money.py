"""Amounts in integer minor units as people read them. Arithmetic and rounding stay in
payments/money.py; this module only displays.

- `format_money`: every seller page (prices, earnings, My data) and the admin
  (core.admin.money_column), through the active locale with the currency's symbol: "€2.94" in
  English, "2,94 €" in French.
- `format_amount`: the same in every language, with the ISO code: "1,234.50 EUR".
"""

from __future__ import annotations

from decimal import Decimal

from django.utils import formats, translation


def format_money(cents: int, currency: str, *, cents_shown: bool = True) -> str:
    """An amount in minor units through the active locale: `2,94 €` in French, `€2.94` in English;
    `cents_shown=False` rounds to whole units: `1 500 €`, `€1,500`."""
    number = formats.number_format(
        Decimal(cents).scaleb(-2), decimal_pos=2 if cents_shown else 0, use_l10n=True, force_grouping=True
    )
    symbol = {"EUR": "€"}.get(currency, currency)
    sign, number = ("-", number[1:]) if number.startswith("-") else ("", number)
    if (translation.get_language() or "en").startswith("fr"):
        return f"{sign}{number}\N{NO-BREAK SPACE}{symbol}"
    return f"{sign}{symbol}{number}"


def format_amount(amount: int, currency: str) -> str:
    """Minor units with a thousands comma and the ISO code, whatever the language: "-1,234.50 EUR"."""
    sign = "-" if amount < 0 else ""
    units, cents = divmod(abs(amount), 100)
    return f"{sign}{units:,}.{cents:02d} {currency}"

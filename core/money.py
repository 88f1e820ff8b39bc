"""Amounts in integer minor units as people read them. Arithmetic and rounding stay in
payments/money.py; this module only displays.

- `format_money`: seller pages and the export, through the active locale with the currency's
  symbol: "€2.94" in English, "2,94 €" in French.
- `format_euros`: listing prices, through the active locale and a translated pattern.
- `format_amount`: moderators (the admin), the same in every language: "1,234.50 EUR".
"""

from __future__ import annotations

from decimal import Decimal

from django.utils import formats, translation
from django.utils.translation import gettext as _


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


def format_euros(cents: int) -> str:
    """Integer cents as euros for reading, in the current language: "€1,234.50", "1 234,50 €"."""
    amount = formats.number_format(Decimal(cents) / 100, decimal_pos=2, use_l10n=True, force_grouping=True)
    return _("€%(amount)s") % {"amount": amount}


def format_amount(amount: int, currency: str) -> str:
    """Minor units with a thousands comma and the ISO code, whatever the language: "-1,234.50 EUR"."""
    sign = "-" if amount < 0 else ""
    units, cents = divmod(abs(amount), 100)
    return f"{sign}{units:,}.{cents:02d} {currency}"

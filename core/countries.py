"""Country names for the ISO 3166-1 alpha-2 codes buyers register with, in the reader's language.
The codes stay what is stored and exported; an unlisted code reads as itself."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

# The EU and EEA, and the countries advertisers most often register from.
COUNTRY_NAMES = {
    "AT": _("Austria"),
    "BE": _("Belgium"),
    "BG": _("Bulgaria"),
    "CA": _("Canada"),
    "CH": _("Switzerland"),
    "CY": _("Cyprus"),
    "CZ": _("Czechia"),
    "DE": _("Germany"),
    "DK": _("Denmark"),
    "EE": _("Estonia"),
    "ES": _("Spain"),
    "FI": _("Finland"),
    "FR": _("France"),
    "GB": _("United Kingdom"),
    "GR": _("Greece"),
    "HR": _("Croatia"),
    "HU": _("Hungary"),
    "IE": _("Ireland"),
    "IS": _("Iceland"),
    "IT": _("Italy"),
    "LI": _("Liechtenstein"),
    "LT": _("Lithuania"),
    "LU": _("Luxembourg"),
    "LV": _("Latvia"),
    "MC": _("Monaco"),
    "MT": _("Malta"),
    "NL": _("Netherlands"),
    "NO": _("Norway"),
    "PL": _("Poland"),
    "PT": _("Portugal"),
    "RO": _("Romania"),
    "SE": _("Sweden"),
    "SI": _("Slovenia"),
    "SK": _("Slovakia"),
    "US": _("United States"),
}


def country_name(code: str) -> str:
    """ "France" / "France", "DE" → "Germany" / "Allemagne"; an unknown code as it is."""
    return str(COUNTRY_NAMES.get((code or "").upper(), code))

"""The one taxonomy of personal data and processing purposes.

Everything that stores, prices, sells or delivers data names categories, purposes and attribute
values from here. Multi-valued attributes (interests, affinities) are stored as bit masks in one
BigIntegerField: a bit's position is its index in the tuple below, so **only append** to those
tuples, never reorder or remove.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from django.db import models
from django.utils.translation import gettext_lazy as _


class DataCategory(models.TextChoices):
    DEMOGRAPHICS = "demographics", _("Demographics (age band, gender, birth date)")
    LOCATION = "location", _("Location (region, postcode)")
    DEVICE = "device", _("Device (mobile OS)")
    TELECOM = "telecom", _("Telecom (mobile operator, phone number)")
    INTERESTS = "interests", _("Interests")
    CONTENT_AFFINITY = "content_affinity", _("Content affinities")
    LIFE_EVENTS = "life_events", _("Life events (sensitive)")


SENSITIVE_CATEGORIES: frozenset[str] = frozenset({DataCategory.LIFE_EVENTS})

# Which stored fields belong to which category: what a buyer of a category receives.
CATEGORY_FIELDS: dict[str, tuple[str, ...]] = {
    DataCategory.DEMOGRAPHICS: ("age_band", "gender", "birth_date"),
    DataCategory.LOCATION: ("region", "postcode"),
    DataCategory.DEVICE: ("mobile_os",),
    DataCategory.TELECOM: ("mobile_operator", "phone"),
    DataCategory.INTERESTS: ("interests",),
    DataCategory.CONTENT_AFFINITY: ("affinities",),
    DataCategory.LIFE_EVENTS: ("life_events",),
}


class Purpose(models.TextChoices):
    TARGETED_ADVERTISING = "targeted_advertising", _("Targeted advertising")
    AD_MEASUREMENT = "ad_measurement", _("Advertising measurement")
    AUDIENCE_MEASUREMENT = "audience_measurement", _("Audience measurement")
    MARKET_RESEARCH = "market_research", _("Market research")
    PRODUCT_DEVELOPMENT = "product_development", _("Product development")
    PERSONALISED_CONTENT = "personalised_content", _("Personalised content")


# IAB TCF v2.2 purpose ids, where one fits (market research has no TCF purpose).
TCF_PURPOSE_IDS: dict[str, int | None] = {
    Purpose.TARGETED_ADVERTISING: 4,  # Use profiles to select personalised advertising
    Purpose.AD_MEASUREMENT: 7,  # Measure advertising performance
    Purpose.AUDIENCE_MEASUREMENT: 9,  # Understand audiences through statistics or combinations
    Purpose.MARKET_RESEARCH: None,
    Purpose.PRODUCT_DEVELOPMENT: 10,  # Develop and improve services
    Purpose.PERSONALISED_CONTENT: 6,  # Use profiles to select personalised content
}

CONSENT_WINDOW_DAYS: tuple[int, ...] = (30, 90, 180, 365)


class AgeBand(models.TextChoices):
    A18_24 = "18-24", "18–24"
    A25_34 = "25-34", "25–34"
    A35_44 = "35-44", "35–44"
    A45_54 = "45-54", "45–54"
    A55_64 = "55-64", "55–64"
    A65_PLUS = "65+", "65+"


MINIMUM_SELLER_AGE = 18


def age_on(birth_date: date, today: date) -> int:
    return today.year - birth_date.year - ((today.month, today.day) < (birth_date.month, birth_date.day))


def age_band_for(birth_date: date, today: date) -> str:
    age = age_on(birth_date, today)
    if age < MINIMUM_SELLER_AGE:
        raise ValueError("under age")
    for band, upper in (("18-24", 24), ("25-34", 34), ("35-44", 44), ("45-54", 54), ("55-64", 64)):
        if age <= upper:
            return band
    return AgeBand.A65_PLUS


class Gender(models.TextChoices):
    FEMALE = "female", _("Female")
    MALE = "male", _("Male")
    NON_BINARY = "non_binary", _("Non-binary")
    UNDISCLOSED = "undisclosed", _("Prefer not to say")


class Region(models.TextChoices):
    """ISO 3166-2:FR regions."""

    ARA = "FR-ARA", "Auvergne-Rhône-Alpes"
    BFC = "FR-BFC", "Bourgogne-Franche-Comté"
    BRE = "FR-BRE", "Bretagne"
    CVL = "FR-CVL", "Centre-Val de Loire"
    COR = "FR-20R", "Corse"
    GES = "FR-GES", "Grand Est"
    HDF = "FR-HDF", "Hauts-de-France"
    IDF = "FR-IDF", "Île-de-France"
    NOR = "FR-NOR", "Normandie"
    NAQ = "FR-NAQ", "Nouvelle-Aquitaine"
    OCC = "FR-OCC", "Occitanie"
    PDL = "FR-PDL", "Pays de la Loire"
    PAC = "FR-PAC", "Provence-Alpes-Côte d'Azur"
    GP = "FR-971", "Guadeloupe"
    MQ = "FR-972", "Martinique"
    GF = "FR-973", "Guyane"
    RE = "FR-974", "La Réunion"
    YT = "FR-976", "Mayotte"


class MobileOS(models.TextChoices):
    ANDROID = "android", "Android"
    IOS = "ios", "iOS"
    OTHER = "other", _("Other")


class MobileOperator(models.TextChoices):
    ORANGE = "orange", "Orange"
    SFR = "sfr", "SFR"
    BOUYGUES = "bouygues", "Bouygues Telecom"
    FREE = "free", "Free Mobile"
    MVNO = "mvno", _("Other (MVNO)")


INTERESTS: tuple[tuple[str, str], ...] = (
    ("sports", _("Sports")),
    ("fitness", _("Fitness")),
    ("travel", _("Travel")),
    ("cooking", _("Cooking")),
    ("fashion", _("Fashion")),
    ("beauty", _("Beauty")),
    ("technology", _("Technology")),
    ("gaming", _("Video games")),
    ("music", _("Music")),
    ("cinema", _("Cinema")),
    ("books", _("Books")),
    ("finance", _("Personal finance")),
    ("real_estate", _("Real estate")),
    ("automotive", _("Cars")),
    ("parenting", _("Parenting")),
    ("pets", _("Pets")),
    ("home_garden", _("Home and garden")),
    ("diy", _("DIY")),
    ("health", _("Health")),
    ("education", _("Education")),
    ("outdoors", _("Outdoors")),
    ("art", _("Art")),
    ("photography", _("Photography")),
    ("news_politics", _("News and politics")),
)

AFFINITIES: tuple[tuple[str, str], ...] = (
    ("news", _("News")),
    ("sport_broadcasts", _("Sport broadcasts")),
    ("comedy", _("Comedy")),
    ("documentaries", _("Documentaries")),
    ("drama_series", _("Drama series")),
    ("reality_tv", _("Reality TV")),
    ("podcasts", _("Podcasts")),
    ("kids", _("Kids' content")),
    ("anime", _("Anime")),
    ("true_crime", _("True crime")),
    ("tech_reviews", _("Tech reviews")),
    ("cooking_shows", _("Cooking shows")),
    ("music_videos", _("Music videos")),
    ("esports", _("Esports")),
)

INTEREST_CODES: tuple[str, ...] = tuple(code for code, _label in INTERESTS)
AFFINITY_CODES: tuple[str, ...] = tuple(code for code, _label in AFFINITIES)


class LifeEventKind(models.TextChoices):
    NEW_LOAN = "new_loan", _("New loan")
    EXPECTING_CHILD = "expecting_child", _("Expecting a child")
    MOVING_HOUSE = "moving_house", _("Moving house")
    NEW_JOB = "new_job", _("New job")
    MARRIAGE = "marriage", _("Marriage or civil union")
    RETIREMENT = "retirement", _("Retirement")
    NEW_CAR = "new_car", _("Buying a car")
    GRADUATION = "graduation", _("Graduation")


def mask_of(codes: Iterable[str], vocabulary: tuple[str, ...]) -> int:
    """Bit mask of `codes`; raises ValueError naming the first unknown code."""
    mask = 0
    for code in codes:
        try:
            mask |= 1 << vocabulary.index(code)
        except ValueError:
            raise ValueError(code) from None
    return mask


def codes_of(mask: int, vocabulary: tuple[str, ...]) -> list[str]:
    return [code for bit, code in enumerate(vocabulary) if mask & (1 << bit)]


# Bit vocabularies for masks over categories and over (category, purpose) pairs: append only.
CATEGORY_CODES: tuple[str, ...] = tuple(DataCategory.values)
PURPOSE_CODES: tuple[str, ...] = tuple(Purpose.values)
LICENCE_DAYS: tuple[int, ...] = (30, 90, 365)
_PAIR_STRIDE = 8  # room for purposes appended later without moving any existing bit


def pair_bit(category: str, purpose: str) -> int:
    return 1 << (CATEGORY_CODES.index(category) * _PAIR_STRIDE + PURPOSE_CODES.index(purpose))


def pairs_mask(categories: Iterable[str], purposes: Iterable[str]) -> int:
    purposes = list(purposes)
    mask = 0
    for category in categories:
        for purpose in purposes:
            mask |= pair_bit(category, purpose)
    return mask

"""The demo's fixed data: logins, the organisations, names, and the shares that make the crowd
look like France (regions by population, OS and operator market shares, age pyramid)."""

from __future__ import annotations

from accounts import taxonomy
from accounts.taxonomy import DataCategory, LifeEventKind, Purpose

MODERATOR_EMAIL = "moderator@courtier.localhost"
MODERATOR_PASSWORD = "moderator-demo"
# The admin asks staff a second factor: add this secret to an authenticator app (time-based,
# 6 digits, 30 s) or sign in with one of the recovery codes (each works once; seed_demo gives
# back the used ones on its next run).
STAFF_TOTP_SECRET = "COURTIERDEMOMODERATORSECRETKEY22"
MODERATOR_RECOVERY_CODES = ["demo-moderator-1", "demo-moderator-2", "demo-moderator-3"]
# a data protection officer: a moderator who may also open a seller's precise values
DPO_EMAIL = "dpo@courtier.localhost"
DPO_PASSWORD = "dpo-demo"
DPO_RECOVERY_CODES = ["demo-dpo-1", "demo-dpo-2", "demo-dpo-3"]
SELLER_EMAIL = "seller@courtier.localhost"
SELLER_PASSWORD = "seller-demo"
BUYER_EMAIL = "buyer@courtier.localhost"
BUYER_PASSWORD = "buyer-demo"  # the advertiser console, /console/
ORGANISATION = {
    "legal_name": "Annonceur Démo SAS",
    "registration_number": "912345678",
    "country": "FR",
    "website": "https://annonceur-demo.example",
    "contact_name": "Claire Martin",
    "contact_email": BUYER_EMAIL,
    "contact_phone": "+33612345678",
}
API_KEY_NAME = "demo"
PENDING_BUYER_EMAIL = "buyer-pending@courtier.localhost"
PENDING_ORGANISATION = {
    "legal_name": "Régie Nouvelle SARL",
    "registration_number": "923456789",
    "country": "FR",
    "website": "https://regie-nouvelle.example",
    "contact_name": "Hugo Petit",
    "contact_email": PENDING_BUYER_EMAIL,
    "contact_phone": "+33698765432",
}

LOGINS = {
    "moderator": {
        "email": MODERATOR_EMAIL,
        "password": MODERATOR_PASSWORD,
        "where": "/admin/",
        "totp_secret": STAFF_TOTP_SECRET,
        "recovery_codes": MODERATOR_RECOVERY_CODES,
    },
    "dpo": {
        "email": DPO_EMAIL,
        "password": DPO_PASSWORD,
        "where": "/admin/ (a seller's page: Precise values)",
        "totp_secret": STAFF_TOTP_SECRET,
        "recovery_codes": DPO_RECOVERY_CODES,
    },
    "seller": {"email": SELLER_EMAIL, "password": SELLER_PASSWORD, "where": "/"},
    "buyer": {
        "email": BUYER_EMAIL,
        "password": BUYER_PASSWORD,
        "where": "/console/ and /api/docs/ (API key)",
    },
    "buyer-pending": {
        "email": PENDING_BUYER_EMAIL,
        "password": None,
        "where": "/api/docs/ (API key, organisation awaiting verification)",
    },
}

FIRST_NAMES = (
    "Camille Léa Manon Chloé Inès Jade Louise Emma Sarah Zoé Nathalie Isabelle Sophie Aïcha Mélanie "
    "Hélène Margaux Juliette Yasmine Anaïs Lucas Hugo Louis Gabriel Arthur Nathan Thomas Théo Mathis "
    "Karim Julien Nicolas Antoine Mehdi Pierre Olivier Éric Quentin Romain Bastien"
).split()
LAST_NAMES = (
    "Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy Moreau Simon Laurent Lefèvre "
    "Michel Garcia David Bertrand Roux Vincent Fournier Morel Girard André Mercier Dupont Lambert "
    "Bonnet François Martinez Legrand Garnier Faure Rousseau Blanc Guérin Muller Henry Roussel "
    "Nicolas Perrin Benali Nguyen"
).split()

# Region -> (weight ~ population in millions, postcode prefixes of its departments).
REGIONS: dict[str, tuple[float, tuple[str, ...]]] = {
    taxonomy.Region.IDF: (12.3, ("75", "77", "78", "91", "92", "93", "94", "95")),
    taxonomy.Region.ARA: (8.1, ("69", "38", "42", "63", "73", "74", "01", "26")),
    taxonomy.Region.HDF: (6.0, ("59", "62", "80", "60", "02")),
    taxonomy.Region.NAQ: (6.0, ("33", "87", "64", "17", "86", "24")),
    taxonomy.Region.OCC: (6.0, ("31", "34", "30", "66", "11", "81")),
    taxonomy.Region.GES: (5.5, ("67", "68", "57", "54", "51", "10")),
    taxonomy.Region.PAC: (5.1, ("13", "06", "83", "84", "04")),
    taxonomy.Region.PDL: (3.9, ("44", "49", "72", "85", "53")),
    taxonomy.Region.BRE: (3.4, ("35", "29", "56", "22")),
    taxonomy.Region.NOR: (3.3, ("76", "14", "50", "27", "61")),
    taxonomy.Region.BFC: (2.8, ("21", "25", "71", "89", "39", "90")),
    taxonomy.Region.CVL: (2.6, ("37", "45", "18", "28", "36", "41")),
    taxonomy.Region.COR: (0.35, ("20",)),
    taxonomy.Region.GP: (0.38, ("971",)),
    taxonomy.Region.MQ: (0.36, ("972",)),
    taxonomy.Region.GF: (0.29, ("973",)),
    taxonomy.Region.RE: (0.87, ("974",)),
    taxonomy.Region.YT: (0.3, ("976",)),
}
OPERATORS = {"orange": 40, "sfr": 22, "bouygues": 18, "free": 15, "mvno": 5}
OS_WEIGHTS = {"android": 68, "ios": 30, "other": 2}
GENDER_WEIGHTS = {"female": 48, "male": 47, "non_binary": 2, "undisclosed": 3}
# Purposes a seller is most likely to accept first.
PURPOSE_WEIGHTS = {
    Purpose.TARGETED_ADVERTISING: 40,
    Purpose.MARKET_RESEARCH: 20,
    Purpose.AUDIENCE_MEASUREMENT: 15,
    Purpose.AD_MEASUREMENT: 10,
    Purpose.PERSONALISED_CONTENT: 10,
    Purpose.PRODUCT_DEVELOPMENT: 5,
}
LIFE_EVENT_DETAILS = {
    LifeEventKind.NEW_LOAN: "Prêt immobilier de 220 000 € sur 25 ans, signé ce trimestre.",
    LifeEventKind.EXPECTING_CHILD: "Naissance prévue au printemps.",
    LifeEventKind.MOVING_HOUSE: "Déménagement vers Nantes dans deux mois.",
    LifeEventKind.NEW_JOB: "Nouveau poste de cheffe de projet, prise de fonction en septembre.",
    LifeEventKind.MARRIAGE: "Mariage prévu en juin.",
    LifeEventKind.RETIREMENT: "Départ à la retraite à la fin de l'année.",
    LifeEventKind.NEW_CAR: "Recherche d'une voiture électrique d'occasion.",
    LifeEventKind.GRADUATION: "Master obtenu cette année.",
}
AGE_RANGES = [(18, 24), (25, 34), (35, 44), (45, 54), (55, 64), (65, 79)]
AGE_WEIGHTS = [14, 22, 21, 18, 14, 11]
NON_SENSITIVE = [c for c in DataCategory.values if c not in taxonomy.SENSITIVE_CATEGORIES]


CROWD_DOMAIN = "demo.courtier.localhost"
SANDBOX_KEY = "sk_test_courtier_local"
# Listings of the demo seller: (categories, purposes, licence days, mode, floor cents).
DEMO_LISTINGS = [
    (["demographics", "location", "interests"], ["targeted_advertising"], 365, "fixed", 1150),
    (["device", "telecom"], ["market_research"], 365, "fixed", 900),
    (["content_affinity"], ["targeted_advertising"], 90, "fixed", 140),
    (["interests", "content_affinity"], ["targeted_advertising", "market_research"], 90, "auction", 260),
]
CLOSING_SOON_MINUTES = (3, 5, 8, 12, 20)
AUDIENCE_CRITERIA = {"categories": ["demographics", "location"], "purpose": "targeted_advertising"}

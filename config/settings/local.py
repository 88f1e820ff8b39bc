"""`make run`: SQLite and a Celery broker on the filesystem unless DATABASE_URL / CELERY_BROKER_URL say otherwise."""

from pathlib import Path

from .base import *
from .base import BASE_DIR, env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
RUN_DIR = Path(env("COURTIER_RUN_DIR", default=str(BASE_DIR / ".run")))

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = RUN_DIR / "broker"
    for _folder in ("processed", "control"):
        (_queue_dir / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(_queue_dir / "processed"),
        "store_processed": False,
        "control_folder": str(_queue_dir / "control"),
    }
CELERY_BEAT_SCHEDULE_FILENAME = str(RUN_DIR / "celerybeat-schedule")

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # web, worker and beat share one file: WAL lets readers and one writer work at once
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
SILENCED_SYSTEM_CHECKS = ["models.W040"]  # SQLite ignores the covering index's INCLUDE columns

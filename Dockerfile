# Courtier production image: web (gunicorn), Celery worker and beat all run from it.
#   docker build -t courtier .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin courtier \
    && install -d -o courtier -g courtier -m 0700 /var/lib/courtier/beat

# The production lock: every package pinned with its hashes (`make lock`).
COPY requirements.lock .
RUN pip install --require-hashes -r requirements.lock

COPY . .

# Static files are collected into the image (served by WhiteNoise). The settings need every
# secret to import, so give them throwaway values that exist only during this build step.
RUN DJANGO_SETTINGS_MODULE=config.settings.production \
    DJANGO_SECRET_KEY=collectstatic-only-not-a-secret PSEUDONYM_SECRET=collectstatic-only-either \
    STRIPE_API_KEY=sk_test_collectstatic_only STRIPE_WEBHOOK_SECRET=whsec_collectstatic_only \
    DJANGO_ALLOWED_HOSTS=localhost SITE_URL=https://localhost \
    DATABASE_URL=sqlite:////tmp/collectstatic.sqlite3 \
    CELERY_BROKER_URL=memory:// \
    FIELD_ENCRYPTION_KEYS=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= \
    python manage.py collectstatic --noinput \
    && rm -f /tmp/collectstatic.sqlite3

# Runs as courtier, on a read-only root filesystem in docker-compose.yml: the application files
# stay root's (not writable by the process); beat writes its schedule in /var/lib/courtier/beat
# (a volume in docker-compose.yml), gunicorn its heartbeats in /dev/shm.
USER courtier
ENV DJANGO_SETTINGS_MODULE=config.settings.production \
    CELERY_BEAT_SCHEDULE_FILENAME=/var/lib/courtier/beat/celerybeat-schedule \
    PORT=8000
EXPOSE 8000
CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000", "--workers", "2", "--access-logfile", "-", \
     "--worker-tmp-dir", "/dev/shm", "--no-control-socket"]

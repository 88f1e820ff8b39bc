"""Container health checks for docker-compose.yml. Standard library only, no Django start-up.

    python scripts/healthcheck.py web    # GET /healthz as the proxy would send it (HTTPS, allowed host)
    python scripts/healthcheck.py beat   # the beat schedule file was written recently

The worker is checked with `celery inspect ping` instead (it needs the broker).
"""

from __future__ import annotations

import glob
import os
import sys
import time
import urllib.error
import urllib.request


def web() -> int:
    port = os.environ.get("PORT", "8000")
    hosts = [h.strip() for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(",") if h.strip()]
    host = next((h.lstrip(".") for h in hosts if h != "*"), "localhost")
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/healthz",
        # Production redirects plain HTTP to HTTPS and checks the Host header: look like the proxy.
        headers={"Host": host, "X-Forwarded-Proto": "https"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"web unhealthy: {exc}", file=sys.stderr)
        return 1


def beat() -> int:
    """Beat re-writes its schedule at least every few minutes (every task it sends updates it)."""
    schedule = os.environ.get("CELERY_BEAT_SCHEDULE_FILENAME", "/var/lib/courtier/beat/celerybeat-schedule")
    max_age = float(os.environ.get("BEAT_HEALTH_MAX_AGE", "600"))
    files = glob.glob(schedule + "*")
    if not files:
        print(f"beat unhealthy: no {schedule}*", file=sys.stderr)
        return 1
    age = time.time() - max(os.path.getmtime(f) for f in files)
    if age > max_age:
        print(f"beat unhealthy: schedule not written for {age:.0f}s", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    checks = {"web": web, "beat": beat}
    if len(sys.argv) != 2 or sys.argv[1] not in checks:
        sys.exit(f"usage: {sys.argv[0]} {{{'|'.join(checks)}}}")
    sys.exit(checks[sys.argv[1]]())

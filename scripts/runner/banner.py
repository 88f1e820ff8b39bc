"""What `make run` prints once the web server answers: the URLs and the demo logins."""

from __future__ import annotations

import json
import os
from pathlib import Path

from runner.processes import QUEUES


def uses_sqlite() -> bool:
    url = os.environ.get("DATABASE_URL", "")
    return not url or url.startswith("sqlite")


def read_demo(run_dir: Path) -> tuple[dict, str]:
    logins: dict = {}
    try:
        logins = json.loads((run_dir / "demo-logins.json").read_text())
    except (OSError, ValueError):
        pass
    try:
        api_key = (run_dir / "demo-api-key.txt").read_text().strip()
    except OSError:
        api_key = ""
    return logins, api_key


def banner(base: str, stripe_base: str, run_dir: Path, pool: str) -> str:
    logins, api_key = read_demo(run_dir)
    lines = [
        "",
        "=" * 78,
        "Courtier is running",
        f"  Seller UI   {base}/",
        f"  API docs    {base}/api/docs/",
        f"  Admin       {base}/admin/",
        f"  Stripe      {stripe_base}  (localstripe sandbox, loopback; Connect sandbox on the next port)",
        f"  Worker      celery -Q {QUEUES} (pool {pool}); beat every 60 s",
        f"  State       {run_dir}  (logs in {run_dir / 'log'})",
    ]
    if logins:
        lines.append("Demo logins")
        for role, entry in logins.items():
            password = entry.get("password") or "(no password: use the API key)"
            lines.append(f"  {role:<13}  {entry['email']:<34} {password}")
            if entry.get("totp_secret"):  # the admin's second factor
                lines.append(f"  {'':<13}  code: authenticator secret {entry['totp_secret']}")
                lines.append(f"  {'':<13}  or a recovery code: {', '.join(entry.get('recovery_codes', []))}")
    else:
        lines.append("Demo logins: run `manage.py seed_demo` (make run does it) to create them.")
    if api_key:
        lines.append(f"  buyer API   Authorization: Api-Key {api_key}")
    try:
        pending_key = (run_dir / "demo-api-key-pending.txt").read_text().strip()
    except OSError:
        pending_key = ""
    if pending_key:
        lines.append(
            f"  (pending)   Authorization: Api-Key {pending_key}  (organisation awaiting verification)"
        )
    lines += ["Stop with Ctrl-C.", "=" * 78, ""]
    return "\n".join(lines)

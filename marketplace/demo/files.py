"""Where the demo writes what scripts/run.py prints: logins and API keys, in the run dir."""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings

from marketplace.demo.data import LOGINS


def run_dir() -> Path:
    return Path(getattr(settings, "RUN_DIR", Path(settings.BASE_DIR) / ".run"))


def write_logins(out, err, *, api_key: str, pending_key: str, write_files: bool) -> None:
    """Print the demo logins and API keys to `out`; save the logins as <run dir>/demo-logins.json."""
    out.write("Demo logins:")
    for role, entry in LOGINS.items():
        password = entry["password"] or "(no password)"
        out.write(f"  {role:<13} {entry['email']:<34} {password:<16} {entry['where']}")
        if entry.get("totp_secret"):
            out.write(f"  {'':<13} second factor: authenticator secret {entry['totp_secret']}")
            out.write(f"  {'':<13} or a recovery code (once each): {', '.join(entry['recovery_codes'])}")
    out.write(f"  buyer API key          Api-Key {api_key}")
    out.write(f"  pending buyer API key  Api-Key {pending_key}")
    if write_files:
        try:
            path = run_dir() / "demo-logins.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(LOGINS, indent=2) + "\n")
        except OSError as exc:
            err.write(f"could not write the demo logins: {exc}")

"""`make audit`: known vulnerabilities in the locked dependencies (requirements.lock, the image's,
and requirements-dev.lock, the developers' and CI's), with pip-audit.

pip-audit reads the locks as they are (every version pinned with its hashes: no resolution, no
install) and asks PyPI's JSON API (https://pypi.org/pypi/NAME/VERSION/json, the `pypi` service)
for each pinned version's known vulnerabilities. Exit status: 0 when every package was audited and
none has a known vulnerability; 1 when one has (pip-audit lists them, with the fixed versions: raise
the pin in requirements*.txt, `make lock`, `make venv`, run the tests); 2 when the vulnerability
service does not answer, so that nothing is audited: that fails too, never passes unaudited.

    python scripts/audit.py [pip-audit options...]   # e.g. --format json, --ignore-vuln ID
"""

from __future__ import annotations

import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCKS = ("requirements.lock", "requirements-dev.lock")
SERVICE = "https://pypi.org/pypi/{name}/{version}/json"
PROBE_PACKAGE = "django"


def pinned_version(lock: Path, name: str) -> str:
    match = re.search(rf"^{re.escape(name)}==(\S+)", lock.read_text(), re.M | re.I)
    if not match:
        sys.exit(f"audit: {name} is not pinned in {lock.name}")
    return match.group(1)


def service_answers() -> str | None:
    """None if PyPI's JSON API answers for one pinned version, else why not."""
    url = SERVICE.format(name=PROBE_PACKAGE, version=pinned_version(ROOT / LOCKS[0], PROBE_PACKAGE))
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return None if response.status == 200 else f"GET {url}: HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return f"GET {url}: HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        return f"GET {url}: {exc}"


def main(extra: list[str]) -> int:
    if problem := service_answers():
        print(
            "audit FAILED: the vulnerability service (PyPI's JSON API) did not answer, so no "
            f"dependency was audited.\n  {problem}",
            file=sys.stderr,
        )
        return 2
    pip_audit = Path(sys.executable).parent / "pip-audit"
    command = [
        str(pip_audit),
        "--vulnerability-service=pypi",
        "--disable-pip",  # the locks are hashed and complete: read them, resolve and install nothing
        "--strict",  # a package the service cannot answer for fails the audit instead of being skipped
        "--progress-spinner=off",
        *(arg for lock in LOCKS for arg in ("--requirement", str(ROOT / lock))),
        *extra,
    ]
    print("$", " ".join(command), flush=True)
    return subprocess.run(command, cwd=ROOT, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""Create .venv if it is missing or broken, and install the locked requirements when they changed.

Run by the Makefile with the system interpreter (python3.11). Standard library only.

The file installed is a lock (requirements-dev.lock by default): every package of the transitive
closure pinned with its hashes, installed with `pip install --require-hashes`, so that a download
that differs from the one locked fails the install. `make lock` regenerates the locks from the
human-edited requirements.txt / requirements-dev.txt.

"Changed" means: the SHA-256 of the requirement files (and every file they include with -r/-c)
differs from the one recorded in .venv/.requirements.sha256 after the last successful install.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GET_PIP_URL = "https://bootstrap.pypa.io/get-pip.py"
APT_HINT = (
    "On Debian/Ubuntu install the venv module first:  apt-get install -y python3-venv  (or python3.11-venv)"
)


def log(message: str) -> None:
    print(f"[venv] {message}", flush=True)


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def has_pip(python: Path) -> bool:
    if not python.exists():
        return False
    result = subprocess.run(
        [str(python), "-m", "pip", "--version"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return result.returncode == 0


def requirement_files(path: Path, seen: set[Path] | None = None) -> list[Path]:
    """`path` and, recursively, the files it includes with -r / -c."""
    seen = seen if seen is not None else set()
    path = path.resolve()
    if path in seen:
        return []
    seen.add(path)
    files = [path]
    for line in path.read_text().splitlines():
        match = re.match(r"^\s*(?:-r|-c|--requirement|--constraint)[\s=]+(\S+)", line)
        if match:
            files += requirement_files(path.parent / match.group(1), seen)
    return files


def digest(files: list[Path]) -> str:
    h = hashlib.sha256()
    for f in sorted(files):
        h.update(str(f.relative_to(ROOT)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def bootstrap_pip_without_ensurepip(venv: Path, python: str) -> None:
    """Debian's python3.11 lacks ensurepip unless python3-venv is installed: fetch get-pip.py."""
    subprocess.run([python, "-m", "venv", "--clear", "--without-pip", str(venv)], check=True)
    log(f"ensurepip is missing; bootstrapping pip from {GET_PIP_URL}")
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "get-pip.py"
        with urllib.request.urlopen(GET_PIP_URL, timeout=60) as response:
            script.write_bytes(response.read())
        subprocess.run([str(venv_python(venv)), str(script), "--no-warn-script-location"], check=True)


def create_venv(venv: Path, python: str) -> None:
    if venv.exists():
        log(f"{venv} exists but has no working pip: recreating it")
        shutil.rmtree(venv)
    log(f"creating {venv} with {python}")
    result = subprocess.run([python, "-m", "venv", str(venv)], capture_output=True, text=True)
    if result.returncode == 0 and has_pip(venv_python(venv)):
        return
    if "ensurepip" not in (result.stdout + result.stderr):
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"[venv] could not create {venv}")
    try:
        bootstrap_pip_without_ensurepip(venv, python)
    except Exception as exc:  # no network, proxy, ...
        shutil.rmtree(venv, ignore_errors=True)
        raise SystemExit(f"[venv] could not bootstrap pip ({exc}).\n[venv] {APT_HINT}") from None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--venv", default=str(ROOT / ".venv"))
    parser.add_argument("--python", default=sys.executable, help="interpreter that creates the venv")
    parser.add_argument("--requirements", default=str(ROOT / "requirements-dev.lock"))
    args = parser.parse_args()

    venv = Path(args.venv).absolute()
    python = venv_python(venv)
    requirements = Path(args.requirements).resolve()
    stamp = venv / ".requirements.sha256"
    wanted = digest(requirement_files(requirements))
    if python.exists() and stamp.exists() and stamp.read_text().strip() == wanted:
        return 0  # the stamp is only written after a successful install
    if not has_pip(python):
        check = subprocess.run(
            [args.python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
        )
        if check.returncode != 0:
            raise SystemExit(f"[venv] {args.python} does not run; install python3.11 or set PYTHON=...")
        if check.stdout.strip() != "3.11":
            log(f"warning: {args.python} is Python {check.stdout.strip()}; Courtier targets 3.11")
        create_venv(venv, args.python)

    log(f"installing {requirements.name} (first install or requirements changed; may take minutes)")
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--require-hashes", "-r", str(requirements)],
        check=True,
        env=env,
    )
    stamp.write_text(wanted + "\n")
    log("requirements installed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

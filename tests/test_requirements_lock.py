"""The locks agree with the human-edited requirement files: `make lock` was run after the last edit.

requirements.txt / requirements-dev.txt pin the direct dependencies; requirements.lock (the image)
and requirements-dev.lock (`make venv`, CI) pin the whole transitive closure with hashes. No network:
the files are only read."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\\\]+)")


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()  # PEP 503


def direct_pins(path: Path) -> dict[str, str]:
    """name -> version of `path` and of the files it includes with -r."""
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if included := re.match(r"^-r\s+(\S+)", line):
            pins.update(direct_pins(path.parent / included.group(1)))
        elif line:
            match = PIN.match(line)
            assert match, f"{path.name}: {line!r} is not pinned with =="
            pins[normalized(match.group(1))] = match.group(2)
    return pins


def locked(path: Path) -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes) of a lock written by `uv pip compile --generate-hashes`."""
    entries: dict[str, tuple[str, int]] = {}
    name = None
    for line in path.read_text().splitlines():
        if match := PIN.match(line):
            name = normalized(match.group(1))
            entries[name] = (match.group(2), 0)
        elif name and line.strip().startswith("--hash=sha256:"):
            version, hashes = entries[name]
            entries[name] = (version, hashes + 1)
        elif not line.startswith(" "):
            name = None
    return entries


def test_every_direct_pin_is_locked_at_its_version():
    for inputs, lock in (
        ("requirements.txt", "requirements.lock"),
        ("requirements-dev.txt", "requirements-dev.lock"),
    ):
        pins = direct_pins(ROOT / inputs)
        entries = locked(ROOT / lock)
        stale = {name: (version, entries.get(name, ("missing",))[0]) for name, version in pins.items()}
        assert {name: pair for name, pair in stale.items() if pair[0] != pair[1]} == {}, (
            f"run `make lock` ({lock})"
        )


def test_every_locked_package_has_hashes():
    for lock in ("requirements.lock", "requirements-dev.lock"):
        entries = locked(ROOT / lock)
        assert len(entries) > 10
        assert [name for name, (_, hashes) in entries.items() if hashes == 0] == []


def test_the_development_lock_installs_the_production_versions():
    production = locked(ROOT / "requirements.lock")
    development = locked(ROOT / "requirements-dev.lock")
    assert set(production) <= set(development)
    assert {name for name, (version, _) in production.items() if development[name][0] != version} == set()

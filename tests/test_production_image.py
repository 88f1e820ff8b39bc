"""The production image holds the product, never the development tools: what `COPY . .` puts in it
(the git-tracked files minus .dockerignore) has no devtools/ or Stripe-sandbox file, and no product
module imports devtools. Its containers (docker-compose.yml) run as a non-root user on a read-only
root filesystem, without capabilities, writing only to a tmpfs, /dev/shm and beat's volume."""

from __future__ import annotations

import ast
import fnmatch
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PRODUCT_PACKAGES = ("accounts", "config", "core", "listings", "marketplace", "payments")
SANDBOX_FILE = re.compile(r"(^|/)devtools/|sandbox|localstripe|stripe_fixtures", re.IGNORECASE)


def tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [path for path in out.decode().split("\0") if path and (ROOT / path).exists()]


def dockerignore_patterns() -> list[tuple[bool, str]]:
    """(is_exception, pattern) in file order, as Docker reads .dockerignore."""
    patterns = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        pattern = line[1:] if exception else line
        patterns.append((exception, pattern.strip().lstrip("/").rstrip("/")))
    return patterns


def _matches(path: str, pattern: str) -> bool:
    """The pattern matches the path or one of its parent directories (which excludes all below)."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    variants = {pattern}
    while pattern.startswith("**/"):  # `**/` also matches no directory at all
        pattern = pattern[3:]
        variants.add(pattern)
    return any(fnmatch.fnmatchcase(c, v) for c in candidates for v in variants)


def excluded(path: str, patterns: list[tuple[bool, str]]) -> bool:
    verdict = False
    for exception, pattern in patterns:  # the last matching line decides
        if _matches(path, pattern):
            verdict = not exception
    return verdict


def image_files() -> list[str]:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^COPY \. \.$", dockerfile, re.M), "the Dockerfile no longer copies the build context"
    patterns = dockerignore_patterns()
    return [path for path in tracked_files() if not excluded(path, patterns)]


def test_the_dockerignore_reading_is_docker_s():
    patterns = [(False, "tests"), (False, "**/__pycache__"), (False, "*.md"), (True, "README.md")]
    assert excluded("tests/payments/test_x.py", patterns)
    assert excluded("payments/__pycache__/x.pyc", patterns) and excluded("__pycache__/x.pyc", patterns)
    assert excluded("NOTES.md", patterns) and not excluded("README.md", patterns)
    assert not excluded("payments/services/charges.py", patterns) and not excluded("testsuite.py", patterns)


def test_the_image_has_no_development_tools():
    files = image_files()

    assert "payments/services/charges.py" in files and "manage.py" in files  # the product is there
    assert [path for path in files if SANDBOX_FILE.search(path)] == []
    assert not any(path.startswith(("tests/", "bench/", "scripts/localstripe")) for path in files)


def test_the_image_installs_no_sandbox_dependency():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.findall(r"pip install --require-hashes -r (\S+)", dockerfile) == ["requirements.lock"]
    runtime = (ROOT / "requirements.lock").read_text().lower()
    assert not re.search(r"^(localstripe|aiohttp)==", runtime, re.M)
    dev = (ROOT / "requirements-dev.lock").read_text()
    assert re.search(r"^aiohttp==\d", dev, re.M) and re.search(r"^localstripe==\d", dev, re.M)


def _devtools_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.split(".")[0] == "devtools"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "devtools":
            found.append(node.module)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if re.match(r"^devtools(\.|$)", node.value):  # importlib.import_module("devtools…")
                found.append(node.value)
    return [f"{path.relative_to(ROOT)}: {name}" for name in found]


def test_no_product_module_imports_devtools():
    offenders = []
    for package in PRODUCT_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            offenders += _devtools_imports(path)
    assert offenders == []


# --- The containers: non-root, read-only root filesystem, no capabilities (issue 15) ---------------

APP_SERVICES = ("migrate", "web", "worker", "beat")  # every service that runs the image
BEAT_SCHEDULE = "/var/lib/courtier/beat/celerybeat-schedule"


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # resolves the `<<:` merges


def _command_args(service: dict) -> list[str]:
    command = service["command"]
    return command.split() if isinstance(command, str) else list(command)


def _writable_paths(service: dict) -> list[str]:
    """Where a container of the service may write: its tmpfs mounts, its volumes, Docker's /dev/shm."""
    tmpfs = service.get("tmpfs", [])
    tmpfs = [tmpfs] if isinstance(tmpfs, str) else tmpfs
    paths = [entry.split(":")[0] for entry in tmpfs]
    for volume in service.get("volumes", []):
        target = volume["target"] if isinstance(volume, dict) else volume.split(":")[1]
        paths.append(target)
    return [*paths, "/dev/shm"]


def _under(path: str, directories: list[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in directories)


def test_the_image_runs_as_its_non_root_user():
    dockerfile = (ROOT / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
    assert users and users[-1] == "courtier"
    assert re.search(r"useradd --system --uid 10001 .*courtier", dockerfile)
    for name, service in compose()["services"].items():
        if name in APP_SERVICES:
            assert str(service.get("user", "courtier")) not in {"root", "0", "0:0"}, name


@pytest.mark.parametrize("name", APP_SERVICES)
def test_every_app_container_is_read_only_without_capabilities(name):
    service = compose()["services"][name]

    assert service["image"] == "courtier:latest"
    assert service.get("read_only") is True
    assert service.get("cap_drop") == ["ALL"] and not service.get("cap_add")
    assert "no-new-privileges:true" in service.get("security_opt", [])
    assert not service.get("privileged")
    assert "/tmp" in _writable_paths(service)  # tempfile and Django's upload spooling


def test_only_beat_has_a_volume_and_it_holds_its_schedule():
    services = compose()["services"]
    for name in APP_SERVICES:
        volumes = services[name].get("volumes", [])
        assert bool(volumes) == (name == "beat"), name  # the app writes no other file
    beat = services["beat"]
    schedule = beat["environment"]["CELERY_BEAT_SCHEDULE_FILENAME"]
    assert schedule == BEAT_SCHEDULE
    assert not any(arg.startswith(("--schedule", "-s")) for arg in _command_args(beat))  # the setting rules
    assert _under(schedule, [p for p in _writable_paths(beat) if p not in ("/tmp", "/dev/shm")])
    assert "beat-schedule" in compose()["volumes"]


def test_the_beat_schedule_path_is_the_same_everywhere():
    dockerfile = (ROOT / "Dockerfile").read_text()
    # the volume is filled from the image's directory, which belongs to courtier
    assert re.search(r"install -d -o courtier -g courtier -m 0700 /var/lib/courtier/beat\b", dockerfile)
    assert f"CELERY_BEAT_SCHEDULE_FILENAME={BEAT_SCHEDULE}" in dockerfile
    assert f'default="{BEAT_SCHEDULE}"' in (ROOT / "config/settings/production.py").read_text()
    assert f'"{BEAT_SCHEDULE}"' in (ROOT / "scripts/healthcheck.py").read_text()


def test_gunicorn_writes_only_to_dev_shm():
    web = _command_args(compose()["services"]["web"])
    assert web[0] == "gunicorn"
    assert "--worker-tmp-dir=/dev/shm" in web
    assert "--no-control-socket" in web  # its socket would be in $HOME, on the read-only filesystem
    cmd = re.search(r"^CMD (\[.*?\])\s*$", (ROOT / "Dockerfile").read_text(), re.M | re.S)
    assert cmd, "the Dockerfile's CMD is no longer a JSON array"
    image_cmd = json.loads(cmd.group(1).replace("\\\n", ""))
    assert image_cmd[0] == "gunicorn"
    assert image_cmd[image_cmd.index("--worker-tmp-dir") + 1] == "/dev/shm"
    assert "--no-control-socket" in image_cmd


def test_static_files_are_collected_at_build_time():
    dockerfile = (ROOT / "Dockerfile").read_text()
    collect = dockerfile.index("manage.py collectstatic --noinput")
    assert collect < dockerfile.index("USER courtier")  # written as root, into the image
    assert "CompressedManifestStaticFilesStorage" in (ROOT / "config/settings/production.py").read_text()

"""The production image holds the product, never the development tools: what `COPY . .` puts in it
(the git-tracked files minus .dockerignore) has no devtools/ or Stripe-sandbox file, and no product
module imports devtools."""

from __future__ import annotations

import ast
import fnmatch
import re
import subprocess
from pathlib import Path

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

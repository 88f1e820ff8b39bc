"""Supply chain and deployment checks (issue 15): `manage.py check --deploy` finds nothing, not
even a warning, on the production settings; `make audit` (scripts/audit.py) audits both locks with
pip-audit and fails, never passes, when the vulnerability service does not answer. CI runs the
first; the second needs PyPI's per-version JSON, which the registry these machines reach lacks."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import urllib.error
from pathlib import Path
from types import ModuleType

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent


def production_environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "STRIPE_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_SECRET_KEY="a" * 30 + "-production-like-secret-key-for-the-deploy-check-" + "b" * 20,
        PSEUDONYM_SECRET="another-long-secret-of-its-own-for-pseudonyms-" + "c" * 20,
        DJANGO_ALLOWED_HOSTS="example.com",
        SITE_URL="https://example.com",
        DATABASE_URL=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/courtier"),
        CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
        CACHE_URL="redis://127.0.0.1:6379/1",
        FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        STRIPE_API_KEY="sk_test_deploy_check",
        STRIPE_WEBHOOK_SECRET="whsec_deploy_check",
    )
    return env


def test_check_deploy_reports_nothing_on_the_production_settings():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_ci_fails_on_a_deploy_warning_and_says_why_it_cannot_run_the_audit():
    ci = (ROOT / ".ci/run").read_text()
    assert re.search(r"manage\.py check --deploy --fail-level WARNING$", ci, re.M)
    assert not re.search(r"^step .*make audit", ci, re.M) and "`make audit` (pip-audit over both locks)" in ci
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^audit: venv\n\t\$\(VPY\) scripts/audit\.py", makefile, re.M)


@pytest.fixture
def audit() -> ModuleType:
    spec = importlib.util.spec_from_file_location("courtier_audit", ROOT / "scripts/audit.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_audit_fails_when_the_vulnerability_service_does_not_answer(audit, monkeypatch, capsys):
    def unreachable(url, timeout):
        raise urllib.error.HTTPError(url, 404, "Not Found", {}, None)  # type: ignore[arg-type]

    ran = []
    monkeypatch.setattr(audit.urllib.request, "urlopen", unreachable)
    monkeypatch.setattr(audit.subprocess, "run", lambda *a, **k: ran.append(a))

    assert audit.main([]) == 2
    assert ran == []  # pip-audit is not run, and nothing passes
    err = capsys.readouterr().err
    assert "audit FAILED" in err and "no dependency was audited" in err and "HTTP 404" in err


def test_the_audit_reads_both_locks_strictly_and_passes_on_pip_audit_s_verdict(audit, monkeypatch):
    class Answer:
        status = 200

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    probed, ran = [], []
    monkeypatch.setattr(audit.urllib.request, "urlopen", lambda url, timeout: probed.append(url) or Answer())
    monkeypatch.setattr(
        audit.subprocess,
        "run",
        lambda command, **kw: ran.append(command) or subprocess.CompletedProcess(command, 1),
    )

    assert audit.main(["--format=json"]) == 1  # pip-audit found something: the audit fails
    django = re.search(r"^django==(\S+)", (ROOT / "requirements.lock").read_text(), re.M | re.I)
    assert django and probed == [f"https://pypi.org/pypi/django/{django.group(1)}/json"]
    (command,) = ran
    assert Path(command[0]).name == "pip-audit"
    assert {"--vulnerability-service=pypi", "--disable-pip", "--strict", "--format=json"} <= set(command)
    locks = [Path(command[i + 1]).name for i, arg in enumerate(command) if arg == "--requirement"]
    assert locks == ["requirements.lock", "requirements-dev.lock"]

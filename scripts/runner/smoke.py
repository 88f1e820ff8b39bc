"""`make run --smoke` (RUN_SMOKE=1): the checks that every part of the local stack answers."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from pathlib import Path

from runner.banner import read_demo
from runner.processes import PY, ROOT, http_get, log


class Smoke:
    """Checks for --smoke: web, API with the demo key, localstripe, one task through the worker."""

    def __init__(self, base: str, stripe_base: str, run_dir: Path, env: dict[str, str]) -> None:
        self.base, self.stripe_base, self.run_dir, self.env = base, stripe_base, run_dir, env
        self.passed: dict[str, bool] = {
            "web /healthz": False,
            "web pages": False,
            "api with demo key": False,
            "localstripe": False,
            "worker ran a task": False,
            "beat started": False,
            "example client's day": False,
            "market invariants": False,
        }
        self.example: threading.Thread | None = None
        self.worker_ready = threading.Event()
        self.task_id: str | None = None
        self.succeeded: set[str] = set()
        self.task_sent_at = 0.0
        self.notes: list[str] = []

    def watch_beat(self, line: str) -> None:
        if "beat: Starting..." in line:
            self.passed["beat started"] = True

    def watch_worker(self, line: str) -> None:
        if re.search(r"\bready\.", line):
            self.worker_ready.set()
        match = re.search(r"Task [\w.]+\[([\w-]+)\] succeeded", line)
        if match:  # may arrive before send_task() has read the id back: remember them all
            self.succeeded.add(match.group(1))

    def step(self) -> None:
        p = self.passed
        if not p["web /healthz"]:
            status, body = http_get(f"{self.base}/healthz")
            p["web /healthz"] = status == 200 and b"ok" in body
            if not p["web /healthz"]:
                return
        if not p["web pages"]:
            pages = ("/api/docs/", "/api/redoc/", "/admin/login/", "/api/schema/")
            codes = {path: http_get(self.base + path)[0] for path in ("/", *pages)}
            p["web pages"] = codes["/"] in (200, 302) and all(codes[path] == 200 for path in pages)
            if not p["web pages"]:
                self.note(f"web pages answered {codes}")
        if not p["api with demo key"]:
            _logins, api_key = read_demo(self.run_dir)
            if api_key:
                status, _ = http_get(
                    f"{self.base}/api/v1/organisation/", {"Authorization": f"Api-Key {api_key}"}
                )
                p["api with demo key"] = status == 200
                if status != 200:
                    self.note(f"GET /api/v1/organisation/ with the demo key answered {status}")
            else:
                self.note(f"no demo API key in {self.run_dir / 'demo-api-key.txt'}")
        if not p["localstripe"]:
            status, _ = http_get(
                f"{self.stripe_base}/v1/customers", {"Authorization": "Bearer sk_test_courtier_local"}
            )
            p["localstripe"] = status == 200
        if self.worker_ready.is_set() and self.task_id is None:
            self.send_task()
        if self.task_id and self.task_id in self.succeeded:
            p["worker ran a task"] = True
        if p["api with demo key"] and self.worker_ready.is_set() and self.example is None:
            self.example = threading.Thread(target=self.run_example, daemon=True)
            self.example.start()

    def run_example(self) -> None:
        """examples/advertiser_day.py with the demo key: a segment, a webhook receiver, a buy now
        settled by the worker (trade.settled), the records."""
        _logins, api_key = read_demo(self.run_dir)
        command = [PY, "examples/advertiser_day.py", "--base-url", self.base, "--settle-timeout", "50"]
        result = subprocess.run(
            [*command, "--api-key", api_key or ""], cwd=ROOT, capture_output=True, text=True, timeout=120
        )
        self.passed["example client's day"] = result.returncode == 0
        log("smoke: examples/advertiser_day.py:\n" + (result.stdout + result.stderr).strip()[-1500:])
        self.check_invariants()

    def check_invariants(self) -> None:
        """manage.py check_invariants --with-stripe on the demo market, after the example's trade:
        the ledger, payables, trades, consent, access and the sandbox agree."""
        result = subprocess.run(
            [PY, "manage.py", "check_invariants", "--with-stripe"],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        self.passed["market invariants"] = result.returncode == 0
        log("smoke: manage.py check_invariants:\n" + (result.stdout + result.stderr).strip()[-1500:])

    def send_task(self) -> None:
        code = "from accounts.tasks import consent_expire_due; print('TASK', consent_expire_due.delay().id)"
        result = subprocess.run(
            [PY, "manage.py", "shell", "-c", code],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        match = re.search(r"^TASK (\S+)$", result.stdout, re.M)
        if result.returncode or not match:
            self.task_id = ""
            self.note(f"could not send a task: {result.stderr.strip()[-500:]}")
            return
        self.task_id = match.group(1)
        self.task_sent_at = time.monotonic()
        log(f"smoke: sent accounts.tasks.consent_expire_due[{self.task_id}] through the broker")

    def note(self, message: str) -> None:
        if message not in self.notes:
            self.notes.append(message)
            log(f"smoke: {message}")

    def all_passed(self) -> bool:
        return all(self.passed.values())

    def report(self) -> str:
        return "\n".join(f"  [{'ok' if ok else 'FAIL'}] {name}" for name, ok in self.passed.items())

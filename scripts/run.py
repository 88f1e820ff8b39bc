"""`make run` supervisor: the web server, a Celery worker, Celery beat and a local Stripe sandbox.

    .venv/bin/python scripts/run.py [--smoke]

Starts the Stripe sandboxes (localstripe and the Connect sandbox), loads the demo data once they
answer (`manage.py seed_demo`: its market settles trades and pays sellers through them), then
the rest. Starts every process in its own process group, prefixes their output with their name (and
copies it to <run dir>/log/<name>.log), prints the URLs and demo logins once the web server
answers, forwards Ctrl-C / SIGTERM / SIGHUP to every child, and stops everything if one of them
dies. Standard library only; run it with the project's virtualenv Python.

Environment:
  DJANGO_SETTINGS_MODULE  default config.settings.local (SQLite + filesystem broker unless
                          DATABASE_URL / CELERY_BROKER_URL are set)
  COURTIER_RUN_DIR        state directory (broker, beat schedule, logs, demo key); default .run
  RUN_HOST, RUN_PORT      web server address; default 127.0.0.1:8000
  STRIPE_PORT             localstripe port on loopback; default 8420
  STRIPE_CONNECT_PORT     the Connect sandbox (devtools.stripe_sandbox connect) on loopback; default 8421
  STRIPE_API_KEY          a real sk_test_… key uses Stripe's test mode instead of the sandbox
  RUN_SECONDS             stop everything cleanly after this many seconds (exit 0)
  RUN_SMOKE=1             same as --smoke: check the web server, the API, the worker (a real task
                          through the broker) and localstripe; exit 1 unless all passed
  CELERY_POOL, CELERY_CONCURRENCY
                          worker pool; default solo on SQLite (one writer), prefork x2 otherwise
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
QUEUES = "default,consent,settlement,payouts,webhooks"
STOP_GRACE_SECONDS = 15


def log(message: str) -> None:
    print(f"[run] {message}", flush=True)


@dataclass
class Child:
    name: str
    argv: list[str]
    proc: subprocess.Popen | None = None
    watchers: list = field(default_factory=list)  # callables(line) run on every output line
    reader: threading.Thread | None = None

    def start(self, env: dict[str, str], log_dir: Path) -> None:
        logfile = (log_dir / f"{self.name}.log").open("a", encoding="utf-8")
        logfile.write(f"\n===== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(self.argv)}\n")
        self.proc = subprocess.Popen(
            self.argv,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches only us; we decide how children stop
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
        )
        self.reader = threading.Thread(target=self._pump, args=(logfile,), daemon=True)
        self.reader.start()

    def _pump(self, logfile) -> None:
        assert self.proc and self.proc.stdout
        with logfile:
            for line in self.proc.stdout:
                line = line.rstrip("\n")
                sys.stdout.write(f"{self.name:>7} | {line}\n")
                sys.stdout.flush()
                logfile.write(line + "\n")
                logfile.flush()
                for watch in self.watchers:
                    watch(line)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int, group: bool = False) -> None:
        if not self.alive():
            return
        assert self.proc
        try:
            if group:
                os.killpg(self.proc.pid, sig)
            else:
                self.proc.send_signal(sig)
        except ProcessLookupError:
            pass


def http_get(url: str, headers: dict[str, str] | None = None, timeout: float = 3.0) -> tuple[int, bytes]:
    """(status, body) without following redirects; (0, b"") if nothing answers."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, OSError):
        return 0, b""


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
        }
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
            codes = {path: http_get(self.base + path)[0] for path in ("/", "/api/docs/", "/admin/login/")}
            codes["/api/schema/"] = http_get(self.base + "/api/schema/")[0]
            p["web pages"] = codes["/"] in (200, 302) and all(
                codes[path] == 200 for path in ("/api/docs/", "/admin/login/", "/api/schema/")
            )
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--smoke", action="store_true", default=os.environ.get("RUN_SMOKE") == "1")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    run_dir = Path(os.environ.get("COURTIER_RUN_DIR", ROOT / ".run")).resolve()
    log_dir = run_dir / "log"
    log_dir.mkdir(parents=True, exist_ok=True)
    host = os.environ.get("RUN_HOST", "127.0.0.1")
    port = int(os.environ.get("RUN_PORT", "8000"))
    stripe_port = int(os.environ.get("STRIPE_PORT", "8420"))
    base = f"http://{host}:{port}"
    stripe_base = f"http://127.0.0.1:{stripe_port}"
    run_seconds = float(os.environ.get("RUN_SECONDS") or 0) or (90.0 if args.smoke else 0)

    env = {
        **os.environ,
        "COURTIER_RUN_DIR": str(run_dir),
        "PYTHONUNBUFFERED": "1",
        "SITE_URL": os.environ.get("SITE_URL", base),
    }
    connect_port = int(os.environ.get("STRIPE_CONNECT_PORT", str(stripe_port + 1)))
    if env.setdefault("STRIPE_API_KEY", "sk_test_courtier_local") == "sk_test_courtier_local":
        env.setdefault("STRIPE_API_BASE", stripe_base)
        env.setdefault("STRIPE_CONNECT_API_BASE", f"http://127.0.0.1:{connect_port}")
        env.setdefault("STRIPE_WEBHOOK_SECRET", "whsec_courtier_local")
    if uses_sqlite():
        env.setdefault("CONN_MAX_AGE", "0")
    pool = os.environ.get("CELERY_POOL") or ("solo" if uses_sqlite() else "prefork")
    concurrency = os.environ.get("CELERY_CONCURRENCY") or ("1" if pool == "solo" else "2")

    celery = [PY, "-m", "celery", "-A", "config"]
    children = [
        Child(
            "stripe",
            [
                PY,
                "-m",
                "devtools.stripe_sandbox",
                "localstripe",
                "--port",
                str(stripe_port),
                "--connect",
                f"http://127.0.0.1:{connect_port}",
                "--data",
                str(run_dir / "localstripe.pickle"),
                "--access-log",
            ],
        ),
        Child(
            "connect",
            [
                PY,
                "-m",
                "devtools.stripe_sandbox",
                "connect",
                "--port",
                str(connect_port),
                "--data",
                str(run_dir / "connect-sandbox.json"),
                "--localstripe",
                stripe_base,
                "--webhook-url",
                f"{base}/webhooks/stripe/",
                "--webhook-secret",
                env.get("STRIPE_WEBHOOK_SECRET", "whsec_courtier_local"),
            ],
        ),
        Child("web", [PY, "manage.py", "runserver", f"{host}:{port}", "--noreload"]),
        Child(
            "worker",
            [
                *celery,
                "worker",
                "-Q",
                QUEUES,
                f"--pool={pool}",
                f"--concurrency={concurrency}",
                "--loglevel=INFO",
                "--hostname=courtier-run@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
        ),
        Child("beat", [*celery, "beat", "--loglevel=INFO"]),
    ]
    smoke = Smoke(base, stripe_base, run_dir, env) if args.smoke else None
    by_name = {child.name: child for child in children}
    if smoke:
        by_name["worker"].watchers.append(smoke.watch_worker)
        by_name["beat"].watchers.append(smoke.watch_beat)

    stop = {"reason": ""}
    interrupts = {"count": 0}

    def on_signal(signum, _frame) -> None:
        interrupts["count"] += 1
        stop["reason"] = stop["reason"] or signal.Signals(signum).name
        if interrupts["count"] >= 3:  # impatient: kill everything now
            for child in children:
                child.signal(signal.SIGKILL, group=True)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    log(f"state in {run_dir}; settings {env['DJANGO_SETTINGS_MODULE']}")
    sandboxes = [by_name["stripe"], by_name["connect"]]
    for child in sandboxes:
        child.start(env, log_dir)
        log(f"started {child.name} (pid {child.proc.pid}): {' '.join(child.argv[1:])}")
    # The demo market settles trades and pays sellers out through Stripe: seed once the
    # sandboxes answer, before the worker and beat start (SQLite has one writer).
    seeded = wait_for_sandboxes(sandboxes, stripe_base, f"http://127.0.0.1:{connect_port}", stop) and (
        stop["reason"] or seed_demo(env, log_dir)
    )
    if not seeded or stop["reason"]:
        if not stop["reason"]:
            log("the demo data could not be loaded: stopping")
        shutdown(sandboxes)
        return 0 if stop["reason"] else 1
    for child in children:
        if child not in sandboxes:
            child.start(env, log_dir)
            log(f"started {child.name} (pid {child.proc.pid}): {' '.join(child.argv[1:])}")

    started = time.monotonic()
    exit_code = 0
    announced = False
    while True:
        if stop["reason"]:
            log(f"{stop['reason']} received: stopping")
            break
        dead = [c for c in children if not c.alive()]
        if dead:
            for c in dead:
                log(f"{c.name} exited with code {c.proc.returncode}: stopping everything")
            exit_code = 1
            break
        if run_seconds and time.monotonic() - started >= run_seconds:
            log(f"RUN_SECONDS={run_seconds:g} elapsed: stopping")
            break
        if not announced and http_get(f"{base}/healthz", timeout=1)[0] == 200:
            announced = True
            print(banner(base, stripe_base, run_dir, f"{pool} x{concurrency}"), flush=True)
        if smoke:
            smoke.step()
        time.sleep(0.5)

    shutdown(children)
    if smoke:
        ok = smoke.all_passed()
        print(f"[run] smoke test {'passed' if ok else 'FAILED'}:\n{smoke.report()}", flush=True)
        if not ok:
            exit_code = 1
    log(f"all processes stopped (exit {exit_code})")
    return exit_code


def wait_for_sandboxes(sandboxes: list[Child], stripe_base: str, connect_base: str, stop: dict) -> bool:
    """Until localstripe and the Connect sandbox answer (30 s); False if one died or never did."""
    auth = {"Authorization": "Bearer sk_test_courtier_local"}
    pending = {"stripe": f"{stripe_base}/v1/customers", "connect": f"{connect_base}/v1/balance_transactions"}
    deadline = time.monotonic() + 30
    while pending and time.monotonic() < deadline and not stop["reason"]:
        for child in sandboxes:
            if not child.alive():
                log(f"{child.name} exited with code {child.proc.returncode}")
                return False
        for name, url in list(pending.items()):
            if http_get(url, auth, timeout=1)[0] == 200:
                del pending[name]
        time.sleep(0.2)
    if pending and not stop["reason"]:
        log(f"no answer from {', '.join(pending)} after 30 s")
        return False
    return True


def seed_demo(env: dict[str, str], log_dir: Path) -> bool:
    """`manage.py seed_demo` (idempotent), its output prefixed like the children's."""
    started = time.monotonic()
    with (log_dir / "seed.log").open("a", encoding="utf-8") as logfile:
        proc = subprocess.Popen(
            [PY, "manage.py", "seed_demo"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
        )
        assert proc.stdout
        for line in proc.stdout:
            line = line.rstrip("\n")
            sys.stdout.write(f"{'seed':>7} | {line}\n")
            sys.stdout.flush()
            logfile.write(line + "\n")
        proc.wait()
    log(f"seed_demo exited with code {proc.returncode} after {time.monotonic() - started:.1f} s")
    return proc.returncode == 0


def shutdown(children: list[Child]) -> None:
    """SIGTERM each leader (warm shutdown), wait, then SIGKILL whatever is left in each group."""
    for child in reversed(children):
        child.signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for child in children:
        if child.proc is None:
            continue
        try:
            child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log(f"{child.name} did not stop in {STOP_GRACE_SECONDS}s: killing it")
        try:
            os.killpg(child.proc.pid, signal.SIGKILL)  # leftovers (pool processes) in its group
        except (ProcessLookupError, PermissionError):
            pass
        child.proc.wait()
        if child.reader:
            child.reader.join(timeout=2)


if __name__ == "__main__":
    sys.exit(main())

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
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from runner.banner import banner, uses_sqlite
from runner.processes import PY, QUEUES, ROOT, Child, http_get, log, shutdown
from runner.smoke import Smoke


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
        env.setdefault("STRIPE_JS_URL", f"{stripe_base}/js.stripe.com/v3/")
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


if __name__ == "__main__":
    sys.exit(main())

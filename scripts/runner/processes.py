"""The children of `make run` (scripts/run.py): each in its own process group, its output
prefixed with its name and copied to a log file; stopped warm, then killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # scripts/runner/ → the project
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

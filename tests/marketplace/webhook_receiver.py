"""A real webhook receiver on loopback for the tests: an http.server in a thread that checks the
signature of every request it gets against the secrets it is told, and answers from a script
(e.g. 500, 500, then 200 for ever)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from marketplace.webhook_signing import SIGNATURE_HEADER, SignatureVerificationError, verify_signature


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int
    verified_with: list[str]  # the secrets whose signature matched

    @property
    def event(self) -> dict:
        return json.loads(self.body)

    @property
    def signatures(self) -> list[str]:
        return [part for part in self.headers[SIGNATURE_HEADER].split(",") if part.startswith("v1=")]


@dataclass
class Receiver:
    port: int = 0
    secrets: list[str] = field(default_factory=list)  # every request must verify with one of them
    answers: list[int] = field(default_factory=list)  # answered in turn; then 200
    redirects: dict[str, tuple[int, str]] = field(default_factory=dict)  # path → (code, Location)
    received: list[Received] = field(default_factory=list)
    unverified: list[Received] = field(default_factory=list)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def delivered_event_ids(self) -> list[str]:
        """The event ids answered with a 2xx, in order."""
        return [r.event["id"] for r in self.received if 200 <= r.answered < 300]


def start_receiver() -> tuple[Receiver, ThreadingHTTPServer]:
    receiver = Receiver()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                if self.path in receiver.redirects:
                    code, location = receiver.redirects[self.path]
                    answered, headers = code, {"Location": location}
                else:
                    answered = receiver.answers.pop(0) if receiver.answers else 200
                    headers = {}
                verified = []
                for secret in receiver.secrets:
                    try:
                        verify_signature(body, self.headers.get(SIGNATURE_HEADER), secret)
                    except SignatureVerificationError:
                        continue
                    verified.append(secret)
                record = Received(self.path, dict(self.headers), body, answered, verified)
                receiver.received.append(record)
                if not verified:
                    receiver.unverified.append(record)
            self.send_response(answered)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver, server

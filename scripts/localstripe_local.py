"""localstripe for `make run`: listens on loopback only and keeps its data under the run dir.

`localstripe` itself binds every interface and pickles its store to /tmp/localstripe.pickle,
which tests also use. This launcher serves the same aiohttp app on 127.0.0.1 and ::1 and stores
the data in $LOCALSTRIPE_DATA (default .run/localstripe.pickle).

    python scripts/localstripe_local.py [--port 8420] [--from-scratch]
"""

from __future__ import annotations

import argparse
import logging
import os
import pickle
import socket
import sys
from pathlib import Path

from aiohttp import web
from localstripe import resources, server

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(
    os.environ.get(
        "LOCALSTRIPE_DATA",
        Path(os.environ.get("COURTIER_RUN_DIR", ROOT / ".run")) / "localstripe.pickle",
    )
)


def _load(store: resources.Store) -> None:
    try:
        with DATA.open("rb") as f:
            old = pickle.load(f)
    except (FileNotFoundError, EOFError, pickle.UnpicklingError):
        return
    store.clear()
    store.update(old)


def _dump(store: resources.Store) -> None:
    DATA.parent.mkdir(parents=True, exist_ok=True)
    tmp = DATA.with_suffix(".tmp")
    with tmp.open("wb") as f:
        pickle.dump(dict(store), f, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(DATA)


resources.Store.try_load_from_disk = _load
resources.Store.dump_to_disk = _dump

# Stripe's Idempotency-Key semantics, which localstripe lacks (the same key replays the answer).
sys.path.insert(0, str(ROOT))
from payments.connect_sandbox import IdempotencyCache  # noqa: E402

server.app.middlewares.append(IdempotencyCache().middleware)


def _sockets(port: int) -> list[socket.socket]:
    socks = []
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        try:
            sock.bind((host, port))
        except OSError:
            sock.close()
            if family == socket.AF_INET:
                raise
            continue  # no IPv6 loopback: IPv4 is enough
        socks.append(sock)
    return socks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8420)
    parser.add_argument("--from-scratch", action="store_true")
    args = parser.parse_args()
    if not args.from_scratch:
        resources.store.try_load_from_disk()
    access = logging.getLogger("aiohttp.access")
    access.setLevel(logging.INFO)
    access.addHandler(logging.StreamHandler())
    sockets = _sockets(args.port)
    print(f"localstripe on http://127.0.0.1:{args.port} (data: {DATA})", flush=True)
    web.run_app(server.app, sock=sockets, access_log=access, print=None)


if __name__ == "__main__":
    main()

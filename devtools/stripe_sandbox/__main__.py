"""The one launcher of the loopback Stripe sandbox (tests, `make run`, benchmarks).

    python -m devtools.stripe_sandbox localstripe [--port 8420] [--connect URL] [--data FILE] [--from-scratch]
    python -m devtools.stripe_sandbox connect [--port 8421] [--data FILE] [--fixtures PATH]
        [--api-version V] [--webhook-url URL --webhook-secret SECRET] [--localstripe URL]
        [--delivery-delay SECONDS]
    python -m devtools.stripe_sandbox extract-fixtures PATH/TO/fixtures3.json

Both servers listen on 127.0.0.1 (and ::1 when there is one), never on other interfaces.
`localstripe` keeps nothing on disk unless given --data (make run: the run directory), and with
--connect answers the Connect sandbox's balance transactions in its own balance history.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
from pathlib import Path

from aiohttp import ClientSession, ClientTimeout, web

from devtools.stripe_sandbox.fixtures import extract_fixtures, fixtures_path, load_fixtures


def loopback_sockets(port: int) -> list[socket.socket]:
    """127.0.0.1 (and ::1 when there is one): never every interface."""
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


def _access_log(enabled: bool) -> logging.Logger | None:
    if not enabled:
        return None
    access = logging.getLogger("aiohttp.access")
    access.setLevel(logging.INFO)
    access.addHandler(logging.StreamHandler())
    return access


def default_api_version() -> str:
    import stripe

    return os.environ.get("STRIPE_API_VERSION") or stripe.api_version


async def _register_localstripe_webhook(localstripe: str, url: str, secret: str) -> None:
    """localstripe forgets webhooks when it restarts: register ours until it answers."""
    for _ in range(120):
        try:
            async with ClientSession(timeout=ClientTimeout(total=3)) as session:
                async with session.post(
                    f"{localstripe.rstrip('/')}/_config/webhooks/courtier",
                    data={"url": url, "secret": secret},
                ) as response:
                    if response.status == 200:
                        print(f"registered {url} as localstripe's webhook", flush=True)
                        return
        except Exception:
            pass
        await asyncio.sleep(1)
    print("could not register the webhook with localstripe", flush=True)


def serve_connect(args: argparse.Namespace) -> None:
    from devtools.stripe_sandbox.connect import ConnectSandbox
    from devtools.stripe_sandbox.connect_http import build_app

    sandbox = ConnectSandbox(
        fixtures=load_fixtures(Path(args.fixtures) if args.fixtures else None),
        api_version=args.api_version or default_api_version(),
        public_base=f"http://127.0.0.1:{args.port}",
        data_file=Path(args.data) if args.data else None,
        delivery_delay=args.delivery_delay,
    )
    if args.webhook_url and args.webhook_secret:
        sandbox.webhooks["courtier"] = {"url": args.webhook_url, "secret": args.webhook_secret}
    app = build_app(sandbox)
    if args.localstripe and args.webhook_url and args.webhook_secret:

        async def on_startup(_app):
            _app["register"] = asyncio.get_event_loop().create_task(
                _register_localstripe_webhook(args.localstripe, args.webhook_url, args.webhook_secret)
            )

        app.on_startup.append(on_startup)
    sockets = loopback_sockets(args.port)
    print(f"Connect sandbox on http://127.0.0.1:{args.port} (fixtures: {fixtures_path()})", flush=True)
    web.run_app(app, sock=sockets, print=None, access_log=_access_log(args.access_log))


def serve_localstripe(args: argparse.Namespace) -> None:
    from devtools.stripe_sandbox.localstripe_app import build_app

    data = Path(args.data) if args.data else None
    app = build_app(connect_base=args.connect, data_file=data, from_scratch=args.from_scratch or data is None)
    sockets = loopback_sockets(args.port)
    print(
        f"localstripe on http://127.0.0.1:{args.port} (data: {data or 'in memory'}; "
        f"Connect balance history: {args.connect or 'none'})",
        flush=True,
    )
    web.run_app(app, sock=sockets, print=None, access_log=_access_log(args.access_log))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.stripe_sandbox",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    connect = sub.add_parser("connect", help="the Connect sandbox")
    connect.add_argument("--port", type=int, default=8421)
    connect.add_argument("--data", help="persist state to this JSON file (make run)")
    connect.add_argument("--fixtures", help="path to fixtures3.json")
    connect.add_argument("--api-version", help="api_version of emitted events (default: the SDK's)")
    connect.add_argument("--webhook-url")
    connect.add_argument("--webhook-secret")
    connect.add_argument("--localstripe", help="also register the webhook with this localstripe")
    connect.add_argument("--delivery-delay", type=float, default=0.2)
    connect.add_argument("--access-log", action="store_true")
    ls = sub.add_parser("localstripe", help="localstripe on loopback, patched to behave as Stripe")
    ls.add_argument("--port", type=int, default=8420)
    ls.add_argument("--connect", help="the Connect sandbox whose balance transactions to merge in")
    ls.add_argument("--data", help="persist the store to this pickle (make run); default: in memory")
    ls.add_argument("--from-scratch", action="store_true", help="ignore what --data holds")
    ls.add_argument("--access-log", action="store_true")
    extract = sub.add_parser("extract-fixtures", help="refresh devtools/stripe_sandbox/stripe_fixtures.json")
    extract.add_argument("source")
    args = parser.parse_args(argv)
    if args.command == "connect":
        serve_connect(args)
    elif args.command == "localstripe":
        serve_localstripe(args)
    else:
        extract_fixtures(Path(args.source))


if __name__ == "__main__":
    main()

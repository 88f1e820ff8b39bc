"""The loopback Stripe sandbox for tests, `make run` and the benchmarks: standard library + aiohttp.

    python -m devtools.stripe_sandbox localstripe --port N [--connect URL] [--data FILE]
    python -m devtools.stripe_sandbox connect --port N [--data FILE] [--webhook-url URL ...]

- `localstripe_app`: localstripe (PyPI), patched at launch where it disagrees with Stripe.
- `connect`: what localstripe lacks (Connect accounts, account links, transfers, reversals,
  disputes, their balance transactions and events), shaped from Stripe's published fixtures.
- `idempotency`: Stripe's Idempotency-Key semantics, shared by both servers.
- `controls`: fault injection, rate limiting and request statistics (`/_config/faults`,
  `/_config/rate_limit`, `/_config/stats`), shared by both servers.
- `fixtures`, `wire`: Stripe's fixtures and wire format.
- `contract_report`: the product's Stripe reads checked against Stripe's fixtures.
"""
